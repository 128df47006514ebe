"""Behaviour on Cue-Set-Go: produced intervals and the task metrics of the whole project.

The produced interval of a trial is the first time after Set that the output reaches the
threshold 1, interpolated linearly between the two time steps around the crossing, minus the Set
time. A trial whose output never reaches 1 after Set is a miss.

Metrics (names used everywhere):
    mse               masked mean squared error on the validation batch
    produced_ms       mean produced interval per target interval (NaN where every trial missed)
    timing_mae_ms     mean |produced - target| over trials that crossed
    timing_rel_error  mean |produced - target| / target over trials that crossed
    miss_rate         fraction of trials that never crossed
    success           timing_rel_error <= 0.05 and miss_rate == 0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rnncondense.metrics import SUCCESS_REL_ERROR
from rnncondense.rnn import CURRENT_TANH, Dynamics, Params, check_finite_trajectory, simulate, simulate_outputs
from rnncondense.tasks.cue_set_go import CueSetGo, TrialBatch

THRESHOLD = 1.0


def produced_intervals_ms(
    outputs: np.ndarray, set_time_ms: np.ndarray, dt_ms: float, *, threshold: float = THRESHOLD
) -> np.ndarray:
    """Produced interval per trial, NaN for a miss.

    Args:
        outputs: (B, T) output z_t with step k at time k * dt_ms.
        set_time_ms: (B,) Set onset, a multiple of dt_ms.
        dt_ms: time step.
    Returns:
        (B,) first time after Set at which z reaches `threshold`, minus the Set time, in ms.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 2:
        raise ValueError(f"outputs must be (trials, steps), got shape {outputs.shape}")
    n_trials, n_steps = outputs.shape
    set_step = np.rint(np.asarray(set_time_ms, dtype=np.float64) / dt_ms).astype(np.int64)
    k = np.arange(n_steps)
    above = (outputs >= threshold) & (k[None, :] >= set_step[:, None])
    hit = above.any(axis=1)
    first = np.where(hit, above.argmax(axis=1), 0)
    rows = np.arange(n_trials)
    z_after = outputs[rows, first]
    z_before = outputs[rows, np.maximum(first - 1, 0)]
    at_set = first <= set_step  # already at threshold when Set arrives
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(at_set, 0.0, (threshold - z_before) / (z_after - z_before))
    crossing_ms = (first - 1 + frac) * dt_ms
    produced = np.where(at_set, 0.0, crossing_ms - set_step * dt_ms)
    return np.where(hit, produced, np.nan)


@dataclass(frozen=True)
class BehaviorMetrics:
    mse: float
    intervals_ms: list[float]
    produced_ms: list[float]
    produced_sd_ms: list[float]
    timing_mae_ms: float
    timing_rel_error: float
    miss_rate: float
    success: bool
    n_trials: int

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"mse {self.mse:.2e}  timing_mae_ms {self.timing_mae_ms:.1f}  "
            f"timing_rel_error {self.timing_rel_error:.3f}  miss_rate {self.miss_rate:.2f}  success {self.success}"
        )


