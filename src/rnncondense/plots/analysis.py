"""Figures of a network's solution: PCA, PC trajectories, unit responses, eigenvalues, scaling.

All functions take the objects of `rnncondense.analysis` (activity Dataset, PCA, Spectrum,
ScalingIndex, Ramps) and return a matplotlib Figure (no pyplot state); save with
`runs.figures.save_figure`. Intervals are coloured short (dark) to long (light).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rnncondense.analysis.pca import PCA, project
from rnncondense.analysis.ramps import Ramps
from rnncondense.analysis.scaling import ScalingIndex
from rnncondense.analysis.spectrum import Spectrum
from rnncondense.plots.common import interval_colors, new_figure, panel_grid, tidy

__all__ = [
    "variance_explained",
    "pc_trajectories_2d",
    "pc_trajectories_3d",
    "unit_responses",
    "eigenvalue_spectrum",
    "scaling_histogram",
    "top_variance_units",
]


def variance_explained(result: PCA, *, n_show: int = 10, threshold: float = 0.9, title: str = "") -> Figure:
    """Variance explained per PC (bars) and cumulative (line), with the 90 % line and pcs_90 marked."""
    ratio = result.explained_variance_ratio[:n_show]
    cumulative = np.cumsum(result.explained_variance_ratio)[:n_show]
    index = np.arange(1, len(ratio) + 1)
    fig = new_figure(4.2, 3.2)
    ax = fig.subplots()
    ax.bar(index, ratio, color="0.65", label="per PC")
    ax.plot(index, cumulative, "o-", color="k", ms=4, lw=1.2, label="cumulative")
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"{threshold:.0%}")
    if result.pcs_90 >= 1:
        ax.axvline(result.pcs_90, color="tab:red", ls=":", lw=1)
    ax.set_xticks(index)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("principal component")
    ax.set_ylabel("fraction of variance")
    ax.legend(loc="center right", fontsize=8, frameon=False)
    ax.set_title(
        title or f"PCs for 90 %: {result.pcs_90}   participation ratio: {result.participation_ratio:.2f}", fontsize=9
    )
    tidy(ax)
    return fig


def _pc_segments(activity: xr.Dataset, result: PCA, k: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per interval: scores before Set and from Set to the produced Go (k PCs), and the Go index."""
    time = np.asarray(activity["time"])
    scores = project(result, np.asarray(activity["rate"], dtype=np.float64), k=k)  # (C, L, k)
    produced = np.asarray(activity["produced_ms"], dtype=np.float64)
    target = np.asarray(activity["interval"], dtype=np.float64)
    segments = []
    for c in range(scores.shape[0]):
        go_ms = produced[c] if np.isfinite(produced[c]) and produced[c] <= time[-1] else target[c]
        go = int(np.searchsorted(time, go_ms))
        go = min(go, len(time) - 1)
        set_index = int(np.searchsorted(time, 0.0))
        segments.append((scores[c, : set_index + 1], scores[c, set_index : go + 1], go))
    return segments


def _trajectory_legend(ax, n_intervals: int, intervals: np.ndarray) -> None:
    colors = interval_colors(n_intervals)
    handles = [
        Line2D([], [], color=colors[0], lw=2, label=f"{intervals[0]:.0f} ms"),
        Line2D([], [], color=colors[-1], lw=2, label=f"{intervals[-1]:.0f} ms"),
        Line2D([], [], color="0.5", lw=0.8, ls=":", label="before Set"),
        Line2D([], [], color="k", marker="o", ls="", ms=5, label="Set"),
        Line2D([], [], color="k", marker="*", ls="", ms=8, label="Go (produced)"),
    ]
    ax.legend(handles=handles, fontsize=7, frameon=False, loc="best")


def draw_pc_plane(ax, activity: xr.Dataset, result: PCA, i: int = 0, j: int = 1) -> None:
    """Trajectories on PC i+1 against PC j+1 into `ax`: dotted before Set, solid to produced Go."""
    k = min(max(i, j) + 1, result.components.shape[0])
    segments = _pc_segments(activity, result, k)
    for color, (before, during, _) in zip(interval_colors(len(segments)), segments):
        ax.plot(before[:, i], before[:, j], color=color, lw=0.8, ls=":", alpha=0.8)
        ax.plot(during[:, i], during[:, j], color=color, lw=1.8)
        ax.plot(during[0, i], during[0, j], "o", color=color, ms=5, mec="k", mew=0.5)
        ax.plot(during[-1, i], during[-1, j], "*", color=color, ms=10, mec="k", mew=0.5)
    ratio = result.explained_variance_ratio
    ax.set_xlabel(f"PC{i + 1} ({ratio[i]:.0%} var)")
    ax.set_ylabel(f"PC{j + 1} ({ratio[j]:.0%} var)")
    tidy(ax)


