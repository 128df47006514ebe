"""Figures of a size sweep: metrics against network size, and example unit responses per size.

`metrics_against_size` draws one panel per metric: every network as a dot (seeds spread a little
sideways), the median over seeds as a line, on a logarithmic size axis; with an extra sweep axis,
one colour per value. `success` is drawn as the fraction of seeds that succeeded.
`unit_responses_by_size` shows, for one network per size, a few of its most variable units'
condition-averaged responses from Set to the produced Go, coloured by interval (short: dark,
long: light). `runs.sweep.plot_sweep` writes both kinds into DIR/figures.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure


from rnncondense.plots.analysis import top_variance_units
from rnncondense.plots.common import interval_colors, metric_axis, new_figure, tidy


__all__ = ["metrics_against_size", "unit_responses_by_size", "example_networks",
           "TASK_METRICS", "SOLUTION_METRICS"]

TASK_METRICS = ("success", "timing_rel_error", "miss_rate", "mse", "success_iteration", "train_time_s")
SOLUTION_METRICS = ("pcs_90", "participation_ratio", "scaling_index", "ramp_fraction", "spectral_radius",
                    "max_real_eigenvalue")


def _axis_dim(table: xr.Dataset) -> str | None:
    extra = [dim for dim in table["size"].dims + table["mse"].dims if dim not in ("size", "seed")]
    return extra[0] if extra else None


FONT = 10  # points; the report shows these figures at its full width, where 10 pt reads as its text


CI_MIN_NETWORKS = 3  # fewer networks of a size: no interval for its median
CI_RESAMPLES = 2000


def median_interval(values: np.ndarray, *, level: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `values` (size x seed, NaN: left out), a percentile-bootstrap interval of the median
    over its finite entries (CI_RESAMPLES resamples, drawn from `seed`); NaN for rows with fewer than
    CI_MIN_NETWORKS."""
    rng = np.random.default_rng(seed)
    low, high = np.full(len(values), np.nan), np.full(len(values), np.nan)
    for i, row in enumerate(np.asarray(values, dtype=float)):
        finite = row[np.isfinite(row)]
        if len(finite) >= CI_MIN_NETWORKS:
            medians = np.median(rng.choice(finite, size=(CI_RESAMPLES, len(finite))), axis=1)
            low[i], high[i] = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return low, high


def metrics_against_size(table: xr.Dataset, metrics: Sequence[str], *, title: str = "", columns: int = 3) -> Figure:
    """One panel per metric against size (log x axis): every network that did the task as a dot
    (seeds spread a little sideways), the median over them as a line with a 95 % bootstrap interval
    of the median as an error bar (`median_interval`: sizes with at least CI_MIN_NETWORKS such
    networks), and their interquartile range as a band; networks that failed the task or diverged as
    red crosses, left out of median, interval and band.

    Args:
        table: the sweep table (`sweep.table.rows_to_dataset`), dims (size, seed[, axis]).
        metrics: variable names of `table`.
    """
    missing = [name for name in metrics if name not in table]
    if missing:
        raise ValueError(f"metrics {missing} are not in the sweep table; choose from {sorted(table.data_vars)}")
    sizes = np.asarray(table["size"], dtype=float)
    seeds = np.asarray(table["seed"])
    axis = _axis_dim(table)
    groups = [(None, table)] if axis is None else [(v, table.sel({axis: v})) for v in np.asarray(table[axis])]
    palette = ["k"] if axis is None else colormaps["tab10"](np.arange(len(groups)) % 10)
    rows = int(np.ceil(len(metrics) / columns))
    fig = new_figure(3.6 * min(columns, len(metrics)) + 0.3, 3.0 * rows + 0.7)
    axes = np.atleast_1d(fig.subplots(rows, min(columns, len(metrics)), squeeze=False)).ravel()
    spread = 0.06 * (np.arange(len(seeds)) - (len(seeds) - 1) / 2) / max(len(seeds), 1)
    failed_total = 0
    for ax, name in zip(axes, metrics):
        for (value, group), color in zip(groups, palette):
            values = np.asarray(group[name].transpose("size", "seed"), dtype=float)
            status = np.asarray(group["status"].transpose("size", "seed")).astype(str)
            success = np.asarray(group["success"].transpose("size", "seed"), dtype=float)
            good = (status == "done") & (success == 1.0)
            failed = ~good & ((status == "done") | (status == "diverged"))
            failed_total = max(failed_total, int(failed.sum()))
            label = None if axis is None else f"{axis} = {value}"
            if name == "success":
                finished = np.isfinite(values).sum(axis=1)
                fraction = np.where(finished > 0, np.nansum(values, axis=1) / np.maximum(finished, 1), np.nan)
                ax.plot(sizes, fraction, "o-", color=color, lw=1.5, ms=5, label=label)
                continue
            for j in range(values.shape[1]):
                x = sizes * np.exp(spread[j])
                ax.plot(x[good[:, j]], values[good[:, j], j], "o", color=color, ms=4, alpha=0.55, lw=0)
                ax.plot(x[failed[:, j]], values[failed[:, j], j], "x", color="tab:red", ms=6, lw=0)
            kept = np.where(good, values, np.nan)
            with np.errstate(all="ignore"):
                stats = np.array([np.nanpercentile(row, [25, 50, 75]) if np.isfinite(row).any() else [np.nan] * 3
                                  for row in kept])
            ax.fill_between(sizes, stats[:, 0], stats[:, 2], color=color, alpha=0.15, lw=0)
            ax.plot(sizes, stats[:, 1], "-", color=color, lw=1.8, marker="_", ms=10, label=label)
            low, high = median_interval(kept)
            shown_ci = np.isfinite(low) & np.isfinite(high)
            ax.errorbar(sizes[shown_ci], stats[shown_ci, 1],
                        yerr=[stats[shown_ci, 1] - low[shown_ci], high[shown_ci] - stats[shown_ci, 1]],
                        fmt="none", ecolor=color, elinewidth=1.2, capsize=3)
        ax.set_xscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([f"{s:g}" for s in sizes], fontsize=FONT)
        ax.minorticks_off()
        metric_axis(ax, name, np.asarray(table[name], dtype=float))
        ax.yaxis.label.set_fontsize(FONT)
        if name == "success":
            ax.set_ylabel("success (fraction of seeds)", fontsize=FONT)
        ax.set_xlabel("network size (units)", fontsize=FONT)
        ax.tick_params(labelsize=FONT)
        tidy(ax)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if axis is not None:
        axes[0].legend(fontsize=FONT, frameon=False)
    default = (f"{len(seeds)} seeds per size: dots = networks that did the task, line = their median, "
               f"band = interquartile range" + (f"; red × = failed or diverged ({failed_total}), left out" if failed_total else ""))
    fig.suptitle(title + ("\n" if title else "") + default, fontsize=FONT + 1)
    return fig


