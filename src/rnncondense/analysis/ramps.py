"""Ramping units: monotonic post-Set responses that move the same way for every interval.

The test runs on the time-normalised Set -> produced-Go responses r_c(phi) (`time_normalized`).
For condition c let the net change be d_c = r_c(1) - r_c(0) and s_c = sign(d_c). Oriented so that
the trend points up, o_c(phi) = s_c r_c(phi), the largest move against the trend is

    reversal_c = max_{phi1 <= phi2} (o_c(phi1) - o_c(phi2))     (largest drawdown).

A unit is a ramp when, for every interval c,
  1. it moves in the same direction: s_c is the same non-zero sign for all c;
  2. it moves enough: |d_c| >= min_change (rate units, r = tanh(x); default 0.05);
  3. it is monotonic within tolerance: reversal_c <= tolerance * |d_c| (default 10 %).

A linear ramp has reversal 0 and passes; a transient bump that returns to baseline fails 2 (and 3),
a rise followed by a larger fall fails 3, a unit whose ramp flips sign with the interval fails 1.
`ramp_fraction` is the number of ramps divided by the number of units (flat units count as
non-ramps). These are the simple up/down ramps of an integrator-like solution (DESIGN.md,
"Solution type").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnncondense.errors import ConfigError

__all__ = ["Ramps", "classify_ramps", "ramp_fraction"]


class Ramps(NamedTuple):
    """Which of N units ramp, with the two numbers the test uses (worst case over intervals)."""

    is_ramp: np.ndarray  # (N,) bool
    direction: np.ndarray  # (N,) +1 up, -1 down, 0 when the direction differs across intervals
    min_change: np.ndarray  # (N,) min_c |r_c(1) - r_c(0)|
    max_reversal: np.ndarray  # (N,) max_c reversal_c / |d_c| (inf where d_c = 0)
    fraction: float  # mean of is_ramp


def classify_ramps(trajectories: np.ndarray, *, min_change: float = 0.05, tolerance: float = 0.1) -> Ramps:
    """Ramp test of each unit of time-normalised trajectories (interval, phase, unit).

    Args:
        trajectories: (C, P, N) Set -> Go responses on the phase grid.
        min_change: smallest net change |r_c(1) - r_c(0)| in every interval (rate units).
        tolerance: largest move against the trend, as a fraction of the net change.
    """
    if not min_change > 0:
        raise ConfigError(f"min_change = {min_change!r} is not allowed: it must be > 0")
    if not 0 <= tolerance < 1:
        raise ConfigError(f"tolerance = {tolerance!r} is not allowed: it must be in [0, 1)")
    r = np.asarray(trajectories, dtype=np.float64)
    if r.ndim != 3 or r.shape[1] < 2:
        raise ValueError(f"trajectories must be (interval, phase >= 2, unit), got shape {r.shape}")
    change = r[:, -1, :] - r[:, 0, :]  # (C, N)
    sign = np.sign(change)
    oriented = r * sign[:, None, :]
    reversal = np.max(np.maximum.accumulate(oriented, axis=1) - oriented, axis=1)  # (C, N)
    size = np.abs(change)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(size > 0, reversal / size, np.inf)
    same_direction = np.all(sign == sign[:1], axis=0) & (sign[0] != 0)
    min_size = size.min(axis=0)
    max_relative = relative.max(axis=0)
    is_ramp = same_direction & (min_size >= min_change) & (max_relative <= tolerance)
    direction = np.where(same_direction, sign[0], 0).astype(np.int8)
    return Ramps(is_ramp, direction, min_size, max_relative, float(is_ramp.mean()))


def ramp_fraction(trajectories: np.ndarray, *, min_change: float = 0.05, tolerance: float = 0.1) -> float:
    """Fraction of units whose Set -> Go response is a monotonic ramp (see `classify_ramps`)."""
    return classify_ramps(trajectories, min_change=min_change, tolerance=tolerance).fraction
