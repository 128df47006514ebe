"""Figures of a condensation: behaviour after each step, metrics against size, original vs final,
and the canonical responses."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rnncondense.analysis.summary import SolutionMetrics
from rnncondense.metrics import metric
from rnncondense.plots.analysis import draw_pc_plane, draw_spectrum
from rnncondense.plots.common import interval_colors, metric_axis, new_figure, panel_grid, tidy

PANELS = ("timing_rel_error", "miss_rate", "mse", "scaling_index", "ramp_fraction", "participation_ratio",
          "pcs_90", "similarity_procrustes")
# a task of trials from a file: no timing, scaling or ramps (not applicable)
ARRAY_PANELS = ("mse", "output_correlation", "participation_ratio", "pcs_90", "spectral_radius",
                "similarity_procrustes", "similarity_cca")


def _values(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in records if r.get(key) is not None]
    return np.array([r["n_units"] for r in rows], float), np.array([float(r[key]) for r in rows])


def metrics_against_size(records: list[dict], *, title: str, panels: tuple[str, ...] = PANELS) -> Figure:
    """Every metric of `panels` (at most 8) against the number of units (the original on the right)."""
    fig = new_figure(11.0, 5.2)
    axes = fig.subplots(2, 4).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    n_original = records[0]["n_units"]
    for ax, key in zip(axes, panels):
        sizes, values = _values(records, key)
        ax.plot(sizes, values, "-o", color="k", ms=3, lw=1)
        failed = [r for r in records if not r["success"] and r.get(key) is not None]
        if failed:
            ax.plot([r["n_units"] for r in failed], [r[key] for r in failed], "x", color="tab:red", ms=7, label="task failed")
            ax.legend(fontsize=9, frameon=False)
        metric_axis(ax, key, values)
        ax.set_ylabel("")
        ax.set_title(metric(key).axis_label(), fontsize=10)
        ax.set_xlim(n_original * 1.03, min(sizes.min() if sizes.size else 0, n_original) * 0.97)
        tidy(ax)
    fig.supxlabel("units in the network (the original on the left)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def behavior_per_step(steps: list[tuple[dict, np.ndarray]], times_ms: np.ndarray, targets: np.ndarray, *,
                      title: str = "merged network behaviour, noise-free, one trial per interval") -> Figure:
    """Output for every interval after selected steps: the seed study's "N merged" panels.

    Args:
        steps: (record, outputs) per panel; outputs (C, T), one noise-free trial per interval.
        times_ms: (T,) time from trial start; targets: (C, T) the target outputs.
    """
    colors = interval_colors(targets.shape[0])
    fig, axes = panel_grid(len(steps), width=3.0, height=2.3, sharex=True, sharey=True)
    n_original = steps[0][0]["n_units"]
    for ax, (record, outputs) in zip(axes, steps):
        for c, color in enumerate(colors):
            ax.plot(times_ms, targets[c], color=color, lw=0.8, ls="--")
            ax.plot(times_ms, outputs[c], color=color, lw=1.4)
        merged = n_original - record["n_units"]
        verdict = "success" if record["success"] else "failed"
        ax.set_title(f"{merged} merged ({record['n_units']} units): {verdict}", fontsize=8,
                     color="k" if record["success"] else "tab:red")
        ax.set_ylim(-0.3, 1.6)
        tidy(ax)
    fig.supxlabel("time from trial start (ms); dashed: target", fontsize=9)
    fig.supylabel("output", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def original_and_final(first: SolutionMetrics, last: SolutionMetrics, labels: tuple[str, str]) -> Figure:
    """Eigenvalue spectra and PC1-PC2 trajectories of two networks, side by side."""
    fig = new_figure(9.0, 8.4)
    axes = fig.subplots(2, 2)
    for column, (metrics, label) in enumerate(zip((first, last), labels)):
        draw_spectrum(axes[0, column], metrics.spectrum, legend=False)
        axes[0, column].set_title(f"{label}: eigenvalues of W_rec", fontsize=9)
        draw_pc_plane(axes[1, column], metrics.activity, metrics.pca, 0, 1)
        axes[1, column].set_title(f"{label}: trajectories, Set to Go", fontsize=9)
    return fig


