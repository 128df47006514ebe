"""Figures of a network on a task of trials from a file (tasks/arrays.py): condition means from
trial start, since such a task has no Set, Go or interval to align or normalise by.

Every function takes an activity Dataset of `analysis.array_activity.array_activity`
(condition, time, unit / readout) and returns a Figure; colours are conditions.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnncondense.analysis.pca import PCA, project
from rnncondense.analysis.summary import SolutionMetrics
from rnncondense.plots.analysis import draw_spectrum
from rnncondense.plots.common import interval_colors, new_figure, panel_grid, tidy


def _condition_legend(ax, conditions: np.ndarray) -> None:
    colors = interval_colors(len(conditions))
    handles = [Line2D([], [], color=color, lw=2, label=f"condition {int(c)}") for color, c in zip(colors, conditions)][:8]
    handles.append(Line2D([], [], color="k", marker="o", ls="", ms=5, label="trial start"))
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="best")


def draw_condition_pc_plane(ax, activity: xr.Dataset, result: PCA, i: int = 0, j: int = 1) -> None:
    """Condition-averaged trajectories on PC i+1 against PC j+1, from trial start (dot)."""
    k = min(max(i, j) + 1, result.components.shape[0])
    scores = project(result, np.asarray(activity["rate"], np.float64), k=k)  # (C, T, k)
    for color, trajectory in zip(interval_colors(scores.shape[0]), scores):
        ax.plot(trajectory[:, i], trajectory[:, j], color=color, lw=1.6)
        ax.plot(trajectory[0, i], trajectory[0, j], "o", color=color, ms=5, mec="k", mew=0.5)
    ratio = result.explained_variance_ratio
    ax.set_xlabel(f"PC{i + 1} ({ratio[i]:.0%} var)")
    ax.set_ylabel(f"PC{j + 1} ({ratio[j]:.0%} var)" if j < len(ratio) else "")
    tidy(ax)


def condition_pc_trajectories(activity: xr.Dataset, result: PCA, *, title: str = "") -> Figure:
    """PC1-PC2 (and PC1-PC3) of the condition-averaged rates, coloured by condition."""
    k = min(3, result.components.shape[0])
    pairs = [(0, 1), (0, 2)][: max(1, k - 1)] if k >= 2 else [(0, 0)]
    fig = new_figure(4.0 * len(pairs) + 0.4, 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(pairs)))
    for ax, (i, j) in zip(axes, pairs):
        draw_condition_pc_plane(ax, activity, result, i, j)
    _condition_legend(axes[0], np.asarray(activity["condition"]))
    fig.suptitle(title or "condition-averaged trajectories from trial start", fontsize=9)
    return fig


def condition_outputs(activity: xr.Dataset, *, title: str = "") -> Figure:
    """Mean output (solid) and mean target (dashed) of every condition, one panel per readout."""
    n_out = activity.sizes["readout"]
    fig, axes = panel_grid(n_out, width=3.4, height=2.6, sharex=True)
    time = np.asarray(activity["time"])
    colors = interval_colors(activity.sizes["condition"])
    for o, ax in enumerate(axes):
        for c, color in enumerate(colors):
            ax.plot(time, activity["target"].values[c, :, o], color=color, lw=0.8, ls="--")
            ax.plot(time, activity["output"].values[c, :, o], color=color, lw=1.4)
        ax.set_title(f"output {o}", fontsize=9)
        tidy(ax)
    fig.supxlabel("time from trial start (ms); dashed: target", fontsize=9)
    fig.suptitle(title or "condition means of output and target, noise-free", fontsize=10)
    return fig


def condition_unit_responses(activity: xr.Dataset, units: list[int], *, title: str = "") -> Figure:
    """Condition-averaged rate of each of `units`, coloured by condition."""
    fig, axes = panel_grid(len(units), width=2.6, height=2.0, sharex=True)
    time = np.asarray(activity["time"])
    colors = interval_colors(activity.sizes["condition"])
    for ax, unit in zip(axes, units):
        for c, color in enumerate(colors):
            ax.plot(time, activity["rate"].values[c, :, unit], color=color, lw=1.2)
        ax.set_title(f"unit {unit}", fontsize=8)
        tidy(ax)
    fig.supxlabel("time from trial start (ms)", fontsize=9)
    fig.suptitle(title or "condition-averaged responses, coloured by condition", fontsize=10)
    return fig


def original_and_final_arrays(first: SolutionMetrics, last: SolutionMetrics, labels: tuple[str, str]) -> Figure:
    """Eigenvalue spectra and PC1-PC2 trajectories of two networks on a file of trials."""
    fig = new_figure(9.0, 8.4)
    axes = fig.subplots(2, 2)
    for column, (metrics, label) in enumerate(zip((first, last), labels)):
        draw_spectrum(axes[0, column], metrics.spectrum, legend=False)
        axes[0, column].set_title(f"{label}: eigenvalues of W_rec", fontsize=9)
        draw_condition_pc_plane(axes[1, column], metrics.activity, metrics.pca, 0, min(1, metrics.pca.components.shape[0] - 1))
        axes[1, column].set_title(f"{label}: trajectories from trial start", fontsize=9)
    return fig
