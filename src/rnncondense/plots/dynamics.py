"""Figures of how the network computes: fixed points in the plane of the trajectories' top PCs with
their slow directions, and the slowest time constant per context against the interval (Wang et al. 2018: the cue sets the
speed). Pure: results in, matplotlib Figures out; nothing is simulated or written here.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnncondense.analysis.fixed_points import ContextFixedPoints
from rnncondense.plots.common import interval_colors, new_figure, tidy

__all__ = ["fixed_points_in_pc_plane", "time_constant_vs_interval"]

# one marker per stability class: filled for stable, open for saddles, a cross for unstable points
_STYLE = {
    "stable": {"marker": "o", "facecolors": "black", "edgecolors": "black"},
    "saddle": {"marker": "o", "facecolors": "white", "edgecolors": "crimson"},
    "unstable": {"marker": "x", "c": "crimson"},
}


def fixed_points_in_pc_plane(
    states: np.ndarray, result: ContextFixedPoints, intervals_ms: np.ndarray, *, title: str = "",
    slow_length: float = 0.15,
) -> Figure:
    """Trajectories (C, T, N) of the contexts in the plane of their top 2 PCs (states x, centred),
    coloured by interval, and every context's fixed points marked by stability (filled black:
    stable, open red: saddle, red cross: unstable), with the slow manifold: through each point a
    segment along its slowest mode's direction (real part, unit length in state space, drawn
    `slow_length` of the plot's extent long before projection, so a direction that leaves the
    plane looks short), and a dashed line joining the contexts' points in the order of the
    intervals where every context has one (the cue moves the fixed point along it).

    The PCs are those of all trajectories' states together; the fixed points are projected on them.
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 3 or states.shape[0] != len(result.per_context):
        raise ValueError(f"states must be (contexts={len(result.per_context)}, T, N), got shape {states.shape}")
    flat = states.reshape(-1, states.shape[-1])
    mean = flat.mean(axis=0)
    _, _, components = np.linalg.svd(flat - mean, full_matrices=False)
    basis = components[:2].T
    colors = interval_colors(states.shape[0])
    fig = new_figure(5.5, 4.5)
    ax = fig.add_subplot()
    extent = float(np.ptp((flat - mean) @ basis, axis=0).max()) or 1.0
    for c, (trajectory, fp) in enumerate(zip(states, result.per_context)):
        xy = (trajectory - mean) @ basis
        ax.plot(xy[:, 0], xy[:, 1], color=colors[c], lw=1.2, label=f"{intervals_ms[c]:.0f} ms")
        if fp.q.size:
            points = (fp.points - mean) @ basis
            for point, directions in zip(points, fp.slow_directions):
                direction = np.real(directions[:, 0]) if directions.shape[-1] else np.zeros(states.shape[-1])
                norm = np.linalg.norm(direction)
                if norm > 0:
                    half = 0.5 * slow_length * extent * (direction / norm) @ basis
                    ax.plot([point[0] - half[0], point[0] + half[0]], [point[1] - half[1], point[1] + half[1]],
                            color="0.25", lw=2.2, solid_capstyle="round", zorder=2)
            for label, style in _STYLE.items():
                chosen = np.asarray(fp.stability) == label
                if chosen.any():
                    ax.scatter(points[chosen, 0], points[chosen, 1], s=40, zorder=3, **style)
    if all(fp.q.size == 1 for fp in result.per_context) and len(result.per_context) > 1:
        chain = (np.concatenate([fp.points for fp in result.per_context]) - mean) @ basis
        ax.plot(chain[:, 0], chain[:, 1], ls="--", color="0.5", lw=1, zorder=1, label="fixed points across contexts")
    for label, style in _STYLE.items():  # legend entries for the classes
        ax.scatter([], [], s=40, label=label, **style)
    handles, labels = ax.get_legend_handles_labels()
    handles.insert(-3, Line2D([], [], color="0.25", lw=2.2))
    labels.insert(-3, "slowest direction")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(handles, labels, fontsize=7, frameon=False, ncol=2)
    ax.set_title(title or "trajectories and fixed points (cue held, no Set)")
    tidy(ax)
    return fig


def time_constant_vs_interval(intervals_ms: np.ndarray, result: ContextFixedPoints, *, title: str = "") -> Figure:
    """The slowest time constant of each context's fixed points (ms, log scale) against its interval."""
    intervals_ms = np.asarray(intervals_ms, dtype=np.float64)
    taus = np.asarray(result.slowest_time_constant_ms, dtype=np.float64)
    if intervals_ms.shape != taus.shape:
        raise ValueError(f"{intervals_ms.size} intervals for {taus.size} contexts")
    fig = new_figure(4.5, 3.5)
    ax = fig.add_subplot()
    ax.plot(intervals_ms, taus, color="0.6", lw=1)
    saddle = result.n_saddle > 0
    ax.scatter(intervals_ms[~saddle], taus[~saddle], color="black", zorder=3, label="stable point")
    ax.scatter(intervals_ms[saddle], taus[saddle], facecolors="white", edgecolors="crimson", zorder=3,
               label="saddle (growth time)")
    ax.set_yscale("log")
    ax.set_xlabel("interval (ms)")
    ax.set_ylabel("slowest time constant (ms)")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title or "slowest mode per context")
    tidy(ax)
    return fig