def masked_mse(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """sum_bt mask_bt |z_bt - y_bt|^2 / (sum_bt mask_bt * O) for outputs and targets (B, T, O):
    the training objective and the validation `mse`. An empty mask has no error: 0, with a finite
    gradient (a part of a batch may have none, `hessian_free._in_parts`)."""
    squared = jnp.sum((outputs - targets) ** 2, axis=-1)
    total = jnp.sum(mask)
    return jnp.sum(mask * squared) / (jnp.where(total > 0, total, 1.0) * outputs.shape[-1])


def behavior_metrics(
    outputs: np.ndarray, batch: TrialBatch, intervals_ms: np.ndarray, dt_ms: float
) -> BehaviorMetrics:
    """Task metrics for outputs (B, T, 1) of a batch of Cue-Set-Go trials."""
    outputs = np.asarray(outputs)
    produced = produced_intervals_ms(outputs[..., 0], np.asarray(batch.set_time_ms), dt_ms)
    target = np.asarray(batch.interval_ms, dtype=np.float64)
    index = np.asarray(batch.interval_index)
    hit = ~np.isnan(produced)
    error = np.abs(produced - target)
    per_interval = [produced[(index == i) & hit] for i in range(len(intervals_ms))]
    mae = float(error[hit].mean()) if hit.any() else float("nan")
    rel = float((error[hit] / target[hit]).mean()) if hit.any() else float("nan")
    miss_rate = float(1.0 - hit.mean())
    return BehaviorMetrics(
        mse=float(masked_mse(jnp.asarray(outputs), batch.targets, batch.mask)),
        intervals_ms=[float(i) for i in intervals_ms],
        produced_ms=[float(p.mean()) if p.size else float("nan") for p in per_interval],
        produced_sd_ms=[float(p.std()) if p.size else float("nan") for p in per_interval],
        timing_mae_ms=mae,
        timing_rel_error=rel,
        miss_rate=miss_rate,
        success=bool(hit.all() and rel <= SUCCESS_REL_ERROR),
        n_trials=int(len(produced)),
    )


def _concat(batches: list[TrialBatch]) -> TrialBatch:
    return TrialBatch(*(np.concatenate([np.asarray(f) for f in fields]) for fields in zip(*batches)))


def evaluate(
    params: Params,
    task: CueSetGo,
    *,
    alpha: float,
    sigma_rec: float,
    key: jax.Array,
    repeats: int = 2,
    batch: TrialBatch | None = None,
    check_finite: bool = False,
    dynamics: Dynamics = CURRENT_TANH,
) -> BehaviorMetrics:
    """Metrics on the task's fixed validation batch, each trial run with `repeats` noise draws.

    With `check_finite`, states or outputs that turn NaN or inf raise SimulationDiverged naming the first
    time step and trial, instead of giving NaN metrics (training leaves it off: a network that
    diverges there is simply not kept).
    """
    batch = task.validation_batch() if batch is None else batch
    outputs = repeated_outputs(
        params, batch.inputs, key, repeats=repeats, alpha=alpha, sigma_rec=sigma_rec, dynamics=dynamics,
        check_finite=check_finite, dt_ms=task.dt_ms, what="the network on the validation batch",
        trial_label=lambda b, draw: f"trial {b} (interval {float(batch.interval_ms[b]):g} ms, noise draw {draw})",
    )
    return behavior_metrics(outputs, _concat([batch] * repeats), task.intervals_ms, task.dt_ms)


def repeated_outputs(
    params: Params,
    inputs: jax.Array,
    key: jax.Array,
    *,
    repeats: int,
    alpha: float,
    sigma_rec: float,
    dynamics: Dynamics,
    check_finite: bool,
    dt_ms: float,
    what: str,
    trial_label: Callable[[int, int], str] = lambda trial, draw: f"trial {trial} (noise draw {draw})",
) -> np.ndarray:
    """(repeats x B, T, O) outputs of the trials `inputs` (B, T, I), once per noise draw of
    jax.random.split(key, repeats), the draws one after another. With `check_finite`, states or
    outputs that turn NaN or inf raise SimulationDiverged naming `what`, the first bad step and
    `trial_label(trial, draw)`."""
    outputs = []
    for draw, k in enumerate(jax.random.split(key, repeats)):
        if not check_finite:
            outputs.append(np.asarray(simulate_outputs(params, inputs, k, alpha=alpha, sigma_rec=sigma_rec, dynamics=dynamics)))
            continue
        trajectory = simulate(params, inputs, k, alpha=alpha, sigma_rec=sigma_rec, dynamics=dynamics)
        check_finite_trajectory({"states": trajectory.states, "outputs": trajectory.outputs}, dt_ms=dt_ms, what=what,
                                trial_label=lambda b, draw=draw: trial_label(b, draw))
        outputs.append(np.asarray(trajectory.outputs))
    return np.concatenate(outputs)
