import pytest

from rnncondense.config import config_from_dict
from rnncondense.train.run import train_run

TINY = {
    "task": {"intervals_ms": [500.0, 700.0, 900.0], "tail_ms": 100.0, "val_trials_per_interval": 4},
    "model": {"n_units": 24},
    "train": {
        "max_iters": 100,
        "stop_rel_error": 0.03,
        "hf": {"gradient_batch_size": 32, "curvature_batch_size": 16, "cg_max_iters": 40},
    },
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A trained 24-unit network on a 3-interval task, timing error within 3 %."""
    run = tmp_path_factory.mktemp("condense") / "base"
    result = train_run(config_from_dict(TINY), run)
    assert result.metrics.success, result.metrics.summary()
    return run
