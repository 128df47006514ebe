"""Condition-averaged activity aligned to Set, and its time-normalised Set -> Go trajectories.

For each interval c of the task, `n_trials` trials are simulated with cue-to-Set delays spread
evenly over the task's delay range (as in the validation batch). Each trial's rates r = tanh(x)
and outputs z are cut out on a common grid of times relative to its own Set onset,

    t_k = k * dt_ms,  k = -before_set_ms / dt_ms, ..., after_set_ms / dt_ms,

and averaged over the trials of the interval: r_c(t) = < r(t_set + t) >_trials. Every trial is
long enough for the whole grid (the default window ends at the longest interval plus the task's
`tail_ms`), so there are no missing values.

Noise. With `key=None` (the default) the trials are noise-free (no recurrent noise, no cue
noise); they differ only in their cue-to-Set delay. The result is deterministic and a permutation
of the network's units permutes the activity exactly. With a PRNG key, every trial also gets the
network's recurrent noise (`model.sigma_rec`) and the task's cue noise, and the average is a
trial-averaged PSTH as in Wang, Narain, Hosseini & Jazayeri 2018 (Nat Neurosci 21:102).

The produced interval of each trial is the first threshold crossing of the output after Set
(`analysis.behavior.produced_intervals_ms`); `produced_ms` is its mean over the trials of an
interval that crossed.

Time normalisation (Wang et al. 2018). Each interval's Set -> produced-Go window [0, P_c] is
resampled onto a common phase grid phi in [0, 1], r_c(phi) = r_c(phi * P_c), by linear
interpolation between time steps. P_c is the produced interval; where an interval produced no
crossing inside the window, its target interval is used instead, and the coordinate
`normalized_by_target` says so.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from rnncondense.analysis.behavior import produced_intervals_ms
from rnncondense.config import RunConfig
from rnncondense.errors import ConfigError, UserError
from rnncondense.rnn import Params, check_finite_trajectory, simulate
from rnncondense.tasks import make_task

__all__ = [
    "TaskSignature",
    "task_signature",
    "check_same_task",
    "condition_activity",
    "time_normalized",
]

ACTIVITY_FORMAT = "rnncondense-activity-1"


class TaskSignature(NamedTuple):
    """What two analyses must share to be compared: task name, time step and intervals."""

    name: str
    dt_ms: float
    intervals_ms: tuple[float, ...]


def task_signature(data: xr.Dataset | xr.DataArray) -> TaskSignature:
    """The task an activity Dataset (or a time-normalised DataArray) was recorded on."""
    attrs = data.attrs
    try:
        return TaskSignature(
            name=str(attrs["task_name"]),
            dt_ms=float(attrs["dt_ms"]),
            intervals_ms=tuple(float(v) for v in np.atleast_1d(attrs["intervals_ms"])),
        )
    except KeyError as missing:
        raise UserError(f"activity data lacks the attribute {missing}; compute it with condition_activity") from None


def check_same_task(a: TaskSignature, b: TaskSignature) -> None:
    """Raise a one-line UserError naming the first field in which two tasks differ."""
    if a.name != b.name:
        raise UserError(f"the two networks were run on different tasks: task name '{a.name}' vs '{b.name}'")
    if a.dt_ms != b.dt_ms:
        raise UserError(f"the two networks were run on different tasks: dt_ms {a.dt_ms:g} vs {b.dt_ms:g}")
    if len(a.intervals_ms) != len(b.intervals_ms) or not np.allclose(a.intervals_ms, b.intervals_ms, rtol=0, atol=1e-6):
        fmt = lambda v: "[" + ", ".join(f"{x:g}" for x in v) + "]"  # noqa: E731
        raise UserError(
            f"the two networks were run on different tasks: intervals_ms {fmt(a.intervals_ms)} vs {fmt(b.intervals_ms)}"
        )


def _steps(ms: float, dt_ms: float) -> int:
    return int(round(ms / dt_ms))


def condition_activity(
    params: Params,
    config: RunConfig,
    *,
    key: jax.Array | None = None,
    n_trials: int = 8,
    before_set_ms: float = 200.0,
    after_set_ms: float | None = None,
) -> xr.Dataset:
    """Condition-averaged rates and outputs per interval, aligned to Set.

    Args:
        params: a network of N units for the task of `config` (N need not be
            `config.model.n_units`: condensed networks keep their original config).
        config: the run configuration (task, tau_ms, sigma_rec).
        key: PRNG key for recurrent and cue noise; None simulates noise-free trials.
        n_trials: trials per interval, with cue-to-Set delays evenly spread over
            `task.set_delay_ms`.
        before_set_ms: length of the pre-Set part of the window (ms); at most the earliest Set time.
        after_set_ms: end of the window after Set (ms); default longest interval + `task.tail_ms`.

    Returns:
        Dataset with dims (interval: C, time: L, unit: N, readout: O):
          rate (interval, time, unit)      condition-averaged r = tanh(x), float32
          output (interval, time, readout) condition-averaged z, float32
          produced_ms (interval)           mean produced interval of the trials that crossed (ms)
          miss_fraction (interval)         fraction of trials whose output never crossed 1
        coordinates interval (target interval, ms), time (ms from Set onset), unit, readout,
        and attrs task_name, task_config (JSON), intervals_ms, dt_ms, tau_ms, n_units,
        n_trials, noise ("none" or "recurrent+cue"), sigma_rec, before_set_ms, after_set_ms.
    """
    task_config = config.task
    if task_config.name != "cue_set_go":
        raise ConfigError(f"task.name = {task_config.name!r}: condition-averaged activity aligned to Set needs cue_set_go "
                          "(a task of trials from a file: analysis.array_activity)")
    dt = task_config.dt_ms
    if not isinstance(n_trials, (int, np.integer)) or isinstance(n_trials, bool) or not 1 <= n_trials <= 1000:
        raise ConfigError(f"n_trials = {n_trials!r} is not allowed: it must be an integer in [1, 1000]")
    n_units = int(params.W_rec.shape[0])
    task = make_task(task_config)
    n_intervals = len(task.intervals_ms)

    delay_low, delay_high = (_steps(ms, dt) for ms in task_config.set_delay_ms)
    delays = np.round(np.linspace(delay_low, delay_high, n_trials)).astype(np.int32)
    cue_step = _steps(task_config.cue_onset_ms, dt)
    earliest_set_ms = (cue_step + delay_low) * dt
    latest_set_step = cue_step + delay_high
    longest_after_ms = (task.n_steps - 1 - latest_set_step) * dt
    if not 0 <= before_set_ms <= earliest_set_ms:
        raise ConfigError(
            f"before_set_ms = {before_set_ms!r} is not allowed: it must be in [0, {earliest_set_ms:g}] "
            "(the earliest Set time of the task)"
        )
    if after_set_ms is None:
        after_set_ms = min(max(task_config.intervals_ms) + task_config.tail_ms, longest_after_ms)
    if not 0 < after_set_ms <= longest_after_ms:
        raise ConfigError(
            f"after_set_ms = {after_set_ms!r} is not allowed: it must be in (0, {longest_after_ms:g}] "
            "(the time every trial lasts after Set)"
        )

    interval_index = np.repeat(np.arange(n_intervals), n_trials)
    delay_steps = np.tile(delays, n_intervals)
    n_batch = len(interval_index)
    if key is None:
        cue_noise, rec_key, sigma_rec, noise = None, None, 0.0, "none"
    else:
        cue_key, rec_key = jax.random.split(key)
        cue_noise = task_config.cue_noise_std * jax.random.normal(cue_key, (n_batch, task.n_steps))
        sigma_rec, noise = float(config.model.sigma_rec), "recurrent+cue"
    batch = task.trials(jnp.asarray(interval_index), jnp.asarray(delay_steps), cue_noise)
    trajectory = simulate(params, batch.inputs, rec_key, alpha=config.alpha, sigma_rec=sigma_rec, dynamics=config.dynamics)
    check_finite_trajectory(
        {"states": trajectory.states, "outputs": trajectory.outputs}, dt_ms=dt,
        trial_label=lambda b: f"trial {b % n_trials} of interval {float(task.intervals_ms[interval_index[b]]):g} ms",
    )
    rates = np.asarray(trajectory.rates)
    outputs = np.asarray(trajectory.outputs)
    set_time_ms = np.asarray(batch.set_time_ms, dtype=np.float64)

    produced = produced_intervals_ms(outputs[..., 0], set_time_ms, dt).reshape(n_intervals, n_trials)
    hit = np.isfinite(produced)
    produced_ms = np.array([row[ok].mean() if ok.any() else np.nan for row, ok in zip(produced, hit)])

    offsets = np.arange(-_steps(before_set_ms, dt), _steps(after_set_ms, dt) + 1)
    set_step = np.rint(set_time_ms / dt).astype(np.int64)
    index = set_step[:, None] + offsets[None, :]  # (B, L), inside every trial by the checks above
    rows = np.arange(n_batch)[:, None]
    shape = (n_intervals, n_trials, len(offsets))
    rate = rates[rows, index].reshape(*shape, n_units).mean(axis=1, dtype=np.float64)
    output = outputs[rows, index].reshape(*shape, outputs.shape[-1]).mean(axis=1, dtype=np.float64)

    ms = {"units": "ms"}
    return xr.Dataset(
        data_vars={
            "rate": (("interval", "time", "unit"), rate.astype(np.float32), {"long_name": f"mean rate {config.model.nonlinearity}(x)" if config.model.form == "current" else "mean rate r"}),
            "output": (("interval", "time", "readout"), output.astype(np.float32), {"long_name": "mean output z"}),
            "produced_ms": ("interval", produced_ms, {**ms, "long_name": "mean produced interval"}),
            "miss_fraction": ("interval", 1.0 - hit.mean(axis=1), {"long_name": "fraction of trials that missed"}),
        },
        coords={
            "interval": ("interval", task.intervals_ms.astype(np.float64), {**ms, "long_name": "target interval"}),
            "time": ("time", offsets * dt, {**ms, "long_name": "time from Set onset"}),
            "unit": ("unit", np.arange(n_units)),
            "readout": ("readout", np.arange(outputs.shape[-1])),
        },
        attrs={
            "format": ACTIVITY_FORMAT,
            "task_name": task_config.name,
            "task_config": json.dumps(task_config.model_dump(mode="json"), sort_keys=True),
            "intervals_ms": task.intervals_ms.astype(np.float64),
            "dt_ms": float(dt),
            "tau_ms": float(config.model.tau_ms),
            "n_units": n_units,
            "n_trials": int(n_trials),
            "noise": noise,
            "sigma_rec": sigma_rec,
            "before_set_ms": float(-offsets[0] * dt),
            "after_set_ms": float(offsets[-1] * dt),
        },
    )


def time_normalized(
    activity: xr.Dataset, *, n_phase: int = 50, normalize_by: str = "produced"
) -> xr.DataArray:
    """Each interval's Set -> Go window resampled onto a common phase grid.

    r_c(phi) = r_c(phi * P_c) for phi = 0, 1/(n_phase - 1), ..., 1, with P_c the produced
    interval of condition c (`normalize_by="produced"`, Wang et al. 2018) or its target interval
    (`normalize_by="target"`), by linear interpolation between time steps (exact where phi * P_c
    falls on a step). A condition without a crossing inside the window is normalised by its
    target interval and flagged in the coordinate `normalized_by_target`.

    Args:
        activity: a Dataset from `condition_activity` (or one read back by `read_activity`).
    Returns:
        DataArray (interval: C, phase: n_phase, unit: N) in float64, with coordinates
        window_ms (interval) = P_c and normalized_by_target (interval), and the Dataset's attrs.
    """
    if not isinstance(n_phase, (int, np.integer)) or isinstance(n_phase, bool) or not 2 <= n_phase <= 10_000:
        raise ConfigError(f"n_phase = {n_phase!r} is not allowed: it must be an integer in [2, 10000]")
    if normalize_by not in ("produced", "target"):
        raise ConfigError(f"normalize_by = {normalize_by!r} is not allowed: choose 'produced' or 'target'")
    time = np.asarray(activity["time"], dtype=np.float64)
    target = np.asarray(activity["interval"], dtype=np.float64)
    dt = float(activity.attrs["dt_ms"])
    produced = np.asarray(activity["produced_ms"], dtype=np.float64)
    usable = np.isfinite(produced) & (produced > 0) & (produced <= time[-1])
    by_target = np.ones_like(usable) if normalize_by == "target" else ~usable
    window = np.where(by_target, target, produced)
    if time[0] > 0:
        raise UserError(f"the activity window starts {time[0]:g} ms after Set; it must include Set (time 0)")
    if np.any(window > time[-1]):
        raise UserError(f"the activity window ends at {time[-1]:g} ms after Set, before the longest interval")

    phase = np.linspace(0.0, 1.0, n_phase)
    position = (phase[None, :] * window[:, None] - time[0]) / dt  # fractional step index (C, P)
    lower = np.clip(np.floor(position).astype(np.int64), 0, len(time) - 1)
    upper = np.minimum(lower + 1, len(time) - 1)
    weight = (position - lower)[..., None]
    rate = np.asarray(activity["rate"], dtype=np.float64)
    rows = np.arange(len(target))[:, None]
    resampled = (1.0 - weight) * rate[rows, lower] + weight * rate[rows, upper]
    return xr.DataArray(
        resampled,
        dims=("interval", "phase", "unit"),
        coords={
            "interval": activity["interval"].values,
            "phase": phase,
            "unit": activity["unit"].values,
            "window_ms": ("interval", window),
            "normalized_by_target": ("interval", by_target.astype(bool)),
        },
        name="rate",
        attrs={**activity.attrs, "normalize_by": normalize_by},
    )
