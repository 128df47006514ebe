"""Helpers for the analysis tests: small configs, random networks and synthetic activity."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from rnncondense.analysis.activity import ACTIVITY_FORMAT
from rnncondense.config import config_from_dict
from rnncondense.rnn import init_params

SMALL_TASK = {"intervals_ms": [500.0, 700.0, 900.0], "tail_ms": 100.0, "val_trials_per_interval": 2}


@pytest.fixture(scope="session")
def small_config():
    """Three intervals, dt 10 ms, 24 units."""
    return config_from_dict({"task": SMALL_TASK, "model": {"n_units": 24}})


def random_network(seed: int, n_units: int, *, g: float = 1.0):
    """An initialised network with a random readout (W_out ~ N(0, 1/N)), so it has an output."""
    params = init_params(jax.random.PRNGKey(seed), n_units, g=g)
    readout = jax.random.normal(jax.random.PRNGKey(seed + 1000), (1, n_units)) / np.sqrt(n_units)
    return params._replace(W_out=readout, b_out=jnp.zeros(1))


def synthetic_activity(
    rate: np.ndarray,
    *,
    intervals_ms,
    dt_ms: float = 10.0,
    before_set_ms: float = 0.0,
    produced_ms=None,
    task_name: str = "cue_set_go",
) -> xr.Dataset:
    """An activity Dataset in the layout of `condition_activity` around given rates (C, L, N)."""
    rate = np.asarray(rate, dtype=np.float64)
    n_intervals, n_times, n_units = rate.shape
    intervals = np.asarray(intervals_ms, dtype=np.float64)
    produced = intervals if produced_ms is None else np.asarray(produced_ms, dtype=np.float64)
    time = -before_set_ms + dt_ms * np.arange(n_times)
    return xr.Dataset(
        {
            "rate": (("interval", "time", "unit"), rate),
            "output": (("interval", "time", "readout"), np.zeros((n_intervals, n_times, 1))),
            "produced_ms": ("interval", produced),
            "miss_fraction": ("interval", np.isnan(produced).astype(float)),
        },
        coords={"interval": intervals, "time": time, "unit": np.arange(n_units), "readout": [0]},
        attrs={
            "format": ACTIVITY_FORMAT,
            "task_name": task_name,
            "task_config": json.dumps({"name": task_name}),
            "intervals_ms": intervals,
            "dt_ms": dt_ms,
            "tau_ms": 100.0,
            "n_units": n_units,
            "n_trials": 1,
            "noise": "none",
            "sigma_rec": 0.0,
            "before_set_ms": before_set_ms,
            "after_set_ms": float(time[-1]),
        },
    )