def pc_trajectories_2d(activity: xr.Dataset, result: PCA, *, title: str = "") -> Figure:
    """Condition-averaged trajectories on PC1-PC2 (and PC1-PC3), Set to produced Go, coloured by interval."""
    k = min(3, result.components.shape[0])
    pairs = [(0, 1), (0, 2)][: max(1, k - 1)] if k >= 2 else [(0, 0)]
    fig = new_figure(4.0 * len(pairs) + 0.4, 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(pairs)))
    for ax, (i, j) in zip(axes, pairs):
        draw_pc_plane(ax, activity, result, i, j)
    _trajectory_legend(axes[0], activity.sizes["interval"], np.asarray(activity["interval"]))
    default = "condition-averaged trajectories, Set to produced Go (PCs of the time-normalised Set-Go activity)"
    fig.suptitle(title or default, fontsize=9)
    return fig


def pc_trajectories_3d(activity: xr.Dataset, result: PCA, *, title: str = "") -> Figure:
    """The trajectories in the space of the first three PCs, coloured by interval."""
    if result.components.shape[0] < 3:
        raise ValueError("a 3D trajectory plot needs at least three principal components")
    segments = _pc_segments(activity, result, 3)
    colors = interval_colors(len(segments))
    fig = new_figure(5.2, 4.6)
    ax = fig.add_subplot(projection="3d")
    for color, (before, during, _) in zip(colors, segments):
        ax.plot(*before.T, color=color, lw=0.8, ls=":", alpha=0.8)
        ax.plot(*during.T, color=color, lw=1.8)
        ax.scatter(*during[0], color=color, s=22, edgecolor="k", linewidth=0.5, depthshade=False)
        ax.scatter(*during[-1], color=color, s=70, marker="*", edgecolor="k", linewidth=0.5, depthshade=False)
    ratio = result.explained_variance_ratio
    for setter, i in zip((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel), range(3)):
        setter(f"PC{i + 1} ({ratio[i]:.0%})", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.view_init(elev=22, azim=-55)
    _trajectory_legend(ax, len(segments), np.asarray(activity["interval"]))
    ax.set_title(title or "trajectories in the top-3 PC space, Set to produced Go", fontsize=9)
    return fig


def top_variance_units(trajectories: xr.DataArray | np.ndarray, count: int) -> list[int]:
    """The `count` units with the largest variance over intervals and phases, largest first."""
    r = np.asarray(trajectories, dtype=np.float64)
    spread = r.reshape(-1, r.shape[-1]).var(axis=0)
    return [int(u) for u in np.argsort(spread)[::-1][:count]]


def unit_responses(
    activity: xr.Dataset,
    units: list[int],
    *,
    trajectories: xr.DataArray | None = None,
    scaling: ScalingIndex | None = None,
    ramps: Ramps | None = None,
    title: str = "",
) -> Figure:
    """A grid of unit responses coloured by interval.

    Without `trajectories`: rate against time from Set (ms), up to each interval's produced Go
    (dotted line). With `trajectories` (the `time_normalized` DataArray): rate against normalised
    time phi = t / P_c, where a perfectly scaling unit shows one curve. Titles carry the unit's
    scaling index and ramp label when `scaling` / `ramps` are given.
    """
    if not units:
        raise ValueError("units must name at least one unit")
    n_intervals = activity.sizes["interval"]
    colors = interval_colors(n_intervals)
    fig, axes = panel_grid(len(units), width=2.3, height=1.75, extra_height=0.7, sharex=True)
    time = np.asarray(activity["time"])
    rate = np.asarray(activity["rate"])
    produced = np.asarray(activity["produced_ms"], dtype=np.float64)
    target = np.asarray(activity["interval"], dtype=np.float64)
    for ax, unit in zip(axes, units):
        for c in range(n_intervals):
            if trajectories is None:
                go = produced[c] if np.isfinite(produced[c]) else target[c]
                keep = time <= go
                ax.plot(time[keep], rate[c, keep, unit], color=colors[c], lw=1.2)
                ax.axvline(go, color=colors[c], lw=0.6, ls=":")
            else:
                phase = np.asarray(trajectories["phase"])
                ax.plot(phase, np.asarray(trajectories)[c, :, unit], color=colors[c], lw=1.2)
        if trajectories is None:
            ax.axvline(0.0, color="0.6", lw=0.8)
        label = f"unit {unit}"
        if scaling is not None and np.isfinite(scaling.per_signal[unit]):
            label += f"  SI {scaling.per_signal[unit]:.2f}"
        if ramps is not None and ramps.is_ramp[unit]:
            label += "  ramp"
        ax.set_title(label, fontsize=8)
        ax.tick_params(labelsize=7)
        tidy(ax)
    if trajectories is None:
        fig.supxlabel("time from Set (ms); dotted: produced Go of each interval", fontsize=9)
    else:
        fig.supxlabel("normalised time from Set to produced Go (t / produced interval)", fontsize=9)
    fig.supylabel("rate tanh(x)", fontsize=9)
    default = "condition-averaged unit responses, coloured by interval (short: dark, long: light)"
    fig.suptitle(title or default, fontsize=9)
    return fig


def draw_spectrum(ax, spectrum: Spectrum, *, legend: bool = True) -> None:
    """Eigenvalues of W_rec into `ax`, with the unit circle and the line Re = 1."""
    eigenvalues = spectrum.eigenvalues
    theta = np.linspace(0.0, 2.0 * np.pi, 400)
    ax.plot(np.cos(theta), np.sin(theta), color="0.55", lw=1, ls="--", label="unit circle")
    ax.axvline(1.0, color="tab:red", lw=1, label="Re λ = 1: stability boundary of x = 0")
    ax.scatter(eigenvalues.real, eigenvalues.imag, s=9, color="k", alpha=0.75, lw=0, label="eigenvalues of W_rec")
    extent = max(1.2, 1.1 * float(np.abs(eigenvalues).max()))
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.axhline(0.0, color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    if legend:
        ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    tidy(ax)


def eigenvalue_spectrum(spectrum: Spectrum, *, title: str = "") -> Figure:
    """Eigenvalues of W_rec in the complex plane, with the unit circle and the line Re = 1.

    Re(lambda) = 1 is the stability boundary of the origin (x = 0 is unstable when an eigenvalue of
    W_rec lies to its right); the unit circle is the edge of the initial random bulk for g = 1.
    """
    fig = new_figure(4.4, 4.9)
    ax = fig.subplots()
    draw_spectrum(ax, spectrum)
    ax.set_title(
        title or f"eigenvalues of W_rec (N = {len(spectrum.eigenvalues)}): radius {spectrum.spectral_radius:.2f}, "
        f"max Re {spectrum.max_real:.2f}",
        fontsize=9,
    )
    return fig


def scaling_histogram(units: ScalingIndex, *, pcs: ScalingIndex | None = None, title: str = "") -> Figure:
    """Histogram of the units' scaling indices, with the population value and the top PCs' values."""
    values = units.per_signal[np.isfinite(units.per_signal)]
    fig = new_figure(4.4, 3.2)
    ax = fig.subplots()
    low = min(0.0, float(values.min())) if values.size else 0.0
    ax.hist(values, bins=np.linspace(low, 1.0, 26), color="0.6", edgecolor="white")
    label = f"population (variance-weighted) {units.population:.2f}"
    ax.axvline(units.population, color="tab:red", lw=1.5, label=label)
    if pcs is not None:
        for i, value in enumerate(pcs.per_signal):
            if np.isfinite(value):
                ax.axvline(value, color="tab:blue", lw=1, ls="--", label="top PCs" if i == 0 else None)
                ax.annotate(f"PC{i + 1}", (value, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                            ha="center", va="bottom", color="tab:blue")
    ax.set_xlabel("scaling index (1: one time-scaled profile)")
    ax.set_ylabel("units")
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_title(title or f"temporal scaling of {values.size} units", fontsize=9, pad=12)
    tidy(ax)
    return fig
