"""Solution-type metrics of a network in one call.

`solution_metrics` simulates the condition-averaged activity once (`condition_activity`),
time-normalises it (`time_normalized`, Set -> produced Go on `n_phase` phases) and computes on
those trajectories (interval, phase, unit):

    pcs_90, participation_ratio   PCA of the trajectories (`pca`)
    scaling_index                 population scaling index of the units (`scaling`, Wang et al. 2018)
    scaling_index_pcs             scaling index of each of the top-k PC scores
    ramp_fraction                 fraction of units with a monotonic ramp (`ramps`)
    spectral_radius, max_real_eigenvalue   of W_rec (`spectrum`)
    n_fixed_points, n_stable_points, n_saddles, slow_manifold_dim, slowest_time_constant_ms
                                  fixed points per context (`dynamics.network_fixed_points`), only
                                  when asked (`fixed_points` settings: they cost seconds); else None

and returns them as a `SolutionMetrics`: the JSON-ready numbers (`numbers`, what a run's
analysis/metrics.json holds) together with the objects (activity, trajectories, PCA, ...) that
`similarity` and the figures use, so nothing is simulated twice.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np
import xarray as xr

from rnncondense.analysis.activity import condition_activity, time_normalized
from rnncondense.analysis.dynamics import (
    FixedPointSettings,
    NetworkDynamics,
    empty_numbers,
    fixed_point_settings,
    network_fixed_points,
    subnetwork,
)
from rnncondense.analysis.pca import PCA, pca, project
from rnncondense.analysis.ramps import Ramps, classify_ramps
from rnncondense.analysis.scaling import ScalingIndex, scaling_index
from rnncondense.analysis.similarity import HEADLINE
from rnncondense.analysis.spectrum import Spectrum, recurrent_spectrum
from rnncondense.config import RunConfig
from rnncondense.errors import ConfigError
from rnncondense.rnn import Params

__all__ = ["SolutionMetrics", "solution_metrics", "check_k"]



class SolutionMetrics(NamedTuple):
    """The solution type of a network: JSON-ready numbers and the objects they came from."""

    numbers: dict[str, Any]  # n_units, pcs_90, participation_ratio, scaling_index, ramp_fraction, ...
    activity: xr.Dataset  # condition-averaged activity (`condition_activity`)
    trajectories: xr.DataArray  # (interval, phase, unit), Set -> produced Go
    pca: PCA
    pc_scores: np.ndarray  # (C, P, k)
    scaling: ScalingIndex | None  # of the units (None: not applicable, a task of trials from a file)
    scaling_pcs: ScalingIndex | None  # of the top-k PC scores
    ramps: Ramps | None
    spectrum: Spectrum | None
    dynamics: NetworkDynamics | None = None  # fixed points per context, when asked


def _number(value: Any) -> float | None:
    """A float for JSON: NaN and inf become None."""
    value = float(value)
    return value if np.isfinite(value) else None


def check_k(k: Any, n_units: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_units:
        raise ConfigError(f"k = {k!r} is not allowed: it must be an integer in [1, {n_units}] (the number of units)")
    return int(k)


def solution_metrics(
    params: Params,
    config: RunConfig,
    *,
    key: jax.Array | None = None,
    k: int = 3,
    n_trials: int = 8,
    n_phase: int = 50,
    normalize_by: str = "produced",
    ramp_min_change: float = 0.05,
    ramp_tolerance: float = 0.1,
    spectrum: bool = True,
    alive: np.ndarray | None = None,
    fixed_points: FixedPointSettings | str | None = None,
) -> SolutionMetrics:
    """Solution-type metrics of a network on the task of `config`.

    Args:
        params: the network (N units).
        config: its run configuration.
        key: PRNG key for noisy trials; None (default) averages noise-free trials (see
            `condition_activity`).
        k: top PCs for the per-PC scaling index (and the PCs `similarity` would use), 1 <= k <= N.
        n_trials: trials per interval (cue-to-Set delays spread over the task's range).
        n_phase: points of the normalised-time grid from Set (0) to produced Go (1).
        normalize_by: "produced" (Wang et al. 2018) or "target" interval.
        ramp_min_change, ramp_tolerance: the ramp test (`classify_ramps`).
        spectrum: also compute the eigenvalues of W_rec (O(N^3)).
        alive: (N,) mask of the units that belong to the network, for a network kept at full
            size whose removed units have no outgoing weights (condense.merge); the others are
            left out of every metric. Default: all units.
        fixed_points: settings of the fixed-point analysis, or a preset's name ("full", "quick",
            "records": `dynamics.PRESETS`); None (default) leaves it out and its numbers None.

    Returns:
        SolutionMetrics whose `numbers` are JSON-ready:
          n_units, pcs_90, participation_ratio, scaling_index (population), ramp_fraction,
          scaling_index_pcs (k values), variance_explained (first min(10, K) PCs),
          spectral_radius, max_real_eigenvalue (None without `spectrum`),
          n_fixed_points, n_stable_points, n_saddles, slow_manifold_dim, slowest_time_constant_ms
          and fixed_points (per context; None / {"skipped": why} without `fixed_points`),
          produced_ms, miss_fraction (per interval), n_normalized_by_target, settings
        (NaN is given as None: the participation ratio or scaling index of a silent network, the
        produced interval of an interval that always missed), and the objects: activity,
        trajectories, pca, pc_scores, scaling, scaling_pcs, ramps, spectrum. The network's size is its own (W_rec), not
        `config.model.n_units`, so condensed networks can be measured with their original config.
    """
    units = np.arange(params.W_rec.shape[0]) if alive is None else np.flatnonzero(np.asarray(alive, bool))
    n_units = int(units.size)
    k = check_k(k, n_units)
    fixed_points = fixed_point_settings(fixed_points)
    if config.task.name == "arrays":  # no Cue-Set-Go structure: what applies (analysis/array_activity.py)
        return _array_solution_metrics(params, config, key=key, k=k, spectrum=spectrum, alive=alive, units=units)
    activity = condition_activity(params, config, key=key, n_trials=n_trials)
    if alive is not None:
        activity = activity.isel(unit=units)
        activity.attrs["n_units"] = n_units
    trajectories = time_normalized(activity, n_phase=n_phase, normalize_by=normalize_by)
    x = trajectories.values
    pcs = pca(x)
    if k > pcs.components.shape[0]:
        raise ConfigError(
            f"k = {k} is not allowed: only {pcs.components.shape[0]} PCs exist for {x.shape[0]} intervals x "
            f"{n_phase} phases; raise n_phase"
        )
    scores = project(pcs, x, k=k)
    scaling_units = scaling_index(x)
    scaling_pcs = scaling_index(scores)
    ramps = classify_ramps(x, min_change=ramp_min_change, tolerance=ramp_tolerance)
    eigen = recurrent_spectrum(np.asarray(params.W_rec)[np.ix_(units, units)]) if spectrum else None
    dynamics = None
    if fixed_points is not None:
        dynamics = network_fixed_points(params if alive is None else subnetwork(params, units), config, fixed_points)
    fixed = (empty_numbers("not asked for") if fixed_points is None
             else empty_numbers("other dynamics or task") if dynamics is None else dynamics.numbers)
    numbers = {
        "n_units": n_units,
        "pcs_90": int(pcs.pcs_90),
        "participation_ratio": _number(pcs.participation_ratio),
        "scaling_index": _number(scaling_units.population),
        "scaling_index_pcs": [_number(v) for v in scaling_pcs.per_signal],
        "ramp_fraction": float(ramps.fraction),
        "variance_explained": [float(v) for v in pcs.explained_variance_ratio[:10]],
        "spectral_radius": None if eigen is None else eigen.spectral_radius,
        "max_real_eigenvalue": None if eigen is None else eigen.max_real,
        "produced_ms": [_number(v) for v in activity["produced_ms"].values],
        "miss_fraction": [float(v) for v in activity["miss_fraction"].values],
        "n_normalized_by_target": int(trajectories["normalized_by_target"].values.sum()),
        **fixed,
        "settings": {
            "k": k,
            "n_trials": int(n_trials),
            "n_phase": int(n_phase),
            "noise": activity.attrs["noise"],
            "normalize_by": normalize_by,
            "ramp_min_change": float(ramp_min_change),
            "ramp_tolerance": float(ramp_tolerance),
            "similarity_headline": HEADLINE,
        },
    }
    return SolutionMetrics(numbers, activity, trajectories, pcs, scores, scaling_units, scaling_pcs, ramps, eigen, dynamics)


def _array_solution_metrics(params: Params, config: RunConfig, *, key, k: int, spectrum: bool, alive, units) -> SolutionMetrics:
    """`solution_metrics` of a task of trials from a file: its trajectories are the
    condition-averaged rates (condition, time, unit) from trial start; scaling and ramps are not
    applicable (None)."""
    from rnncondense.analysis.array_activity import array_activity, array_solution_numbers

    activity = array_activity(params, config, key=key)
    if alive is not None:
        activity = activity.isel(unit=units)
        activity.attrs["n_units"] = int(units.size)
    numbers, pcs, scores, eigen = array_solution_numbers(params, activity, k=k, spectrum=spectrum, units=units)
    # fixed points are searched per Cue-Set-Go context (cue held, no Set); a task of trials has none
    numbers = {**numbers, **empty_numbers("other dynamics or task")}
    return SolutionMetrics(numbers, activity, activity["rate"], pcs, scores, None, None, None, eigen)
