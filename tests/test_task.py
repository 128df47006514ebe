"""Cue-Set-Go trials: shapes, inputs, the ramp target and the validation batch."""

import jax
import numpy as np
import pytest

from rnncondense.analysis.behavior import produced_intervals_ms
from rnncondense.config import config_from_dict
from rnncondense.tasks import CueSetGo, CueSetGoConfig


def test_default_task_shapes_and_metadata():
    task = CueSetGo()
    batch = task.sample(jax.random.PRNGKey(0), 32)
    n_steps = task.n_steps
    assert n_steps == int(np.ceil((100 + 200 + 1700 + 200) / 10)) + 1
    assert batch.inputs.shape == (32, n_steps, 2)
    assert batch.targets.shape == (32, n_steps, 1)
    assert batch.mask.shape == (32, n_steps)
    assert batch.interval_ms.shape == batch.set_time_ms.shape == (32,)
    distance = np.abs(np.asarray(batch.interval_ms)[:, None] - task.intervals_ms[None, :]).min(axis=1)
    assert distance.max() < 1e-3
    set_after_cue = np.asarray(batch.set_time_ms) - 100.0
    assert np.all((set_after_cue >= 100.0) & (set_after_cue <= 200.0))
    np.testing.assert_allclose(set_after_cue % 10.0, 0.0, atol=1e-4)


def test_inputs_cue_and_set_pulse():
    task = CueSetGo(CueSetGoConfig(cue_noise_std=0.0))
    batch = task.condition_batch()
    inputs = np.asarray(batch.inputs)
    t = task.times_ms
    for i, interval in enumerate(task.intervals_ms):
        expected_level = 0.1 + 0.5 * (interval - 500.0) / 1200.0
        np.testing.assert_allclose(inputs[i, t < 100, 0], 0.0)
        np.testing.assert_allclose(inputs[i, t >= 100, 0], expected_level, rtol=1e-6)
        on = inputs[i, :, 1] > 0
        assert on.sum() == 2  # 20 ms at dt = 10 ms
        assert t[on][0] == pytest.approx(float(batch.set_time_ms[i]))
        np.testing.assert_allclose(inputs[i, on, 1], 1.0)


@pytest.mark.parametrize("dt_ms, intervals", [(10.0, None), (1.0, [500.0, 620.0, 1700.0]), (10.0, [503.7, 1111.1])])
def test_ramp_reaches_one_exactly_one_interval_after_set(dt_ms, intervals):
    fields = {"dt_ms": dt_ms} if intervals is None else {"dt_ms": dt_ms, "intervals_ms": intervals}
    task = CueSetGo(CueSetGoConfig(**fields))
    batch = task.sample(jax.random.PRNGKey(1), 16)
    targets = np.asarray(batch.targets[..., 0], dtype=np.float64)
    set_time = np.asarray(batch.set_time_ms)
    interval = np.asarray(batch.interval_ms, dtype=np.float64)
    t = task.times_ms
    # zero up to Set, linear after it
    assert np.all(targets[t[None, :] <= set_time[:, None]] == 0.0)
    # where Set + interval is on the grid the target is exactly 1 there
    for b in range(16):
        go = set_time[b] + interval[b]
        k = np.flatnonzero(np.isclose(t, go))
        if k.size:
            assert targets[b, k[0]] == pytest.approx(1.0, abs=1e-6)
    # and in general the interpolated crossing of 1 lies exactly one interval after Set
    produced = produced_intervals_ms(targets, set_time, dt_ms)
    np.testing.assert_allclose(produced, interval, rtol=1e-6)


def test_mask_covers_each_trial_until_its_tail():
    task = CueSetGo()
    batch = task.sample(jax.random.PRNGKey(2), 8)
    mask = np.asarray(batch.mask)
    end = np.asarray(batch.set_time_ms + batch.interval_ms) + 200.0
    for b in range(8):
        np.testing.assert_array_equal(mask[b], (task.times_ms <= end[b] + 1e-3).astype(float))


def test_validation_batch_is_fixed_and_covers_every_interval():
    task = CueSetGo()
    a, b = task.validation_batch(), CueSetGo().validation_batch()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    counts = np.bincount(np.asarray(a.interval_index), minlength=8)
    assert np.all(counts == 16)


def test_wang2018_preset():
    config = config_from_dict({"preset": "wang2018"})
    assert config.model.tau_ms == 10.0 and config.task.dt_ms == 1.0 and config.model.n_units == 200
    assert len(config.task.intervals_ms) == 16
    assert config.task.intervals_ms[0] == 500.0 and config.task.intervals_ms[-1] == 1700.0
    assert config.task.set_duration_ms == 10.0 and config.task.set_amplitude == 0.1
    task = CueSetGo(config.task)
    batch = task.sample(jax.random.PRNGKey(0), 4)
    assert batch.inputs.shape[1] == task.n_steps > 2000
