"""The metric registry: every metric's name, label, unit, natural range and format, in one place.

The command line, the report, the sweep tables, the plots and the condensation records name a
metric by its key here and take its label, unit, axis range and number format from its entry.
A natural range is the interval the metric can take (None: unbounded on that side); plots draw
a metric on it, so that a change of 1e-4 never fills a panel.

Task metrics are measured on the validation batch (`analysis.behavior.evaluate`); solution-type
metrics on condition-averaged activity (`analysis.summary.solution_metrics`).
"""

from __future__ import annotations

from typing import NamedTuple

# A network does the task when its mean relative timing error is at most this and no trial misses
# (Wang et al. 2018 judged produced intervals the same way).
SUCCESS_REL_ERROR = 0.05

# A task of trials from a file (tasks/arrays.py) has no success of its own: a condensation keeps
# it while the validation mse stays within this fraction above the original network's
# (`condense --max-mse-increase`).
DEFAULT_MAX_MSE_INCREASE = 0.2


class Metric(NamedTuple):
    name: str
    label: str  # axis and column label
    unit: str  # "" when dimensionless
    natural_range: tuple[float | None, float | None]  # what the metric can take; None: unbounded
    format: str  # format spec of one value, e.g. ".3g"
    description: str
    log_scale: bool = False
    integer: bool = False
    threshold: float | None = None  # a line worth drawing (the success threshold)

    def axis_label(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def formatted(self, value: float | None) -> str:
        return "–" if value is None else format(value, self.format)


_UNIT = (0.0, 1.0)
_POSITIVE = (0.0, None)

METRICS: dict[str, Metric] = {m.name: m for m in (
    # task (validation batch)
    Metric("success", "success", "", _UNIT, ".0f",
           f"1 when timing_rel_error <= {SUCCESS_REL_ERROR} and miss_rate == 0, else 0"),
    Metric("mse", "validation MSE", "", _POSITIVE, ".3g", "mean squared error of the output on the validation batch",
           log_scale=True),
    Metric("timing_mae_ms", "timing MAE", "ms", _POSITIVE, ".0f", "mean |produced - target| interval"),
    Metric("timing_rel_error", "timing error (relative)", "", _POSITIVE, ".3f",
           "mean |produced - target| / target over trials that crossed 1", threshold=SUCCESS_REL_ERROR),
    Metric("miss_rate", "miss rate", "", _UNIT, ".2f", "fraction of trials whose output never crosses 1"),
    Metric("output_correlation", "output correlation", "", (-1.0, 1.0), ".3f",
           "Pearson's r of output and target over the masked steps of the validation trials (tasks without timing)"),
    # solution type (condition-averaged activity)
    Metric("pcs_90", "PCs for 90 % variance", "", (1.0, None), ".0f",
           "principal components for 90 % of the variance", integer=True),
    Metric("participation_ratio", "participation ratio", "", (1.0, None), ".2f",
           "(sum of PCA eigenvalues)^2 / sum of their squares"),
    Metric("scaling_index", "scaling index (units)", "", _UNIT, ".3f",
           "population scaling index of the units (Wang et al. 2018)"),
    Metric("ramp_fraction", "ramp fraction", "", _UNIT, ".3f",
           "fraction of units whose Set-to-Go response is a monotonic ramp"),
    Metric("spectral_radius", "spectral radius of W_rec", "", _POSITIVE, ".3f", "largest |eigenvalue| of W_rec"),
    Metric("max_real_eigenvalue", "max Re λ of W_rec", "", (None, None), ".3f",
           "largest real part of the eigenvalues of W_rec"),
    Metric("similarity_procrustes", "similarity to original (Procrustes)", "", _UNIT, ".3f",
           "Procrustes similarity of time-normalised top-k PC trajectories"),
    Metric("similarity_cca", "similarity to original (CCA)", "", _UNIT, ".3f",
           "mean canonical correlation of time-normalised top-k PC trajectories"),
    Metric("dsa_distance", "DSA distance to original", "rad", (0.0, 3.14159265), ".3f",
           "angular Procrustes distance over vector fields of the condition-averaged rates (Ostrow et al. 2023); "
           "0: the same linear dynamics up to a rotation"),
    # dynamics: fixed points with each context's cue held and no Set (`analysis.dynamics`)
    Metric("n_fixed_points", "fixed points per context", "", _POSITIVE, ".2g",
           "fixed points found per context (mean over the analysed contexts)"),
    Metric("n_stable_points", "stable points per context", "", _POSITIVE, ".2g",
           "stable fixed points per context (mean over the analysed contexts)"),
    Metric("n_saddles", "saddles per context", "", _POSITIVE, ".2g",
           "saddle points per context (mean over the analysed contexts)"),
    Metric("slow_manifold_dim", "slow-manifold dimension", "", _POSITIVE, ".0f",
           "largest over contexts of the PCs for 95 % of the variance of the fixed points' locations", integer=True),
    Metric("slowest_time_constant_ms", "slowest time constant", "ms", _POSITIVE, ".0f",
           "median over contexts of the slowest mode's time constant dt / |ln|mu|| at the fixed points",
           log_scale=True),
    # cost
    Metric("iterations", "training iterations", "", _POSITIVE, ".0f", "optimiser iterations", integer=True),
    Metric("success_iteration", "first success (iteration)", "", _POSITIVE, ".0f",
           "first iteration whose validation succeeded", integer=True),
    Metric("train_time_s", "training time", "s", _POSITIVE, ".0f", "wall time of training", log_scale=True),
    Metric("time_to_success_s", "time to success", "s", _POSITIVE, ".0f", "wall time until the first success"),
    Metric("analysis_time_s", "analysis time", "s", _POSITIVE, ".1f", "wall time of the solution-type analysis"),
    Metric("wall_s", "wall time", "s", _POSITIVE, ".0f", "wall time of a network's job, training and analysis"),
    Metric("cpu_time_s", "CPU time", "s", _POSITIVE, ".0f", "CPU time of a network's job"),
    Metric("peak_rss_mb", "peak memory", "MB", _POSITIVE, ".0f", "peak resident memory of the worker process"),
    Metric("ensemble_members", "ensemble members", "", _POSITIVE, ".0f",
           "networks trained together with this one in one compiled program (1: alone)", integer=True),
)}

TASK_METRICS = ("success", "mse", "timing_mae_ms", "timing_rel_error", "miss_rate")
SOLUTION_METRICS = ("pcs_90", "participation_ratio", "scaling_index", "ramp_fraction", "spectral_radius")
DYNAMICS_METRICS = ("n_fixed_points", "n_stable_points", "n_saddles", "slow_manifold_dim", "slowest_time_constant_ms")


def metric(name: str) -> Metric:
    """The registry entry of `name` (KeyError names the known metrics)."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