def unit_responses_by_size(
    activities: Mapping[str, xr.Dataset], *, n_units: int = 4, title: str = ""
) -> Figure:
    """Rows of example unit responses, one row per network (label -> its `condition_activity`).

    Each panel is one of the network's `n_units` most variable units (over intervals and time from
    Set), its condition-averaged rate from Set to each interval's produced Go (target interval
    where it never crossed), coloured by interval.
    """
    if not activities:
        raise ValueError("activities must hold at least one network")
    columns = n_units
    fig = new_figure(2.2 * columns + 0.9, 1.55 * len(activities) + 0.8)
    axes = fig.subplots(len(activities), columns, squeeze=False, sharex=True)
    for row, (label, activity) in zip(axes, activities.items()):
        time = np.asarray(activity["time"])
        rate = np.asarray(activity["rate"], dtype=np.float64)
        produced = np.asarray(activity["produced_ms"], dtype=np.float64)
        target = np.asarray(activity["interval"], dtype=np.float64)
        after = time >= 0
        units = top_variance_units(rate[:, after, :], min(n_units, rate.shape[-1]))
        colors = interval_colors(len(target))
        for ax, unit in zip(row, units):
            for c in range(len(target)):
                go = produced[c] if np.isfinite(produced[c]) else target[c]
                keep = after & (time <= go)
                ax.plot(time[keep], rate[c, keep, unit], color=colors[c], lw=1.1)
            ax.set_title(f"unit {unit}", fontsize=FONT - 1, pad=2)
            ax.tick_params(labelsize=FONT - 1)
            tidy(ax)
        for ax in row[len(units):]:
            ax.set_visible(False)
        row[0].set_ylabel(label, fontsize=FONT)
    fig.supxlabel("time from Set (ms), to the produced Go of each interval", fontsize=FONT)
    default = "example networks: condition-averaged unit responses, coloured by interval (short: dark, long: light)"
    fig.suptitle(title or default, fontsize=FONT + 1)
    return fig


def example_networks(table: xr.Dataset) -> dict[int, str]:
    """One network per size for the unit-response figure: the lowest seed that succeeded, else the
    lowest seed with a result (first value of an extra axis). Maps size -> network name."""
    axis = _axis_dim(table)
    chosen = {}
    for size in np.asarray(table["size"]):
        cell = table.sel(size=size)
        if axis is not None:
            cell = cell.isel({axis: 0})
        status = np.asarray(cell["status"]).astype(str)
        success = np.asarray(cell["success"], dtype=float)
        done = np.flatnonzero(status == "done")
        if done.size == 0:
            continue
        won = done[success[done] == 1.0]
        pick = int(won[0] if won.size else done[0])
        chosen[int(size)] = str(np.asarray(cell["network"])[pick])
    return chosen
