"""Shared figure helpers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from rnncondense.storage import atomic_write_bytes


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


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 130) -> Path:
    """Write `fig` atomically; the format follows the suffix (png, pdf, svg)."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def interval_colors(n: int) -> np.ndarray:
    """One colour per interval, short to long (the colour code of the timing literature)."""
    return colormaps["viridis"](np.linspace(0.0, 0.9, max(n, 1)))
