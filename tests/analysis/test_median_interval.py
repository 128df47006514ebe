"""The size-sweep figures' error bars: a bootstrap interval of the median, checked against the
asymptotic interval of a sample median, median +- 1.96 * sqrt(pi / 2) * sigma / sqrt(n), for
normal data."""

import math

import numpy as np
import pytest

from rnncondense.plots.sweep import CI_MIN_NETWORKS, median_interval


def test_the_interval_of_normal_samples_matches_the_asymptotic_width():
    rng = np.random.default_rng(1)
    values = rng.normal(3.0, 2.0, size=(20, 400))
    low, high = median_interval(values)
    expected = 1.96 * math.sqrt(math.pi / 2) * 2.0 / math.sqrt(400)
    assert np.all((low < np.median(values, axis=1)) & (np.median(values, axis=1) < high))
    # one bootstrap width of a median is noisy (relative error ~ n^-1/4); their mean over 20 rows is not
    assert np.mean((high - low) / 2) == pytest.approx(expected, rel=0.1)
    # and about 95 % of the rows' intervals hold the true median, 3.0
    assert np.mean((low <= 3.0) & (3.0 <= high)) >= 0.8


def test_missing_values_are_left_out_and_too_few_give_no_interval():
    values = np.array([[1.0, 1.0, 1.0, np.nan], [1.0, 2.0, np.nan, np.nan]])
    low, high = median_interval(values)
    assert (low[0], high[0]) == (1.0, 1.0)
    assert CI_MIN_NETWORKS == 3 and np.isnan(low[1]) and np.isnan(high[1])


def test_the_same_seed_gives_the_same_interval():
    values = np.random.default_rng(2).normal(size=(1, 7))
    assert median_interval(values) == median_interval(values)
