"""Animations of the circuit models: GIF through matplotlib's PillowWriter, MP4 when ffmpeg exists.

Frames are drawn on a Figure (no pyplot state) and grabbed one by one; the file is written to a
temporary directory and then moved into place atomically.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib import animation
from matplotlib.figure import Figure

from rnncondense.circuits.linear2 import Eigenmodes, Linear2Result
from rnncondense.circuits.plots import PULSE_COLORS, draw_phase_plane_axes
from rnncondense.circuits.ring import RingResult, SteadyState, bump_center_deg
from rnncondense.storage import atomic_write_bytes
from rnncondense.plots.common import new_figure

__all__ = ["save_animation", "linear2_animation", "ring_animation", "frame_indices"]


def frame_indices(n_samples: int, n_frames: int) -> np.ndarray:
    """`n_frames` sample indices spread evenly over 0 .. n_samples - 1."""
    return np.unique(np.linspace(0, n_samples - 1, max(1, n_frames)).round().astype(int))


def save_animation(
    fig: Figure,
    draw_frame: Callable[[int], None],
    n_frames: int,
    path: str | Path,
    *,
    fps: int = 15,
    dpi: int = 80,
    mp4: bool | None = None,
) -> list[Path]:
    """Write `path` (a .gif) frame by frame; also a .mp4 beside it when ffmpeg is available.

    Args:
        fig: the figure that `draw_frame(i)` updates for frame i.
        mp4: None writes an MP4 only if ffmpeg is found; False never.

    Returns:
        The files written.
    """
    path = Path(path).with_suffix(".gif")
    writers: list[tuple[animation.AbstractMovieWriter, Path]] = [(animation.PillowWriter(fps=fps), path)]
    if mp4 is not False and animation.writers.is_available("ffmpeg"):
        writers.append((animation.FFMpegWriter(fps=fps), path.with_suffix(".mp4")))
    # Lay the figure out once, then freeze it: frames only change artists' data.
    draw_frame(0)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    written = []
    for writer, target in writers:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp) / target.name
            with writer.saving(fig, str(scratch), dpi):
                for frame in range(n_frames):
                    draw_frame(frame)
                    writer.grab_frame()
            atomic_write_bytes(target, scratch.read_bytes())
        written.append(target)
    return written


def linear2_animation(
    experiments: dict[str, Linear2Result],
    modes: Eigenmodes,
    center: np.ndarray,
    path: str | Path,
    *,
    n_frames: int = 60,
    dpi: int = 80,
) -> list[Path]:
    """Phase plane with the eigenvectors; a dot per pulse experiment moves along its trajectory."""
    fig = new_figure(4.4, 5.0)
    ax = fig.subplots()
    draw_phase_plane_axes(ax, experiments, modes, center)
    results = list(experiments.values())
    frames = frame_indices(results[0].t_ms.size, n_frames)
    trails, dots = [], []
    for color, name in zip(PULSE_COLORS, experiments):
        (trail,) = ax.plot([], [], color=color, lw=1.3, label=name)
        (dot,) = ax.plot([], [], "o", color=color, ms=5)
        trails.append(trail)
        dots.append(dot)
    ax.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    title = ax.set_title("", fontsize=8)

    def draw(frame: int) -> None:
        k = frames[frame]
        for result, trail, dot in zip(results, trails, dots):
            trail.set_data(result.v[: k + 1, 0], result.v[: k + 1, 1])
            dot.set_data([result.v[k, 0]], [result.v[k, 1]])
        pulse_on = any(np.any(r.h[k] != r.h[0]) for r in results)
        title.set_text(f"t = {results[0].t_ms[k]:.0f} ms" + ("  (pulse on)" if pulse_on else ""))

    return save_animation(fig, draw, len(frames), path, dpi=dpi)


def ring_animation(
    result: RingResult,
    state: SteadyState | None,
    path: str | Path,
    *,
    n_frames: int = 60,
    dpi: int = 80,
) -> list[Path]:
    """The bump (rates against preferred orientation) and the input orientation, frame by frame."""
    fig = new_figure(4.8, 3.2)
    ax = fig.subplots()
    frames = frame_indices(result.t_ms.size, n_frames)
    top = float(result.rates.max()) * 1.15 or 1.0
    (profile,) = ax.plot(result.theta_deg, result.rates[0], color="k", lw=1.5, label="rates")
    input_line = ax.axvline(0.0, color="tab:orange", lw=1.2, label="input orientation")
    center_line = ax.axvline(0.0, color="tab:red", lw=1.0, ls="--", label="bump centre")
    if state is not None:
        ax.axhline(state.peak, color="tab:blue", lw=0.8, ls=":", label=f"analytic peak {state.peak:.3f}")
    ax.set_xlim(-90, 90)
    ax.set_ylim(0, top)
    ax.set_xlabel("preferred orientation (deg)")
    ax.set_ylabel("rate")
    ax.legend(fontsize=6, frameon=False, loc="upper left")
    ax.spines[["top", "right"]].set_visible(False)
    title = ax.set_title("", fontsize=8)

    def draw(frame: int) -> None:
        k = frames[frame]
        profile.set_ydata(result.rates[k])
        input_line.set_xdata([result.input_deg[k]] * 2)
        center_line.set_xdata([float(bump_center_deg(result.rates[k], result.theta_deg))] * 2)
        title.set_text(f"t = {result.t_ms[k]:.0f} ms")

    return save_animation(fig, draw, len(frames), path, dpi=dpi)
