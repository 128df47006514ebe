"""Temporal scaling index (Wang, Narain, Hosseini & Jazayeri 2018, Nat Neurosci 21:102).

After time is normalised by the produced interval (`activity.time_normalized`), a perfectly
scaling response is the same profile f(phi) in every condition. For one signal (a unit's rate or a
PC score) r_c(phi) over conditions c = 1..C and phases phi = 1..P, with the mean profile
rbar(phi) = mean_c r_c(phi) and the grand mean rbar = mean_{c, phi} r_c(phi),

    SI = 1 - sum_{c, phi} (r_c(phi) - rbar(phi))^2 / sum_{c, phi} (r_c(phi) - rbar)^2,

the fraction of the signal's variance (over conditions and normalised time) explained by the
single time-scaled profile rbar(phi). SI = 1 for exact time-scaled copies of one profile; shape
changes across intervals and condition-dependent offsets (e.g. a tonic level set by the context
cue) lower it. The population index weights units by their variance,

    SI_pop = 1 - sum_units residual / sum_units total,

which is the variance-weighted mean of the per-unit indices. Signals whose variance per sample is
at most `min_variance` (flat units) get NaN and do not count in the population index.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["ScalingIndex", "scaling_index"]


class ScalingIndex(NamedTuple):
    """Scaling indices of M signals of time-normalised activity."""

    per_signal: np.ndarray  # (M,) SI of each unit or PC; NaN for flat signals
    population: float  # variance-weighted: 1 - sum residual / sum total (NaN if all flat)
    residual: np.ndarray  # (M,) sum_{c, phi} (r_c(phi) - rbar(phi))^2
    total: np.ndarray  # (M,) sum_{c, phi} (r_c(phi) - rbar)^2


def scaling_index(trajectories: np.ndarray, *, min_variance: float = 1e-12) -> ScalingIndex:
    """Scaling index of each signal of time-normalised trajectories (C, P, M), and of the population.

    Args:
        trajectories: (interval, phase, signal), e.g. the DataArray of `time_normalized` or its
            PC scores; needs at least two conditions.
        min_variance: signals with total / (C * P) <= min_variance are flat and get NaN.
    """
    r = np.asarray(trajectories, dtype=np.float64)
    if r.ndim != 3:
        raise ValueError(f"trajectories must be (interval, phase, signal), got shape {r.shape}")
    if r.shape[0] < 2:
        raise ValueError(f"the scaling index needs at least two intervals, got {r.shape[0]}")
    if not np.isfinite(r).all():
        raise ValueError("trajectories contain NaN or inf")
    residual = np.sum((r - r.mean(axis=0, keepdims=True)) ** 2, axis=(0, 1))
    total = np.sum((r - r.mean(axis=(0, 1), keepdims=True)) ** 2, axis=(0, 1))
    active = total / (r.shape[0] * r.shape[1]) > min_variance
    per_signal = np.full(r.shape[2], np.nan)
    per_signal[active] = 1.0 - residual[active] / total[active]
    population = 1.0 - residual[active].sum() / total[active].sum() if active.any() else float("nan")
    return ScalingIndex(per_signal, float(population), residual, total)
