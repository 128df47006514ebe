import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def tiny_config():
    """A small, fast run configuration."""
    from rnncondense.config import config_from_dict

    return config_from_dict(
        {
            "task": {"intervals_ms": [500.0, 700.0, 900.0], "tail_ms": 100.0, "val_trials_per_interval": 4},
            "model": {"n_units": 16},
            "train": {"max_iters": 20, "batch_size": 8, "eval_every": 5, "checkpoint_every": 5, "stop_on_success": False},
        }
    )
