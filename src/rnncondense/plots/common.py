"""Shared figure helpers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from rnncondense.io import atomic_write_bytes


def new_figure(width: float, height: float) -> Figure:
    """A figure that needs no GUI backend."""
    return Figure(figsize=(width, height), layout="constrained")


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
