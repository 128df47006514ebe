"""How a trained Cue-Set-Go network computes, in a few numbers: its fixed points per context.

Sussillo & Barak 2013; Maheswaranathan et al. 2019 (fixed-point topology is what networks of
different architectures share, where their geometry differs). `network_fixed_points` simulates
the network's noise-free condition trials (one per interval), holds each interval's cue level
with no Set (a context, `fixed_points.held_inputs`), and finds that context's fixed and slow
points from starts drawn on the trajectories after cue onset (`fixed_points.context_fixed_points`).
It returns the per-context result, the trajectories (for the figure) and JSON-ready numbers:

    n_fixed_points          points per context (mean over the analysed contexts)
    n_stable_points         stable points per context (mean)
    n_saddles               saddles per context (mean)
    slow_manifold_dim       largest over contexts of the PCs for 95 % of the points' variance
                            (0: isolated points, 1: a line of points, 2: a ring)
    slowest_time_constant_ms   median over contexts of the slowest mode's dt / |ln|mu|| (ms)
    fixed_points            per context: interval_ms, n_stable, n_saddle, n_unstable,
                            slow_manifold_dim, slowest_time_constant_ms, and the settings

Presets (measured on the quick study's trained 60-unit network, on 2 shared cores; CPU seconds of
the first call in a process, compilation included, and of a later one):

    full     every interval, 64 starts, 1000 Adam steps            10.4 s, 1.8 s
    quick    every interval, 16 starts, 200 Adam steps, shared     5.0 s, 0.5 s  (rnncondense analyze)
    records  3 intervals (shortest, middle, longest), as quick     4.0 s, 0.25 s (condensation steps, sweeps)

quick found the same points as full on that network (one per context, the same classes, time
constants equal to 1e-9 relative); full took 19.9 s for a 200-unit network
(benchmarks/bench_fixed_points.py). Most of a first call is XLA compiling the search for the
network's shape, so quick and records pad the network with inert units to 64, 128, 256, ... units
(`fixed_points.padded_network`; exact) and polish 16 points at once: a condensation's steps and a
sweep's sizes then share one or two compiled programs, which the persistent compilation cache
also keeps for later processes.

Only the network's default dynamics (current form, tanh; `rnn.step`) are analysed, and only tasks
with a context cue (`cue_levels`); for others the numbers are None.
"""

from __future__ import annotations

import functools
import json
from typing import Any, NamedTuple

import jax
import numpy as np

from rnncondense.analysis.fixed_points import ContextFixedPoints, context_fixed_points, held_inputs, padded_network
from rnncondense.config import TASK_CONFIGS, RunConfig
from rnncondense.errors import ConfigError
from rnncondense.metrics import DYNAMICS_METRICS
from rnncondense.rnn import CURRENT_TANH, Params, simulate
from rnncondense.tasks import make_task

__all__ = ["FixedPointSettings", "FULL", "QUICK", "RECORDS", "PRESETS", "fixed_point_settings", "NetworkDynamics",
           "network_fixed_points", "FIXED_POINT_NUMBERS", "empty_numbers", "subnetwork"]

FIXED_POINT_NUMBERS = DYNAMICS_METRICS  # the registry's names (metrics.py)


class FixedPointSettings(NamedTuple):
    """How hard to look for fixed points (see `fixed_points.find_fixed_points`)."""

    contexts: int | None = None  # None: every interval; else this many, spread evenly (shortest and longest first)
    n_starts: int = 64  # starts per context
    adam_steps: int = 1000
    noise_std: float = 0.1  # of the starts around the trajectories' states
    seed: int = 0  # of the starts
    # pad the network with inert units to a power of two (>= PAD_MIN units) and polish at least 16
    # points at once, so that networks of many sizes (a condensation's steps, a sweep) share a few
    # compiled programs
    shared_programs: bool = False

    def record(self) -> dict[str, Any]:
        return dict(self._asdict())


PAD_MIN = 64  # padded networks have 64, 128, 256, ... units

FULL = FixedPointSettings()
QUICK = FixedPointSettings(n_starts=16, adam_steps=200, shared_programs=True)
RECORDS = QUICK._replace(contexts=3)
PRESETS = {"full": FULL, "quick": QUICK, "records": RECORDS}


def fixed_point_settings(name: str | FixedPointSettings | None) -> FixedPointSettings | None:
    """The settings of a preset name ("full", "quick", "records"), given settings, or None."""
    if name is None or isinstance(name, FixedPointSettings):
        return name
    if name not in PRESETS:
        raise ConfigError(f"fixed_points (--fixed-points) = {name!r} is not allowed: choose one of {', '.join(PRESETS)} or none")
    return PRESETS[name]


class NetworkDynamics(NamedTuple):
    """The fixed points of a network's contexts and what the figures need."""

    result: ContextFixedPoints
    intervals_ms: np.ndarray  # (C,) the interval of each analysed context
    states: np.ndarray  # (C, T, N) noise-free trajectory of each analysed context's trial, from cue onset
    numbers: dict[str, Any]  # FIXED_POINT_NUMBERS and "fixed_points" (per context), JSON-ready


