import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def make_tiny_config(trainer: str = "adam", **train):
    """A small, fast run configuration."""
    from rnncondense.config import config_from_dict

    return config_from_dict(
        {
            "task": {"intervals_ms": [500.0, 700.0, 900.0], "tail_ms": 100.0, "val_trials_per_interval": 4},
            "model": {"n_units": 16},
            "train": {
                "trainer": trainer,
                "max_iters": 20,
                "eval_every": 5,
                "checkpoint_every": 5,
                "stop_on_success": False,
                "adam": {"batch_size": 8},
                "hf": {"gradient_batch_size": 16, "curvature_batch_size": 8, "cg_max_iters": 20},
                **train,
            },
        }
    )


@pytest.fixture(params=["adam", "hf"])
def tiny_config(request):
    """The tiny configuration, once per trainer."""
    return make_tiny_config(request.param)


@pytest.fixture
def tiny_adam_config():
    return make_tiny_config("adam")
