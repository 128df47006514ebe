"""The dynamics figures draw what the fixed-point results hold: one marker per point, by class."""

import numpy as np
import pytest

from rnncondense.analysis.fixed_points import ContextFixedPoints, FixedPoints
from rnncondense.plots.dynamics import fixed_points_in_pc_plane, time_constant_vs_interval


def _points(locations, classes, tau):
    n = len(locations)
    return FixedPoints(
        points=np.asarray(locations, float), q=np.zeros(n), jacobians=np.zeros((n, 3, 3)),
        eigenvalues=np.zeros((n, 3), complex), n_unstable=np.asarray([c != "stable" for c in classes], int),
        n_marginal=np.zeros(n, int), stability=tuple(classes), slowest_time_constant_ms=np.full(n, tau),
        slow_directions=np.zeros((n, 3, 1), complex), n_starts=8, n_converged=8, n_outliers=0,
    )


def _result():
    per_context = (_points([[0, 0, 0], [1, 1, 0]], ["stable", "saddle"], 500.0), _points([[2, 0, 0]], ["unstable"], 900.0))
    return ContextFixedPoints(
        inputs=np.zeros((2, 2)), per_context=per_context, n_stable=np.array([1, 0]), n_saddle=np.array([1, 0]),
        n_unstable=np.array([0, 1]), slow_manifold_dim=np.array([1, 0]), slowest_time_constant_ms=np.array([500.0, 900.0]),
    )


def test_the_pc_plane_shows_every_trajectory_and_every_fixed_point_by_class():
    states = np.random.default_rng(0).normal(size=(2, 30, 3))
    fig = fixed_points_in_pc_plane(states, _result(), np.array([500.0, 900.0]))
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    drawn = sum(len(c.get_offsets()) for c in ax.collections)
    assert drawn == 3  # 2 + 1 points; the legend's empty entries add none
    assert [t.get_text() for t in ax.get_legend().get_texts()][-3:] == ["stable", "saddle", "unstable"]
    with pytest.raises(ValueError, match="states must be"):
        fixed_points_in_pc_plane(states[:1], _result(), np.array([500.0]))


def test_the_time_constant_figure_plots_one_point_per_context_on_a_log_axis():
    fig = time_constant_vs_interval(np.array([500.0, 900.0]), _result())
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [500.0, 900.0])
