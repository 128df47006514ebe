"""Ramp test: linear ramps count, bumps and non-monotonic or direction-flipping units do not."""

import numpy as np
import pytest
from conftest import synthetic_activity

from rnncondense.analysis.activity import time_normalized
from rnncondense.analysis.ramps import classify_ramps, ramp_fraction
from rnncondense.errors import ConfigError

INTERVALS = [500.0, 700.0, 900.0, 1100.0]
TIME = 10.0 * np.arange(0, 121)  # 0 .. 1200 ms after Set


def _activity(columns):
    """Units given as functions f(t_ms, interval_ms) on the 10 ms grid."""
    rate = np.stack([np.stack([f(TIME, i) for f in columns], axis=-1) for i in INTERVALS])
    return time_normalized(synthetic_activity(rate, intervals_ms=INTERVALS), n_phase=40)


def test_linear_ramps_are_all_ramps():
    ramps = [
        lambda t, i: 0.8 * t / i - 0.4,  # up, reaching the same level at Go (scaling)
        lambda t, i: -0.5 * t / i + 0.2,  # down
        lambda t, i: 0.3 + 0.0004 * t,  # up with a fixed slope in ms (does not scale)
        lambda t, i: -0.0003 * t + 0.1 * i / 1000,  # down with an interval-dependent offset
        lambda t, i: np.tanh(2 * t / i),  # saturating but monotonic
    ]
    result = classify_ramps(_activity(ramps))
    assert result.fraction == 1.0
    np.testing.assert_array_equal(result.direction, [1, -1, 1, -1, 1])
    assert ramp_fraction(_activity(ramps)) == 1.0


def test_bumps_and_non_monotonic_units_are_not_ramps():
    others = [
        lambda t, i: np.exp(-((t / i - 0.5) ** 2) / 0.02),  # transient bump, back to baseline
        lambda t, i: 0.2 * np.sin(np.pi * t / i),  # slow hump
        lambda t, i: t / i - 0.8 * np.exp(-((t / i - 0.6) ** 2) / 0.005),  # ramp with a deep dip
        lambda t, i: (i - 800.0) / 300.0 * t / i,  # up for long, down for short intervals
        lambda t, i: 0.01 * t / i,  # monotonic but changes by only 0.01
        lambda t, i: 0.0 * t,  # silent
    ]
    result = classify_ramps(_activity(others))
    assert result.fraction == 0.0
    assert result.direction[3] == 0  # the direction flips with the interval
    assert result.min_change[4] == pytest.approx(0.01, abs=1e-9)


def test_fraction_counts_units_and_tolerance_is_relative_to_the_change():
    wiggle = lambda t, i: t / i + 0.08 * np.sin(8 * np.pi * t / i)  # noqa: E731  reversal ~5 % of the change
    units = [lambda t, i: t / i, wiggle, lambda t, i: np.exp(-((t / i - 0.5) ** 2) / 0.02)]
    trajectories = _activity(units)
    result = classify_ramps(trajectories)
    np.testing.assert_array_equal(result.is_ramp, [True, True, False])
    assert result.fraction == pytest.approx(2 / 3)
    assert 0 < result.max_reversal[1] < 0.1
    strict = classify_ramps(trajectories, tolerance=0.0)
    np.testing.assert_array_equal(strict.is_ramp, [True, False, False])
    assert classify_ramps(trajectories, min_change=2.0).fraction == 0.0


def test_bad_options_are_refused():
    trajectories = np.zeros((2, 5, 3))
    with pytest.raises(ConfigError, match=r"tolerance = 1.0 is not allowed: it must be in \[0, 1\)"):
        classify_ramps(trajectories, tolerance=1.0)
    with pytest.raises(ConfigError, match="min_change = 0 is not allowed"):
        classify_ramps(trajectories, min_change=0)
