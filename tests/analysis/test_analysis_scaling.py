"""Scaling index: exact time-scaled copies give 1, shape changes give clearly less, hand values."""

import numpy as np
import pytest
from conftest import synthetic_activity

from rnncondense.analysis.activity import time_normalized
from rnncondense.analysis.pca import pca, project
from rnncondense.analysis.scaling import scaling_index

INTERVALS = [500.0, 600.0, 700.0, 800.0, 900.0]


def _profiles(phase):
    """Five different nonlinear profiles of normalised time, one per unit."""
    return np.stack(
        [
            np.sin(np.pi * phase),
            phase**2,
            np.tanh(4 * (phase - 0.4)),
            np.exp(-((phase - 0.3) ** 2) / 0.02),
            np.cos(3 * phase) - 0.5 * phase,
        ],
        axis=-1,
    )


def test_exact_time_scaled_copies_give_one_through_the_pipeline():
    """r_c(t) = f(t / I_c) on the 10 ms grid; with 11 phases every phi * I_c lies on a step."""
    time = 10.0 * np.arange(0, 101)  # 0 .. 1000 ms after Set
    rate = np.stack([_profiles(np.clip(time / interval, 0, 1.5)) for interval in INTERVALS])
    activity = synthetic_activity(rate, intervals_ms=INTERVALS)
    trajectories = time_normalized(activity, n_phase=11)
    result = scaling_index(trajectories)
    np.testing.assert_allclose(result.per_signal, 1.0, atol=1e-6)
    assert result.population == pytest.approx(1.0, abs=1e-6)
    # per PC as well: the PC scores of a scaling population are scaling signals
    scores = project(pca(trajectories.values), trajectories.values, k=3)
    np.testing.assert_allclose(scaling_index(scores).per_signal, 1.0, atol=1e-6)


def test_exact_copies_on_a_fine_grid_give_one():
    """At dt = 1 ms the interpolation off the grid stays well inside 1e-6 of perfect scaling."""
    time = np.arange(0, 1001.0)
    rate = np.stack([_profiles(np.clip(time / interval, 0, 1.5)) for interval in [512.0, 633.0, 777.0]])
    activity = synthetic_activity(rate, intervals_ms=[512.0, 633.0, 777.0], dt_ms=1.0)
    result = scaling_index(time_normalized(activity, n_phase=37))
    np.testing.assert_allclose(result.per_signal, 1.0, atol=1e-6)


def _brute_force_si(r):
    """The definition written out with loops: 1 - sum (r_c - mean_c r)^2 / sum (r_c - grand mean)^2."""
    n_c, n_p = len(r), len(r[0])
    grand = sum(sum(row) for row in r) / (n_c * n_p)
    profile = [sum(r[c][p] for c in range(n_c)) / n_c for p in range(n_p)]
    residual = sum((r[c][p] - profile[p]) ** 2 for c in range(n_c) for p in range(n_p))
    total = sum((r[c][p] - grand) ** 2 for c in range(n_c) for p in range(n_p))
    return 1.0 - residual / total


def test_shape_changes_across_intervals_give_a_clearly_lower_index():
    """A bump whose peak moves from phi = 0.3 (shortest) to 0.7 (longest interval): SI = 0.32."""
    phase = np.linspace(0, 1, 50)
    centres = np.linspace(0.3, 0.7, len(INTERVALS))
    moving = np.exp(-((phase[None, :] - centres[:, None]) ** 2) / (2 * 0.1**2))
    result = scaling_index(moving[..., None])
    assert result.population == pytest.approx(_brute_force_si(moving.tolist()), rel=1e-10)
    assert result.population == pytest.approx(0.3197, abs=1e-4)
    assert result.population < 0.4

    # a bump fixed in absolute time (peak 250 ms after Set) moves in normalised time: not scaling
    time = 10.0 * np.arange(0, 101)
    fixed = np.stack([np.exp(-((time - 250.0) ** 2) / (2 * 60.0**2))[:, None] for _ in INTERVALS])
    trajectories = time_normalized(synthetic_activity(fixed, intervals_ms=INTERVALS), n_phase=11)
    fixed_si = scaling_index(trajectories).population
    assert fixed_si == pytest.approx(_brute_force_si(trajectories.values[..., 0].tolist()), rel=1e-10)
    assert fixed_si == pytest.approx(0.6254, abs=1e-4)  # clearly below 1
    # while the same bump scaled with the interval (peak at phi = 0.4) scales perfectly
    scaled = np.stack([np.exp(-((time / i - 0.4) ** 2) / (2 * 0.1**2))[:, None] for i in INTERVALS])
    scaled_si = scaling_index(time_normalized(synthetic_activity(scaled, intervals_ms=INTERVALS), n_phase=11))
    assert scaled_si.population == pytest.approx(1.0, abs=1e-6)


def test_hand_computed_value_and_variance_weighting():
    # r_1 = [0, 1], r_2 = [0, 3]: mean profile [0, 2], residual 2, grand mean 1, total 6 -> 2/3
    two = np.array([[[0.0], [1.0]], [[0.0], [3.0]]])
    assert scaling_index(two).population == pytest.approx(2.0 / 3.0, rel=1e-12)
    rng = np.random.default_rng(0)
    r = rng.normal(size=(4, 9, 6)) * rng.uniform(0.1, 3.0, size=6)
    r[:, :, 5] = 0.7  # a flat unit: NaN, left out of the population
    result = scaling_index(r)
    assert np.isnan(result.per_signal[5]) and np.isfinite(result.per_signal[:5]).all()
    weights = r[..., :5].reshape(-1, 5).var(axis=0)
    expected = np.sum(weights * result.per_signal[:5]) / weights.sum()
    assert result.population == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="at least two intervals"):
        scaling_index(r[:1])
