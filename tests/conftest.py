import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    """Compile as the command line does, and share compiled programs across the tests of a run
    (and runs)."""
    from rnncondense.runtime import enable_compilation_cache, lean_compiler

    lean_compiler()
    enable_compilation_cache()


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


TINY_BASE = {
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
    from rnncondense.config import config_from_dict
    from rnncondense.runs.train import train_run

    run = tmp_path_factory.mktemp("tiny") / "base"
    result = train_run(config_from_dict(TINY_BASE), run)
    assert result.metrics.success, result.metrics.summary()
    return run


@pytest.fixture(params=["adam", "hf"])
def tiny_config(request):
    """The tiny configuration, once per trainer."""
    return make_tiny_config(request.param)


@pytest.fixture
def tiny_adam_config():
    return make_tiny_config("adam")
