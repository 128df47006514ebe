"""Solution-type metrics of a network in one call, and the analysis of a trained run directory.

`solution_metrics` simulates the condition-averaged activity once (`condition_activity`),
time-normalises it (`time_normalized`, Set -> produced Go on `n_phase` phases) and computes on
those trajectories (interval, phase, unit):

    pcs_90, participation_ratio   PCA of the trajectories (`pca`)
    scaling_index                 population scaling index of the units (`scaling`, Wang et al. 2018)
    scaling_index_pcs             scaling index of each of the top-k PC scores
    ramp_fraction                 fraction of units with a monotonic ramp (`ramps`)
    spectral_radius, max_real_eigenvalue   of W_rec (`spectrum`)

and returns them as JSON-ready numbers together with the objects (activity, trajectories, PCA, ...)
that `similarity` and the figures use, so nothing is simulated twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np

from rnncondense import storage
from rnncondense.analysis.activity import condition_activity, time_normalized, write_activity
from rnncondense.analysis.pca import pca, project
from rnncondense.analysis.ramps import classify_ramps
from rnncondense.analysis.scaling import scaling_index
from rnncondense.analysis.similarity import HEADLINE
from rnncondense.analysis.spectrum import recurrent_spectrum
from rnncondense.config import RunConfig
from rnncondense.dirlock import holding
from rnncondense.errors import ConfigError
from rnncondense.rnn import Params

__all__ = ["solution_metrics", "json_metrics", "analyze_run", "OBJECT_KEYS", "ANALYSIS_DIR"]

ANALYSIS_DIR = "analysis"
ACTIVITY_FILE = "activity.nc"
METRICS_FILE = "metrics.json"
# entries of `solution_metrics` that are objects rather than JSON-ready numbers
OBJECT_KEYS = ("activity", "trajectories", "pca", "pc_scores", "scaling", "scaling_pcs", "ramps", "spectrum")


def _number(value: Any) -> float | None:
    """A float for JSON: NaN and inf become None."""
    value = float(value)
    return value if np.isfinite(value) else None


def _check_k(k: Any, n_units: int) -> int:
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
) -> dict[str, Any]:
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

    Returns:
        dict with JSON-ready entries
          n_units, pcs_90, participation_ratio, scaling_index (population), ramp_fraction,
          scaling_index_pcs (k values), variance_explained (first min(10, K) PCs),
          spectral_radius, max_real_eigenvalue (None without `spectrum`),
          produced_ms, miss_fraction (per interval), n_normalized_by_target, settings
        (NaN is given as None: the participation ratio or scaling index of a silent network, the
        produced interval of an interval that always missed), and the objects under OBJECT_KEYS:
          activity (Dataset), trajectories (DataArray (interval, phase, unit)), pca (PCA),
          pc_scores (C, P, k), scaling and scaling_pcs (ScalingIndex), ramps (Ramps),
          spectrum (Spectrum or None).
        `json_metrics` keeps the JSON-ready part. The network's size is its own (W_rec), not
        `config.model.n_units`, so condensed networks can be measured with their original config.
    """
    units = np.arange(params.W_rec.shape[0]) if alive is None else np.flatnonzero(np.asarray(alive, bool))
    n_units = int(units.size)
    k = _check_k(k, n_units)
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
    return {
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
        "activity": activity,
        "trajectories": trajectories,
        "pca": pcs,
        "pc_scores": scores,
        "scaling": scaling_units,
        "scaling_pcs": scaling_pcs,
        "ramps": ramps,
        "spectrum": eigen,
    }


def json_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready part of `solution_metrics` (everything but OBJECT_KEYS)."""
    return {name: value for name, value in metrics.items() if name not in OBJECT_KEYS}


@holding("run_dir", create=False)  # one writer per directory (dirlock)
def analyze_run(
    run_dir: str | Path,
    *,
    k: int = 3,
    n_trials: int = 8,
    n_phase: int = 50,
    noise: bool = False,
    figures: bool = True,
    n_units_shown: int = 12,
) -> dict[str, Any]:
    """Analyse the trained network of a run directory and write the results into it.

    Writes RUN/analysis/activity.nc (the activity Dataset, NetCDF-4), RUN/analysis/metrics.json
    (`json_metrics`) and, with `figures`, RUN/figures/{variance_explained, pc_trajectories_2d,
    pc_trajectories_3d, unit_responses, unit_responses_normalized, eigenvalues, scaling_index}.png.

    Args:
        run_dir: a run directory with a trained network (`train.run.load_run`).
        k: top PCs for the per-PC scaling index and the 3D plot, 1 <= k <= N.
        n_trials: trials per interval; n_phase: normalised-time grid (see `solution_metrics`).
        noise: average noisy trials (key derived from `train.seed`) instead of noise-free ones.
        figures: draw the figures.
        n_units_shown: units in the response grids (the most variable ones).

    Returns:
        The metrics written to metrics.json, plus "files": the paths written.
    """
    from rnncondense.plots.analysis import (
        eigenvalue_spectrum,
        pc_trajectories_2d,
        pc_trajectories_3d,
        scaling_histogram,
        top_variance_units,
        unit_responses,
        variance_explained,
    )
    from rnncondense.plots.common import save_figure
    from rnncondense.train.run import RunKeys, load_run

    run_dir = Path(run_dir)
    config, params = load_run(run_dir)
    _check_k(k, config.model.n_units)
    if isinstance(n_units_shown, bool) or not isinstance(n_units_shown, int) or not 1 <= n_units_shown <= 64:
        raise ConfigError(f"n_units_shown = {n_units_shown!r} is not allowed: it must be an integer in [1, 64]")
    key = jax.random.fold_in(RunKeys.from_seed(config.train.seed).eval, 1) if noise else None
    metrics = solution_metrics(params, config, key=key, k=k, n_trials=n_trials, n_phase=n_phase)
    summary = json_metrics(metrics)

    out_dir = storage.safe_child(run_dir, ANALYSIS_DIR)
    files = [write_activity(metrics["activity"], out_dir / ACTIVITY_FILE)]
    storage.write_json(out_dir / METRICS_FILE, summary)
    files.append(out_dir / METRICS_FILE)
    if figures:
        fig_dir = storage.safe_child(run_dir, storage.FIGURES_DIR)
        activity, trajectories, pcs = metrics["activity"], metrics["trajectories"], metrics["pca"]
        n = config.model.n_units
        units = top_variance_units(trajectories, min(n_units_shown, n))
        label = f"{n}-unit network"
        drawn = {
            "variance_explained": variance_explained(pcs),
            "pc_trajectories_2d": pc_trajectories_2d(activity, pcs),
            "unit_responses": unit_responses(activity, units, scaling=metrics["scaling"], ramps=metrics["ramps"],
                                             title=f"{label}: condition-averaged responses, coloured by interval"),
            "unit_responses_normalized": unit_responses(
                activity, units, trajectories=trajectories, scaling=metrics["scaling"], ramps=metrics["ramps"],
                title=f"{label}: responses in normalised time (one curve = perfect scaling)",
            ),
            "eigenvalues": eigenvalue_spectrum(metrics["spectrum"]),
            "scaling_index": scaling_histogram(metrics["scaling"], pcs=metrics["scaling_pcs"]),
        }
        if pcs.components.shape[0] >= 3:
            drawn["pc_trajectories_3d"] = pc_trajectories_3d(activity, pcs)
        files += [save_figure(fig, fig_dir / f"{name}.png") for name, fig in drawn.items()]
    return {**summary, "files": [str(path) for path in files]}
