"""Training as a run directory: config.toml, checkpoint, params, metrics.json and history.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from rnncondense import layout, storage, ties
from rnncondense.analysis.behavior import BehaviorMetrics, evaluate
from rnncondense.config import RunConfig, config_digest, config_to_dict, load_config
from rnncondense.dirlock import holding
from rnncondense.errors import FileFormatError
from rnncondense.runs.claim import refuse_other_job
from rnncondense.rnn import Params, init_params
from rnncondense.tasks import make_task
from rnncondense.train.loop import LoopState, Progress, history_from_tensors, history_to_tensors, initial_state, run_loop
from rnncondense.train.trainer import Trainer
from rnncondense.train.trainers import make_trainer

VAL_COLUMNS = ("val_mse", "val_timing_mae_ms", "val_timing_rel_error", "val_miss_rate", "val_success")


@dataclass(frozen=True)
class RunKeys:
    """The keys of a run, all derived from `train.seed`."""

    init: jax.Array
    train: jax.Array
    eval: jax.Array

    @classmethod
    def from_seed(cls, seed: int) -> RunKeys:
        k_init, k_train, k_eval = jax.random.split(jax.random.PRNGKey(seed), 3)
        return cls(k_init, k_train, k_eval)


def make_evaluator(config: RunConfig, task, key: jax.Array) -> Callable[[Params], BehaviorMetrics]:
    """Validation of a network: Cue-Set-Go's task metrics, or for trials from a file the
    task-independent ones (analysis.task_metrics; the loop then keeps the lowest mse)."""
    if config.task.name == "arrays":
        from rnncondense.analysis.task_metrics import evaluate_array_task

        return lambda params: evaluate_array_task(
            params, task, alpha=config.alpha, sigma_rec=config.model.sigma_rec, key=key,
            repeats=config.train.val_noise_repeats, dynamics=config.dynamics, check_finite=False,
        )
    batch = task.validation_batch()
    return lambda params: evaluate(
        params,
        task,
        alpha=config.alpha,
        sigma_rec=config.model.sigma_rec,
        key=key,
        repeats=config.train.val_noise_repeats,
        batch=batch,
        dynamics=config.dynamics,
    )


def init_network(config: RunConfig, key: jax.Array, task) -> Params:
    m = config.model
    return init_params(key, m.n_units, n_inputs=task.n_inputs, n_outputs=task.n_outputs, g=m.g, x0_std=m.x0_std)


def history_columns(trainer: Trainer) -> list[str]:
    return ["iteration", "elapsed_s", *trainer.columns, "rejected", *VAL_COLUMNS]


def save_checkpoint(run_dir: Path, state: LoopState, config: RunConfig, trainer: Trainer) -> None:
    tensors = {
        **storage.pytree_to_tensors(state.params, "params"),
        **storage.pytree_to_tensors(state.opt_state, "opt_state"),
        **storage.pytree_to_tensors(state.best_params, "best"),
        **history_to_tensors(state.history),
    }
    meta = {
        "iteration": state.iteration,
        "elapsed_s": state.elapsed_s,
        "best_metrics": state.best_metrics,
        "best_iteration": state.best_iteration,
        "success_iteration": state.success_iteration,
        "success_elapsed_s": state.success_elapsed_s,
        "rejected_in_a_row": state.rejected_in_a_row,
        "stopped": state.stopped,
        "trainer": trainer.name,
        "config_sha256": config_digest(config, ignore_max_iters=True),
    }
    storage.save_tensors(run_dir / layout.CHECKPOINT_FILE, tensors, kind="checkpoint", meta=meta)
    storage.write_csv(run_dir / layout.HISTORY_FILE, state.history, history_columns(trainer))


def load_checkpoint(run_dir: Path, config: RunConfig, trainer: Trainer, template: LoopState) -> LoopState:
    path = run_dir / layout.CHECKPOINT_FILE
    tensors, meta = storage.load_tensors(path, kind="checkpoint")
    for name, value in tensors.items():  # a NaN best network would overwrite the good params.safetensors
        if not name.startswith("history") and np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            raise FileFormatError(f"{path}: tensor '{name}' holds NaN or inf; the run cannot be resumed from it "
                                  "(nothing was overwritten)")
    if meta.get("config_sha256") != config_digest(config, ignore_max_iters=True):
        raise FileFormatError(f"{path}: written for a different configuration than {run_dir / layout.CONFIG_FILE}")
    try:
        return LoopState(
            iteration=int(meta["iteration"]),
            params=storage.tensors_to_pytree(template.params, tensors, "params", path),
            opt_state=storage.tensors_to_pytree(template.opt_state, tensors, "opt_state", path),
            best_params=storage.tensors_to_pytree(template.best_params, tensors, "best", path),
            best_metrics=meta["best_metrics"],
            best_iteration=int(meta["best_iteration"]),
            success_iteration=meta["success_iteration"],
            success_elapsed_s=meta["success_elapsed_s"],
            elapsed_s=float(meta["elapsed_s"]),
            rejected_in_a_row=int(meta["rejected_in_a_row"]),
            history=history_from_tensors(tensors),
            stopped=str(meta["stopped"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise FileFormatError(f"{path}: incomplete checkpoint metadata ({error})") from None


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    params: Params  # the best network validated
    metrics: BehaviorMetrics  # of that network, on the validation batch
    summary: dict


def _resumable(config: RunConfig) -> dict:
    """What must not change when a run is resumed: everything but train.max_iters."""
    data = config_to_dict(config)
    data["train"].pop("max_iters", None)
    return data


@holding("run_dir")  # one writer per directory (dirlock)
def train_run(
    config: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train the network of `config` into `run_dir`, or continue it there with `resume`.

    `resume` continues from the last checkpoint (from the start if there is none yet, or if the
    directory holds nothing but the temporary files of a run killed before its first write) and
    removes the temporary files that interrupted atomic writes left behind. Every iteration
    draws its trials and noise from `fold_in(train key, iteration)`, so an interrupted and
    resumed run ends with the same parameters and history as an uninterrupted one.
    """
    run_dir = Path(run_dir)
    task = make_task(config.task)
    keys = RunKeys.from_seed(config.train.seed)
    trainer = make_trainer(config, task)
    params = init_network(config, keys.init, task)
    state = initial_state(params, trainer)
    if resume and storage.holds_nothing(run_dir):  # killed before it wrote its first file: start afresh
        resume = False
    if resume:
        storage.require_run_dir(run_dir, trained=False)
        storage.remove_stale_temporaries(run_dir)
        saved = load_config(run_dir / layout.CONFIG_FILE)
        if config_digest(saved, ignore_max_iters=True) != config_digest(config, ignore_max_iters=True):
            refuse_other_job(run_dir, _resumable(saved), _resumable(config), what="a run (only train.max_iters may "
                             "change on --resume)", record=layout.CONFIG_FILE)
        if (run_dir / layout.CHECKPOINT_FILE).exists():
            state = load_checkpoint(run_dir, config, trainer, state)
            if state.stopped == "max_iters" and state.iteration < config.train.max_iters:
                state.stopped = ""  # asked to train longer
    else:
        storage.prepare_new_run_dir(run_dir)
    storage.write_toml(run_dir / layout.CONFIG_FILE, config_to_dict(config))

    evaluator = make_evaluator(config, task, keys.eval)
    state = run_loop(
        state,
        trainer,
        train_key=keys.train,
        evaluate=evaluator,
        max_iters=config.train.max_iters,
        eval_every=config.train.eval_every,
        stop_on_success=config.train.stop_on_success,
        stop_rel_error=config.train.stop_rel_error,
        checkpoint_every=config.train.checkpoint_every,
        save_checkpoint=lambda s: save_checkpoint(run_dir, s, config, trainer),
        on_progress=on_progress,
    )
    save_checkpoint(run_dir, state, config, trainer)
    metrics = evaluator(state.best_params)
    summary = {
        "trainer": trainer.name,
        "iterations": state.iteration,
        "elapsed_s": state.elapsed_s,
        "stopped": state.stopped,
        "best_iteration": state.best_iteration,
        "success_iteration": state.success_iteration,
        "time_to_success_s": state.success_elapsed_s,
        "n_units": config.model.n_units,
    }
    record = {"validation": metrics.to_dict(), "training": summary}
    if config.task.name != "cue_set_go":  # say by what the network was judged
        from rnncondense.analysis.task_metrics import CRITERIA

        record["criterion"] = CRITERIA[config.task.name]
    storage.save_params(run_dir / layout.PARAMS_FILE, state.best_params, meta={
        "iteration": state.best_iteration, "task": config.task.name,
        ties.CONFIG_KEY: config_digest(config), ties.METRICS_KEY: ties.json_digest(record),  # ties config and metrics
    })
    storage.write_json(run_dir / layout.METRICS_FILE, record)
    return TrainResult(run_dir, state.best_params, metrics, summary)


def load_run(run_dir: str | Path) -> tuple[RunConfig, Params]:
    """The config and trained parameters of a run directory, checked against each other."""
    run_dir = storage.require_run_dir(run_dir)
    config = load_config(run_dir / layout.CONFIG_FILE)
    params, meta = storage.load_params(run_dir / layout.PARAMS_FILE)
    ties.check(run_dir / layout.CONFIG_FILE, config_digest(config), meta, ties.CONFIG_KEY, run_dir / layout.PARAMS_FILE)
    task = make_task(config.task)
    n, n_in, n_out = params.W_rec.shape[0], params.W_in.shape[1], params.W_out.shape[0]
    if (n, n_in, n_out) != (config.model.n_units, task.n_inputs, task.n_outputs):
        raise FileFormatError(
            f"{run_dir / layout.PARAMS_FILE}: a network of {n} units, {n_in} inputs and {n_out} outputs does not "
            f"match {run_dir / layout.CONFIG_FILE} ({config.model.n_units} units, task {config.task.name})"
        )
    return config, params
