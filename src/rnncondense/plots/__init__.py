"""Matplotlib figures (object-oriented API, no global pyplot state), saved atomically as PNG."""

from rnncondense.plots.common import interval_colors, new_figure, figure_bytes

__all__ = ["interval_colors", "new_figure", "figure_bytes"]
