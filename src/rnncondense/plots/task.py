"""Figures of behaviour: the task panel, produced against target intervals, unit activity."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rnncondense.analysis.behavior import BehaviorMetrics
from rnncondense.plots.common import interval_colors, new_figure, panel_grid, tidy
from rnncondense.tasks.cue_set_go import TrialBatch


def task_panel(batch: TrialBatch, outputs: np.ndarray, times_ms: np.ndarray, *, title: str = "") -> Figure:
    """Inputs, target and output of one trial per interval, one row per interval. The target is
    drawn where the loss mask counts it (to the interval plus the tail after Go).

    batch: one trial per interval (see CueSetGo.condition_batch); outputs (B, T, 1).
    """
    n = len(batch.interval_ms)
    colors = interval_colors(n)
    fig = new_figure(7.5, 1.1 * n + 0.8)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    inputs = np.asarray(batch.inputs)
    targets = np.where(np.asarray(batch.mask)[..., None] > 0, np.asarray(batch.targets), np.nan)  # where the loss counts
    for i, ax in enumerate(axes):
        ax.plot(times_ms, inputs[i, :, 0], color="0.55", lw=1, label="cue")
        ax.plot(times_ms, inputs[i, :, 1], color="tab:orange", lw=1, label="Set")
        ax.plot(times_ms, outputs[i, :, 0], color=colors[i], lw=2.2, label="output")
        ax.plot(times_ms, targets[i, :, 0], color="k", lw=0.9, ls="--", label="target")  # on top of the output
        go = float(batch.set_time_ms[i] + batch.interval_ms[i])
        ax.axvline(go, color=colors[i], lw=0.8, ls=":")
        ax.axhline(1.0, color="0.8", lw=0.6)
        ax.set_ylabel(f"{batch.interval_ms[i]:.0f} ms", rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([0, 1])
        tidy(ax)
    axes[0].legend(loc="upper left", ncols=4, fontsize=7, frameon=False)
    axes[-1].set_xlabel("time from trial start (ms)")
    fig.suptitle(title or "Cue-Set-Go: inputs, target and output per interval", fontsize=10)
    return fig


def produced_vs_target(metrics: BehaviorMetrics, *, title: str = "") -> Figure:
    """Mean (and SD) produced interval against the target, with the identity line."""
    target = np.asarray(metrics.intervals_ms)
    produced = np.asarray(metrics.produced_ms, dtype=float)
    spread = np.asarray(metrics.produced_sd_ms, dtype=float)
    fig = new_figure(3.6, 3.4)
    ax = fig.subplots()
    ax.plot([target.min(), target.max()], [target.min(), target.max()], color="0.6", ls="--", lw=1)
    ax.errorbar(target, produced, yerr=spread, fmt="none", ecolor="0.3", lw=1)
    ax.scatter(target, produced, c=interval_colors(len(target)), zorder=3, s=28)
    ax.set_xlabel("target interval (ms)")
    ax.set_ylabel("produced interval (ms)")
    ax.set_title(title or f"timing error {metrics.timing_mae_ms:.0f} ms, misses {metrics.miss_rate:.0%}", fontsize=9)
    tidy(ax)
    return fig


def unit_activity(
    rates: np.ndarray, batch: TrialBatch, dt_ms: float, units: list[int], *, before_set_ms: float = 200.0
) -> Figure:
    """Rates of a few units, one trial per interval aligned to Set, coloured by interval.

    rates: (B, T, N) for one trial per interval.
    """
    n_intervals = len(batch.interval_ms)
    colors = interval_colors(n_intervals)
    fig, axes = panel_grid(len(units), width=2.4, height=1.9, sharex=True)
    for ax, unit in zip(axes, units):
        for i in range(n_intervals):
            set_step = int(round(float(batch.set_time_ms[i]) / dt_ms))
            start = max(0, set_step - int(before_set_ms / dt_ms))
            end = min(rates.shape[1], set_step + int(round(float(batch.interval_ms[i]) / dt_ms)) + 1)
            t = (np.arange(start, end) - set_step) * dt_ms
            ax.plot(t, rates[i, start:end, unit], color=colors[i], lw=1.2)
        ax.axvline(0, color="0.7", lw=0.7)
        ax.set_title(f"unit {unit}", fontsize=8)
        tidy(ax)
    fig.supxlabel("time from Set (ms), to one interval after", fontsize=9)
    fig.supylabel("rate tanh(x)", fontsize=9)
    fig.suptitle("unit activity, coloured by interval (short: dark, long: light)", fontsize=10)
    return fig
