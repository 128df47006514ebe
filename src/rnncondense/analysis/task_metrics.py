"""Task-independent behaviour metrics, for tasks without timing structure (tasks/arrays.py).

    mse                 masked mean squared error on the validation trials (as the training loss)
    mse_per_condition   the same within each condition label
    output_correlation  Pearson's r between output and target over the masked time steps of all
                        validation trials, averaged over outputs (NaN for an output whose target is
                        constant there)

`evaluate_array_task` runs each validation trial with `repeats` noise draws, as `behavior.evaluate`;
`evaluate_run_task` picks the metrics of a run's task (Cue-Set-Go's own, or these) and `CRITERIA`
says in words which.

Such a task has no timing, so it has no success of its own: training keeps the network with the
lowest validation mse, and a condensation judges "the task is still done" by a stated threshold,
mse <= (1 + max_mse_increase) * the original network's mse (`mse_criterion`, `judged`). The
metrics carry Cue-Set-Go's names where the training loop and the records read them: `success`
(None until a criterion judges it), and `miss_rate`, `timing_mae_ms`, `timing_rel_error`, which
are not applicable (NaN as attributes, None in `to_dict`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple, TypeVar

import jax
import numpy as np

from rnncondense.analysis.behavior import BehaviorMetrics, evaluate, repeated_outputs
from rnncondense.config import RunConfig
from rnncondense.rnn import CURRENT_TANH, Dynamics, Params
from rnncondense.tasks import make_task
from rnncondense.tasks.arrays import ArrayBatch, ArrayTask


@dataclass(frozen=True)
class ArrayTaskMetrics:
    mse: float
    mse_per_condition: dict[str, float]
    output_correlation: float
    n_trials: int
    success: bool | None = None  # decided by a criterion (`judged`); a file of trials has none of its own

    # Cue-Set-Go's timing metrics, read by the training loop and the condensation records: not applicable
    miss_rate = math.nan
    timing_mae_ms = math.nan
    timing_rel_error = math.nan
    produced_ms = None

    def to_dict(self) -> dict:
        return {**asdict(self), **dict.fromkeys(NOT_APPLICABLE_TASK)}

    def summary(self) -> str:
        text = f"mse {self.mse:.2e}  output_correlation {self.output_correlation:.3f}  ({self.n_trials} trials)"
        return text + (f"  success {self.success}" if self.success else "")


# Metrics that need Cue-Set-Go's timing structure: None ("not applicable") for a file of trials
NOT_APPLICABLE_TASK = ("timing_mae_ms", "timing_rel_error", "miss_rate", "produced_ms")


class MseCriterion(NamedTuple):
    """The task is kept while validation mse <= limit = (1 + max_increase) * reference_mse."""

    max_increase: float
    reference_mse: float

    @property
    def limit(self) -> float:
        return (1.0 + self.max_increase) * self.reference_mse

    def describe(self) -> str:
        return (f"validation mse at most {self.limit:.3g} = (1 + max_mse_increase {self.max_increase:g}) x the original's "
                f"{self.reference_mse:.3g} (task-independent)")


Metrics = TypeVar("Metrics", BehaviorMetrics, "ArrayTaskMetrics")


def judged(metrics: Metrics, criterion: MseCriterion | None) -> Metrics:
    """`metrics` with `success` decided by `criterion` (unchanged without one)."""
    if criterion is None:
        return metrics
    return replace(metrics, success=bool(math.isfinite(metrics.mse) and metrics.mse <= criterion.limit))


def _masked_mse(outputs: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    squared = ((outputs - targets) ** 2).sum(axis=-1)
    return float((mask * squared).sum() / (mask.sum() * outputs.shape[-1]))


def array_task_metrics(outputs: np.ndarray, batch: ArrayBatch) -> ArrayTaskMetrics:
    """Task-independent metrics of outputs (B, T, O) on a batch of array trials (module docstring)."""
    outputs = np.asarray(outputs, np.float64)
    targets, mask = np.asarray(batch.targets, np.float64), np.asarray(batch.mask, np.float64)
    condition = np.asarray(batch.condition)
    per_condition = {
        str(int(c)): _masked_mse(outputs[condition == c], targets[condition == c], mask[condition == c])
        for c in np.unique(condition)
        if mask[condition == c].sum() > 0
    }
    chosen = mask > 0
    correlations = []
    for o in range(outputs.shape[-1]):
        z, y = outputs[..., o][chosen], targets[..., o][chosen]
        correlations.append(float(np.corrcoef(z, y)[0, 1]) if z.std() > 0 and y.std() > 0 else math.nan)
    return ArrayTaskMetrics(
        mse=_masked_mse(outputs, targets, mask),
        mse_per_condition=per_condition,
        output_correlation=float(np.mean(correlations)),
        n_trials=int(outputs.shape[0]),
    )


def evaluate_array_task(
    params: Params,
    task: ArrayTask,
    *,
    alpha: float,
    sigma_rec: float,
    key: jax.Array,
    repeats: int = 2,
    dynamics: Dynamics = CURRENT_TANH,
    check_finite: bool = True,
) -> ArrayTaskMetrics:
    """Metrics on the task's validation trials, each run with `repeats` noise draws; with
    `check_finite`, a simulation that turns NaN or inf raises SimulationDiverged naming the first
    step and trial (training leaves it off: a network that diverges there is simply not kept)."""
    batch = task.validation_batch()
    outputs = repeated_outputs(params, batch.inputs, key, repeats=repeats, alpha=alpha, sigma_rec=sigma_rec,
                               dynamics=dynamics, check_finite=check_finite, dt_ms=task.dt_ms,
                               what="the network on the validation trials", trial_label=lambda b, draw: f"trial {b}")
    repeated = ArrayBatch(*(np.concatenate([np.asarray(a)] * repeats) for a in batch))
    return array_task_metrics(outputs, repeated)


CRITERIA = {
    "cue_set_go": "Cue-Set-Go task metrics (timing_rel_error, miss_rate, success)",
    "arrays": "task-independent metrics (masked mse, mse per condition, output correlation)",
}


def evaluate_run_task(params: Params, config: RunConfig, *, key: jax.Array, repeats: int) -> BehaviorMetrics | ArrayTaskMetrics:
    """The behaviour of `params` on the task of `config`, with its variant and noise: Cue-Set-Go's
    task metrics or, for trials from a file, the task-independent ones; NaN or inf raises."""
    task = make_task(config.task)
    common = dict(alpha=config.alpha, sigma_rec=config.model.sigma_rec, key=key, repeats=repeats, dynamics=config.dynamics)
    if config.task.name == "arrays":
        return evaluate_array_task(params, task, **common)
    return evaluate(params, task, check_finite=True, **common)
