"""Condition-averaged activity: alignment to Set, trial averaging, noise keys, time
normalisation against closed forms, and the NetCDF round trip."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from conftest import random_network, synthetic_activity

from rnncondense.analysis.activity import condition_activity, task_signature, time_normalized
from rnncondense.analysis.behavior import produced_intervals_ms
from rnncondense.errors import ConfigError, FileFormatError
from rnncondense.rnn import simulate
from rnncondense.runs.analyze import read_activity, write_activity
from rnncondense.tasks import make_task


def _direct_trials(params, config, delays_ms):
    """Trials of every interval at the given delays, simulated noise-free: rates, outputs, Set steps."""
    task = make_task(config.task)
    dt = config.task.dt_ms
    n_intervals = len(task.intervals_ms)
    index = np.repeat(np.arange(n_intervals), len(delays_ms))
    delays = np.tile([int(round(d / dt)) for d in delays_ms], n_intervals)
    batch = task.trials(jnp.asarray(index), jnp.asarray(delays))
    traj = simulate(params, batch.inputs, alpha=config.alpha)
    set_step = np.rint(np.asarray(batch.set_time_ms) / dt).astype(int)
    return np.asarray(traj.rates), np.asarray(traj.outputs), set_step, np.asarray(batch.set_time_ms)


def test_activity_is_aligned_to_set_and_averaged_over_delays(small_config):
    params = random_network(0, 24)
    activity = condition_activity(params, small_config, n_trials=3)
    # the three delays spread evenly over the task's [100, 200] ms delay range
    rates, outputs, set_step, set_ms = _direct_trials(params, small_config, [100.0, 150.0, 200.0])
    dt = small_config.task.dt_ms
    time = activity["time"].values
    assert time[0] == -200.0 and time[-1] == 900.0 + 100.0 and np.allclose(np.diff(time), dt)
    assert activity["rate"].dims == ("interval", "time", "unit")
    offsets = np.rint(time / dt).astype(int)
    for c in range(3):
        trials = range(3 * c, 3 * c + 3)
        expected = np.mean([rates[b, set_step[b] + offsets] for b in trials], axis=0)
        np.testing.assert_allclose(activity["rate"].values[c], expected, atol=1e-6)
        expected_out = np.mean([outputs[b, set_step[b] + offsets] for b in trials], axis=0)
        np.testing.assert_allclose(activity["output"].values[c], expected_out, atol=1e-6)
    produced = produced_intervals_ms(outputs[..., 0], set_ms, dt).reshape(3, 3)
    hit = np.isfinite(produced)
    np.testing.assert_allclose(activity["miss_fraction"].values, 1 - hit.mean(axis=1))
    for c in range(3):
        if hit[c].any():
            assert activity["produced_ms"].values[c] == pytest.approx(produced[c][hit[c]].mean())
        else:
            assert np.isnan(activity["produced_ms"].values[c])
    assert activity.attrs["noise"] == "none" and activity.attrs["n_units"] == 24
    assert task_signature(activity).intervals_ms == (500.0, 700.0, 900.0)


def test_noisy_activity_follows_the_key(small_config):
    params = random_network(1, 24)
    first = condition_activity(params, small_config, key=jax.random.PRNGKey(3), n_trials=2)
    again = condition_activity(params, small_config, key=jax.random.PRNGKey(3), n_trials=2)
    other = condition_activity(params, small_config, key=jax.random.PRNGKey(4), n_trials=2)
    clean = condition_activity(params, small_config, n_trials=2)
    np.testing.assert_array_equal(first["rate"].values, again["rate"].values)
    assert not np.array_equal(first["rate"].values, other["rate"].values)
    assert not np.array_equal(first["rate"].values, clean["rate"].values)
    assert first.attrs["noise"] == "recurrent+cue" and first.attrs["sigma_rec"] == small_config.model.sigma_rec


def test_bad_windows_and_trial_counts_are_refused(small_config):
    params = random_network(0, 24)
    with pytest.raises(ConfigError, match=r"before_set_ms = 250.0 is not allowed: it must be in \[0, 200\]"):
        condition_activity(params, small_config, before_set_ms=250.0)
    with pytest.raises(ConfigError, match=r"after_set_ms = 5000.0 is not allowed"):
        condition_activity(params, small_config, after_set_ms=5000.0)
    with pytest.raises(ConfigError, match=r"n_trials = 0 is not allowed: it must be an integer in \[1, 1000\]"):
        condition_activity(params, small_config, n_trials=0)


def test_time_normalisation_of_a_linear_unit_is_exact():
    """A unit with r(t) = t (ms) gives r_c(phi) = phi * P_c; linear interpolation is exact for it."""
    intervals = [500.0, 700.0, 900.0]
    produced = [480.0, 733.0, np.nan]  # the last interval missed: normalised by its target
    time = -50.0 + 10.0 * np.arange(106)
    rate = np.broadcast_to(time[None, :, None], (3, len(time), 2)).copy()
    rate[:, :, 1] *= -2.0
    activity = synthetic_activity(rate, intervals_ms=intervals, before_set_ms=50.0, produced_ms=produced)
    trajectories = time_normalized(activity, n_phase=11)
    assert trajectories.dims == ("interval", "phase", "unit")
    window = np.array([480.0, 733.0, 900.0])
    np.testing.assert_allclose(trajectories["window_ms"].values, window)
    np.testing.assert_array_equal(trajectories["normalized_by_target"].values, [False, False, True])
    phase = np.linspace(0, 1, 11)
    np.testing.assert_allclose(trajectories.values[:, :, 0], phase[None] * window[:, None], atol=1e-9)
    np.testing.assert_allclose(trajectories.values[:, :, 1], -2 * phase[None] * window[:, None], atol=1e-9)
    by_target = time_normalized(activity, n_phase=11, normalize_by="target")
    np.testing.assert_allclose(by_target.values[:, :, 0], phase[None] * np.array(intervals)[:, None], atol=1e-9)
    with pytest.raises(ConfigError, match="n_phase = 1 is not allowed"):
        time_normalized(activity, n_phase=1)


def test_netcdf_round_trip(tmp_path, small_config):
    activity = condition_activity(random_network(2, 24), small_config, n_trials=2)
    path = write_activity(activity, tmp_path / "analysis" / "activity.nc")
    assert sorted(p.name for p in path.parent.iterdir()) == ["activity.nc"]  # no temporary file left
    with xr.open_dataset(path, engine="h5netcdf") as opened:
        assert dict(opened.sizes) == dict(activity.sizes)
        assert opened["rate"].dims == ("interval", "time", "unit")
        np.testing.assert_array_equal(opened["rate"].values, activity["rate"].values)
        np.testing.assert_array_equal(opened["time"].values, activity["time"].values)
        np.testing.assert_array_equal(opened["produced_ms"].values, activity["produced_ms"].values)
        assert opened.attrs["task_name"] == "cue_set_go" and opened.attrs["dt_ms"] == 10.0
        np.testing.assert_array_equal(opened.attrs["intervals_ms"], [500.0, 700.0, 900.0])
    back = read_activity(path)
    xr.testing.assert_identical(back, activity)


def test_read_activity_refuses_other_files(tmp_path):
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(FileFormatError, match="not an rnncondense activity file"):
        read_activity(foreign)
    (tmp_path / "junk.nc").write_bytes(b"not netcdf")
    with pytest.raises(FileFormatError, match="not a readable NetCDF file"):
        read_activity(tmp_path / "junk.nc")
