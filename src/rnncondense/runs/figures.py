"""Figures written into a directory: the one place where a Figure becomes a file."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from matplotlib.figure import Figure

from rnncondense import layout, storage
from rnncondense.plots.common import FIGURE_DPI, figure_bytes


def save_figure(fig: Figure, path: str | Path, *, dpi: int = FIGURE_DPI) -> Path:
    """Write `fig` atomically; the format follows the suffix (png, pdf, svg)."""
    path = Path(path)
    storage.atomic_write_bytes(path, figure_bytes(fig, format=path.suffix.lstrip(".") or "png", dpi=dpi))
    return path


def save_figures(directory: Path, figures: Mapping[str, Figure]) -> list[Path]:
    """Write each figure under its layout name (`layout.figure_file(stem)`) into `directory`."""
    return [save_figure(fig, directory / layout.figure_file(stem)) for stem, fig in figures.items()]
