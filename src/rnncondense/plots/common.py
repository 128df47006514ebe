"""Shared figure helpers. Figures are built here and returned; nothing here writes a file."""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rnncondense.metrics import metric


FIGURE_DPI = 130


def new_figure(width: float, height: float) -> Figure:
    """A figure that needs no GUI backend."""
    return Figure(figsize=(width, height), layout="constrained")


def tidy(ax) -> None:
    """No top and right spines."""
    ax.spines[["top", "right"]].set_visible(False)


def panel_grid(
    n_panels: int, *, width: float, height: float, extra_height: float = 0.5, max_cols: int = 4, **subplots
) -> tuple[Figure, np.ndarray]:
    """A figure of `n_panels` axes in rows of at most `max_cols`, `width` x `height` inches each;
    returns the figure and the first `n_panels` axes (the spare ones are hidden)."""
    cols = max(1, min(max_cols, n_panels))
    rows = int(np.ceil(n_panels / cols))
    fig = new_figure(width * cols, height * rows + extra_height)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False, **subplots)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def figure_bytes(fig: Figure, *, format: str = "png", dpi: int = FIGURE_DPI) -> bytes:
    """`fig` rendered as a file's contents (png, pdf, svg); the runs layer writes them."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=format, dpi=dpi)
    return buffer.getvalue()


def interval_colors(n: int) -> np.ndarray:
    """One colour per interval, short to long (the colour code of the timing literature)."""
    return colormaps["viridis"](np.linspace(0.0, 0.9, max(n, 1)))


def metric_axis(ax, name: str, values: np.ndarray | None = None, *, axis: str = "y") -> None:
    """Label and scale `ax`'s y (or x) axis for the registry metric `name`: its label and unit,
    log scale where the registry asks for it (and the values allow), integer ticks for counts,
    its natural range (a [0, 1] metric always spans [0, 1]), its threshold line, and never
    offset notation, so that a tiny change cannot fill the panel."""
    entry = metric(name)
    finite = np.asarray([] if values is None else values, float)
    finite = finite[np.isfinite(finite)]
    set_label, set_scale, set_lim, line = (
        (ax.set_ylabel, ax.set_yscale, ax.set_ylim, ax.axhline) if axis == "y" else
        (ax.set_xlabel, ax.set_xscale, ax.set_xlim, ax.axvline))
    target = ax.yaxis if axis == "y" else ax.xaxis
    set_label(entry.axis_label(), fontsize=8)
    if entry.log_scale and finite.size and np.all(finite > 0):
        set_scale("log")
    else:
        low, high = entry.natural_range
        if low is not None and high is not None:
            margin = 0.05 * (high - low)
            set_lim(low - margin, high + margin)
        elif low is not None:
            top = max(float(finite.max()) if finite.size else low + 1.0, low + 1e-12)
            set_lim(low, top + 0.05 * (top - low) + (1.0 if entry.integer else 0.0))
        elif finite.size:  # unbounded: span at least 10 % of the values' size, so noise cannot fill the panel
            centre, half = float(finite.mean()), 0.05 * max(float(np.abs(finite).max()), 1.0)
            bottom, top = min(float(finite.min()), centre - half), max(float(finite.max()), centre + half)
            set_lim(bottom - 0.05 * (top - bottom), top + 0.05 * (top - bottom))
        if target.get_scale() == "linear":
            ax.ticklabel_format(axis=axis, useOffset=False, style="plain")
    if entry.integer:
        target.set_major_locator(MaxNLocator(integer=True))
    if entry.threshold is not None:
        line(entry.threshold, color="tab:red", lw=0.8, ls="--")
