"""Produced intervals and metrics on synthetic outputs with known crossings."""

import numpy as np
import pytest

from rnncondense.analysis.behavior import behavior_metrics, produced_intervals_ms
from rnncondense.tasks import CueSetGo, CueSetGoConfig


def test_linear_outputs_cross_where_designed():
    dt = 10.0
    t = np.arange(300) * dt
    set_time = np.array([200.0, 300.0, 250.0, 1000.0])
    produced_true = np.array([512.3, 777.7, 1234.5, 640.0])
    outputs = np.clip((t[None, :] - set_time[:, None]) / produced_true[:, None], 0, None)
    np.testing.assert_allclose(produced_intervals_ms(outputs, set_time, dt), produced_true, rtol=1e-12)


def test_nonlinear_crossing_is_interpolated_between_steps():
    dt = 10.0
    t = np.arange(200) * dt
    outputs = ((t - 100.0).clip(0) / 800.0) ** 2  # reaches 1 at t = 900, i.e. 800 ms after Set
    produced = produced_intervals_ms(outputs[None], np.array([100.0]), dt)
    assert produced[0] == pytest.approx(800.0, abs=1e-9)
    # a crossing between grid points: linear interpolation of the two neighbouring samples
    outputs = np.where(t < 100, 0.0, 0.5 + 0.0 * t)
    outputs[60] = 1.5  # crosses between steps 59 (0.5) and 60 (1.5): halfway, t = 595
    assert produced_intervals_ms(outputs[None], np.array([100.0]), dt)[0] == pytest.approx(495.0)


def test_misses_and_crossings_before_set():
    dt = 10.0
    t = np.arange(100) * dt
    early = np.where(t < 200, 2.0, 0.0)  # above 1 only before Set: a miss
    never = 0.9 * np.ones_like(t)
    produced = produced_intervals_ms(np.stack([early, never]), np.array([300.0, 300.0]), dt)
    assert np.isnan(produced).all()
    held = np.where(t >= 300, 1.2, 0.0)  # already at threshold on the Set step
    assert produced_intervals_ms(held[None], np.array([300.0]), dt)[0] == 0.0


def test_metrics_of_perfect_and_biased_outputs():
    task = CueSetGo(CueSetGoConfig(cue_noise_std=0.0))
    batch = task.validation_batch()
    targets = np.asarray(batch.targets)
    perfect = behavior_metrics(targets, batch, task.intervals_ms, task.dt_ms)
    assert perfect.mse == 0.0 and perfect.miss_rate == 0.0 and perfect.success
    assert perfect.timing_mae_ms == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(perfect.produced_ms, task.intervals_ms, rtol=1e-5)
    # outputs 10 % too fast: produced = interval / 1.1, relative error 1 - 1/1.1 = 9.1 % -> no success
    fast = behavior_metrics(1.1 * targets, batch, task.intervals_ms, task.dt_ms)
    assert fast.timing_rel_error == pytest.approx(1 - 1 / 1.1, rel=1e-4)
    assert not fast.success
    # a missed trial breaks success even with perfect timing elsewhere
    missing = targets.copy()
    missing[0] = 0.0
    metrics = behavior_metrics(missing, batch, task.intervals_ms, task.dt_ms)
    assert metrics.miss_rate == pytest.approx(1 / len(missing)) and not metrics.success
