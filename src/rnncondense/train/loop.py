"""The training loop: steps, periodic validation, best-network tracking, checkpoints and resume.

Iteration i (counted from 0) uses the key `fold_in(train_key, i)`, so a run resumed from a
checkpoint draws exactly the trials and noise an uninterrupted run would, and ends with the same
parameters. The network kept is the best one validated, not the last: success first, then fewer
misses, then lower timing error, then lower mse.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import numpy as np

from rnncondense.analysis.behavior import BehaviorMetrics
from rnncondense.errors import TrainingDiverged
from rnncondense.metrics import SUCCESS_REL_ERROR
from rnncondense.rnn import Params
from rnncondense.train.trainer import Trainer

MAX_REJECTED_IN_A_ROW = 10


@dataclass
class LoopState:
    """Everything needed to continue training exactly where it stopped (all of it is checkpointed)."""

    iteration: int  # iterations completed
    params: Params
    opt_state: Any
    best_params: Params
    best_metrics: dict | None = None
    best_iteration: int = 0
    success_iteration: int | None = None
    success_elapsed_s: float | None = None
    elapsed_s: float = 0.0
    rejected_in_a_row: int = 0
    history: list[dict] = field(default_factory=list)
    stopped: str = ""  # "", "success", "max_iters"


@dataclass(frozen=True)
class Progress:
    """What a progress display needs after each iteration."""

    iteration: int
    max_iters: int
    info: dict
    metrics: BehaviorMetrics | None  # the latest validation
    elapsed_s: float


def _score(metrics: dict) -> tuple:
    rel = metrics["timing_rel_error"]
    rel = math.inf if rel is None or math.isnan(rel) else rel
    mse = metrics["mse"] if metrics["mse"] is not None and math.isfinite(metrics["mse"]) else math.inf
    misses = metrics["miss_rate"] or 0.0  # None: a task without timing (tasks/arrays.py) has no misses
    return (not metrics["success"], misses, rel, mse)


def _finite(tree: Any) -> bool:
    return all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree_util.tree_leaves(tree))


def initial_state(params: Params, trainer: Trainer) -> LoopState:
    return LoopState(iteration=0, params=params, opt_state=trainer.init(params), best_params=params)


def run_loop(
    state: LoopState,
    trainer: Trainer,
    *,
    train_key: jax.Array,
    evaluate: Callable[[Params], BehaviorMetrics],
    max_iters: int,
    eval_every: int,
    stop_on_success: bool = True,
    stop_rel_error: float = SUCCESS_REL_ERROR,
    checkpoint_every: int | None = None,
    save_checkpoint: Callable[[LoopState], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> LoopState:
    """Run `trainer` from `state` until `max_iters`, or, with `stop_on_success`, until a validation
    has no misses and a timing_rel_error of at most `stop_rel_error` (SUCCESS_REL_ERROR: success).

    A step whose loss or parameters are not finite is discarded (the trainer's `on_reject` may
    adapt its state); after MAX_REJECTED_IN_A_ROW in a row, the last good state is checkpointed
    and TrainingDiverged is raised. KeyboardInterrupt checkpoints the state and propagates.
    """
    start = time.perf_counter() - state.elapsed_s
    metrics: BehaviorMetrics | None = None
    try:
        while state.iteration < max_iters and not state.stopped:
            key = jax.random.fold_in(train_key, state.iteration)
            params, opt_state, info = trainer.step(state.params, state.opt_state, key)
            info = {name: float(value) for name, value in info.items()}
            state.iteration += 1
            if info.get("rejected"):  # the trainer refused its own step and adapted its state
                state.opt_state = opt_state
            elif math.isfinite(info["loss"]) and _finite(params):
                state.params, state.opt_state = params, opt_state
            else:
                state.opt_state = trainer.on_reject(state.opt_state)
                info["rejected"] = 1.0
            state.rejected_in_a_row = state.rejected_in_a_row + 1 if info.get("rejected") else 0
            row = {"iteration": state.iteration, **info}
            if (state.iteration % eval_every == 0 or state.iteration == max_iters) and not info.get("rejected"):
                metrics = evaluate(state.params)
                row.update({f"val_{k}": getattr(metrics, k) for k in ("mse", "timing_mae_ms", "timing_rel_error", "miss_rate")})
                row["val_success"] = math.nan if metrics.success is None else float(metrics.success)  # None: no success of its own
                current = metrics.to_dict()
                if state.best_metrics is None or _score(current) < _score(state.best_metrics):
                    state.best_params, state.best_metrics, state.best_iteration = state.params, current, state.iteration
                if metrics.success and state.success_iteration is None:
                    state.success_iteration = state.iteration
                    state.success_elapsed_s = time.perf_counter() - start
                # a task without timing (NaN timing error) stops at its success alone
                if stop_on_success and metrics.success and not metrics.timing_rel_error > stop_rel_error:
                    state.stopped = "success"
            state.elapsed_s = time.perf_counter() - start
            row["elapsed_s"] = state.elapsed_s
            state.history.append(row)
            if on_progress:
                on_progress(Progress(state.iteration, max_iters, info, metrics, state.elapsed_s))
            if state.rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
                if save_checkpoint:
                    save_checkpoint(state)
                raise TrainingDiverged(
                    f"training diverged: {MAX_REJECTED_IN_A_ROW} steps in a row gave NaN or inf "
                    f"(last at iteration {state.iteration}); the last good state is kept"
                )
            if save_checkpoint and checkpoint_every and state.iteration % checkpoint_every == 0:
                save_checkpoint(state)
    except KeyboardInterrupt:
        state.elapsed_s = time.perf_counter() - start
        if save_checkpoint:
            save_checkpoint(state)
        raise
    if not state.stopped:
        state.stopped = "max_iters"
    state.elapsed_s = time.perf_counter() - start
    return state


# ------------------------------------------------------------------------------ checkpoint tensors


def history_to_tensors(history: list[dict]) -> dict[str, np.ndarray]:
    """History rows as one float64 column per name, with a mask of the rows that have it."""
    columns = list(dict.fromkeys(k for row in history for k in row))
    tensors = {}
    for c in columns:
        tensors[f"history/{c}"] = np.array([row.get(c, np.nan) for row in history], dtype=np.float64)
        tensors[f"history_has/{c}"] = np.array([c in row for row in history], dtype=np.uint8)
    return tensors


def history_from_tensors(tensors: dict[str, np.ndarray]) -> list[dict]:
    columns = {k[len("history/") :]: v for k, v in tensors.items() if k.startswith("history/")}
    if not columns:
        return []
    n_rows = len(columns["iteration"])
    present = {c: tensors[f"history_has/{c}"] for c in columns}
    if any(len(v) != n_rows or len(present[c]) != n_rows for c, v in columns.items()):
        raise ValueError("history columns of unequal length")
    rows = []
    for i in range(n_rows):
        row = {c: float(v[i]) for c, v in columns.items() if present[c][i]}
        row["iteration"] = int(row["iteration"])
        rows.append(row)
    return rows