def empty_numbers(reason: str) -> dict[str, Any]:
    """The numbers of a network whose fixed points were not looked for, and why."""
    return {**dict.fromkeys(FIXED_POINT_NUMBERS), "fixed_points": {"skipped": reason}}


def chosen_contexts(n_intervals: int, contexts: int | None) -> np.ndarray:
    """Indices of the analysed intervals: all, or `contexts` of them spread evenly from the first to the last."""
    if contexts is None or contexts >= n_intervals:
        return np.arange(n_intervals)
    return np.unique(np.linspace(0, n_intervals - 1, max(int(contexts), 1)).round().astype(int))


def subnetwork(params: Params, units: np.ndarray) -> Params:
    """The network of `units` only; exact when the other units have no outgoing weights (a
    condensation's removed units)."""
    units = np.asarray(units, dtype=int)
    return Params(
        W_rec=np.asarray(params.W_rec)[np.ix_(units, units)], W_in=np.asarray(params.W_in)[units],
        b=np.asarray(params.b)[units], W_out=np.asarray(params.W_out)[:, units], b_out=np.asarray(params.b_out),
        x0=np.asarray(params.x0)[units],
    )


def _float(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


@functools.lru_cache(maxsize=8)
def _condition_trials(task_json: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(inputs (C, T, I) of one noise-free trial per interval, cue levels, intervals (ms), dt (ms)) of
    the task, or None for a task without a context cue. Kept for the last few tasks: each task object
    compiles its own trial generator, and a condensation asks for the same task's trials at every step."""
    data = json.loads(task_json)
    task = make_task(TASK_CONFIGS[data.get("name", "cue_set_go")].model_validate(data))
    if not hasattr(task, "cue_levels"):
        return None
    return (np.asarray(task.condition_batch().inputs), np.asarray(task.cue_levels, dtype=np.float64),
            np.asarray(task.intervals_ms, dtype=np.float64), float(task.dt_ms))


def network_fixed_points(params: Params, config: RunConfig, settings: FixedPointSettings = FULL) -> NetworkDynamics | None:
    """Fixed points of the network of `config` for each analysed context, and their summaries.

    Returns None when the network cannot be analysed here (other dynamics than current-form
    tanh, or a task without a context cue); `empty_numbers` then gives its numbers.
    """
    if config.dynamics != CURRENT_TANH:
        return None
    trials = _condition_trials(config.task.model_dump_json())
    if trials is None:
        return None
    inputs_all, cue_levels, intervals_ms, dt_ms = trials
    chosen = chosen_contexts(len(intervals_ms), settings.contexts)
    n_units = int(np.shape(params.W_rec)[0])
    shared, simulated = {}, params
    if settings.shared_programs:  # the inert units of the padded network stay at x = 0 in the simulation too
        shared = {"pad_to": max(PAD_MIN, 1 << (n_units - 1).bit_length()), "polish_batch": min(settings.n_starts, 16)}
        simulated = padded_network(Params(*(np.asarray(a) for a in params)), shared["pad_to"])
    states = np.asarray(simulate(simulated, inputs_all, alpha=config.alpha).states, dtype=np.float64)[..., :n_units]
    states = states[chosen, int(round(config.task.cue_onset_ms / dt_ms)):]
    inputs = held_inputs(cue_levels[chosen], n_inputs=np.shape(params.W_in)[1])
    result = context_fixed_points(
        params, inputs, states, jax.random.PRNGKey(settings.seed), alpha=config.alpha, dt_ms=dt_ms,
        n_starts=settings.n_starts, noise_std=settings.noise_std, adam_steps=settings.adam_steps, **shared,
    )
    intervals = intervals_ms[chosen]
    n_points = np.asarray([fp.q.size for fp in result.per_context])
    taus = result.slowest_time_constant_ms
    numbers = {
        "n_fixed_points": float(n_points.mean()),
        "n_stable_points": float(result.n_stable.mean()),
        "n_saddles": float(result.n_saddle.mean()),
        "slow_manifold_dim": int(result.slow_manifold_dim.max()),
        "slowest_time_constant_ms": _float(np.median(taus[~np.isnan(taus)])) if (~np.isnan(taus)).any() else None,
        "fixed_points": {
            "interval_ms": intervals.tolist(),
            "n_points": n_points.tolist(),
            "n_stable": result.n_stable.tolist(),
            "n_saddle": result.n_saddle.tolist(),
            "n_unstable": result.n_unstable.tolist(),
            "slow_manifold_dim": result.slow_manifold_dim.tolist(),
            "slowest_time_constant_ms": [_float(t) for t in taus],
            "settings": settings.record(),
        },
    }
    return NetworkDynamics(result, intervals, states, numbers)
