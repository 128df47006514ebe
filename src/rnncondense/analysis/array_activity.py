"""Condition-averaged activity and solution type of a network on a task of trials from a file.

A task given as arrays (tasks/arrays.py, e.g. sampled from NeuroGym) has no Set, no Go and no
intervals, only trials with a condition label that share one time axis, step k at k * dt_ms from
trial start. Its condition-averaged activity is the mean over every trial of the file (training
and validation parts: it describes the solution, it does not test it) with label c,

    r_c(t) = < r_b(t) >_{b : condition_b = c},    z_c(t) likewise for the output,

aligned to trial start, noise-free unless a key is given (then with the network's recurrent noise,
`model.sigma_rec`). The plain mean is taken over all steps, padding included: a NeuroGym trial
shorter than the file's longest is padded with zero input (mask 0), and the network's relaxation
there is part of its activity; the mask weighs errors, it is not a trial's length.

On those trajectories (condition, time, unit), flattened to samples (C T, N):

    pcs_90, participation_ratio       PCA (`analysis.pca`)
    spectral_radius, max_real_eigenvalue   of W_rec (`analysis.spectrum`)

while the metrics that need Cue-Set-Go's structure, the scaling index (time normalised by the
produced interval), the ramp fraction (the Set -> Go response) and the produced interval, are not
applicable: `numbers` gives them as None and lists them under `not_applicable`.

`array_similarity` compares two networks (any sizes) on the same file as `similarity` does on
Cue-Set-Go (Procrustes headline, CCA), on the condition-averaged trajectories in time from trial
start instead of normalised time.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import xarray as xr

from rnncondense.analysis.activity import ACTIVITY_FORMAT
from rnncondense.analysis.pca import pca, project
from rnncondense.analysis.similarity import HEADLINE, Similarity, cca_similarity, procrustes_similarity
from rnncondense.analysis.spectrum import recurrent_spectrum
from rnncondense.config import RunConfig
from rnncondense.errors import ConfigError, UserError
from rnncondense.rnn import Params, check_finite_trajectory, simulate
from rnncondense.tasks import make_task
from rnncondense.tasks.arrays import ArrayBatch

__all__ = ["NOT_APPLICABLE_SOLUTION", "array_activity", "array_solution_numbers", "array_similarity", "all_trials"]

# Solution-type metrics built on Cue-Set-Go's structure: None ("not applicable") for a file of trials
NOT_APPLICABLE_SOLUTION = ("scaling_index", "scaling_index_pcs", "ramp_fraction", "produced_ms", "miss_fraction")


def all_trials(task) -> ArrayBatch:
    """The training and validation trials of an ArrayTask, together."""
    return ArrayBatch(*(np.concatenate([np.asarray(a), np.asarray(b)]) for a, b in zip(task.training, task.validation)))


def array_activity(params: Params, config: RunConfig, *, key: jax.Array | None = None) -> xr.Dataset:
    """Condition-averaged rates and outputs of every condition of the file (module docstring).

    Returns:
        Dataset with dims (condition: C, time: T, unit: N, readout: O): rate (condition, time, unit),
        output and target (condition, time, readout), float32; coordinates condition (label),
        time (ms from trial start), unit, readout; attrs format, task_name, task_config, dt_ms,
        tau_ms, n_units, noise, sigma_rec, form, nonlinearity.
    """
    if config.task.name != "arrays":
        raise ConfigError(f"task.name = {config.task.name!r}: array_activity takes a task of trials from a file (arrays)")
    task = make_task(config.task)
    trials = all_trials(task)
    sigma_rec, noise = (0.0, "none") if key is None else (float(config.model.sigma_rec), "recurrent")
    trajectory = simulate(params, trials.inputs, key, alpha=config.alpha, sigma_rec=sigma_rec, dynamics=config.dynamics)
    check_finite_trajectory({"states": trajectory.states, "outputs": trajectory.outputs}, dt_ms=task.dt_ms,
                            what="the network on the task's trials")
    rates, outputs = np.asarray(trajectory.rates, np.float64), np.asarray(trajectory.outputs, np.float64)
    labels = np.asarray(trials.condition)
    conditions = np.unique(labels)
    mean = lambda a: np.stack([a[labels == c].mean(axis=0) for c in conditions]).astype(np.float32)  # noqa: E731
    n_units = int(params.W_rec.shape[0])
    return xr.Dataset(
        data_vars={
            "rate": (("condition", "time", "unit"), mean(rates), {"long_name": "mean rate"}),
            "output": (("condition", "time", "readout"), mean(outputs), {"long_name": "mean output z"}),
            "target": (("condition", "time", "readout"), mean(np.asarray(trials.targets, np.float64)),
                       {"long_name": "mean target"}),
        },
        coords={
            "condition": ("condition", conditions.astype(np.int64)),
            "time": ("time", np.arange(rates.shape[1]) * task.dt_ms, {"units": "ms", "long_name": "time from trial start"}),
            "unit": ("unit", np.arange(n_units)),
            "readout": ("readout", np.arange(outputs.shape[-1])),
        },
        attrs={
            "format": ACTIVITY_FORMAT,
            "task_name": config.task.name,
            "task_config": json.dumps(config.task.model_dump(mode="json"), sort_keys=True),
            "dt_ms": float(task.dt_ms),
            "tau_ms": float(config.model.tau_ms),
            "n_units": n_units,
            "noise": noise,
            "sigma_rec": sigma_rec,
            "form": config.model.form,
            "nonlinearity": config.model.nonlinearity,
        },
    )


def array_solution_numbers(params: Params, activity: xr.Dataset, *, k: int, spectrum: bool = True,
                           units: np.ndarray | None = None) -> tuple[dict, object, np.ndarray, object]:
    """(numbers, PCA, top-k PC scores (C, T, k), spectrum or None) of a network's array activity;
    `units` (default all) are the indices of W_rec that belong to the network."""
    x = activity["rate"].values.astype(np.float64)
    pcs = pca(x)
    if k > pcs.components.shape[0]:
        raise ConfigError(f"k = {k} is not allowed: only {pcs.components.shape[0]} PCs exist for this activity")
    scores = project(pcs, x, k=k)
    w = np.asarray(params.W_rec) if units is None else np.asarray(params.W_rec)[np.ix_(units, units)]
    eigen = recurrent_spectrum(w) if spectrum else None
    numbers = {
        "n_units": int(x.shape[-1]),
        "pcs_90": int(pcs.pcs_90),
        "participation_ratio": float(pcs.participation_ratio) if np.isfinite(pcs.participation_ratio) else None,
        "variance_explained": [float(v) for v in pcs.explained_variance_ratio[:10]],
        "spectral_radius": None if eigen is None else eigen.spectral_radius,
        "max_real_eigenvalue": None if eigen is None else eigen.max_real,
        **dict.fromkeys(NOT_APPLICABLE_SOLUTION),
        "not_applicable": list(NOT_APPLICABLE_SOLUTION),
        "settings": {"k": int(k), "noise": activity.attrs["noise"], "activity": "condition means over all trials, "
                     "aligned to trial start", "similarity_headline": HEADLINE},
    }
    return numbers, pcs, scores, eigen


def array_similarity(a: xr.DataArray, b: xr.DataArray, *, k: int = 3) -> Similarity:
    """Procrustes (headline) and CCA similarity of two networks' condition-averaged rates
    (condition, time, unit) on the same file of trials, in their top-k PC spaces (`similarity`)."""
    if a.shape[:2] != b.shape[:2] or not np.array_equal(a["condition"].values, b["condition"].values):
        raise UserError(f"the two networks were run on different trials: {a.shape[:2]} vs {b.shape[:2]} (condition, time)")
    n_samples = a.shape[0] * a.shape[1]
    k_max = min(a.shape[2], b.shape[2], n_samples)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= k_max:
        raise ConfigError(f"k = {k!r} is not allowed: it must be an integer in [1, {k_max}]")
    xa, xb = a.values.reshape(n_samples, -1), b.values.reshape(n_samples, -1)
    scores_a, scores_b = project(pca(xa), xa, k=int(k)), project(pca(xb), xb, k=int(k))
    cca, rho = cca_similarity(scores_a, scores_b)
    return Similarity(procrustes_similarity(scores_a, scores_b), cca, rho, int(k))
