"""Ensembles: S networks of one size trained in one compiled program, `vmap` over the member axis.

A single network's time step is a small (B, N) x (N, N) product that one core finishes alone; S
networks stepped together turn S such products into one batched product per time step, which fills
the cores (and, later, an accelerator). Every member is the network `train_run` would train from its
own config: the members differ in `train.seed` and in any of MEMBER_FIELDS, none of which changes an
array's shape or the compiled program's structure; every other field must be the same.

Per iteration, one compiled program draws every member's trials and noise from
`fold_in(member's train key, member's iteration)`, takes its optimiser step (Adam, or the compiled
Hessian-free update with the member's own damping) and applies the training loop's rules for
refused and non-finite steps; a member that has stopped (success, max_iters, or diverged) is frozen
by a mask, so shapes never change. Validation runs all members in a second program. The host keeps
each member's history, best network and stop exactly as `run_loop` does, and writes each member's run
directory with the single-run writers (`runs.train.save_checkpoint`; the final params and
metrics.json as `train_run` writes them), so each directory reads, resumes and analyses like a
single run's.

Not in MEMBER_FIELDS: `model.tau_ms` (alpha = dt / tau is a static argument of the simulator's
custom JVP, which `vmap` cannot batch) and the Hessian-free constants other than the initial damping
(they are closure constants of the optimiser); members differing there belong in separate ensembles.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rnncondense import layout, storage, ties
from rnncondense.analysis.behavior import BehaviorMetrics, behavior_metrics, masked_mse
from rnncondense.config import RunConfig, config_digest, config_to_dict, load_config
from rnncondense.dirlock import hold
from rnncondense.errors import ConfigError, RunDirError, TrainingDiverged, shown
from rnncondense.memory import check_ensemble
from rnncondense.rnn import Params, recurrent_noise, simulate_time_major
from rnncondense.tasks import make_task
from rnncondense.tasks.cue_set_go import TrialBatch
from rnncondense.train.loop import MAX_REJECTED_IN_A_ROW, LoopState, Progress, _score, initial_state
from rnncondense.runs.train import RunKeys, TrainResult, init_network, load_checkpoint, save_checkpoint
from rnncondense.train.trainer import Trainer
from rnncondense.train.trainers import (
    Objective, adam_trainer, hf_options, hf_trainer, make_trainer, mask_weight, trial_slice,
)

# Fields that may differ between members: none changes a shape or the program's structure.
MEMBER_FIELDS = (
    "train.seed",
    "model.g",
    "model.x0_std",
    "model.sigma_rec",
    "train.adam.learning_rate",
    "train.adam.clip_norm",
    "train.hf.initial_damping",
)


class MemberValues(NamedTuple):
    """Per-member numbers the compiled programs take as arrays (leading axis: member)."""

    noise_scale: jax.Array  # sqrt(alpha) * sigma_rec, computed in float64 as `rnn.noise_at` does
    learning_rate: jax.Array
    clip_norm: jax.Array
    train_key: jax.Array
    eval_key: jax.Array


class EnsembleDiverged(TrainingDiverged):
    """Some members diverged; `results[k]` is member k's TrainResult, None for a diverged member,
    whose message is `diverged[k]`."""

    def __init__(self, results: list[TrainResult | None], diverged: dict[int, str]):
        super().__init__("; ".join(diverged[k] for k in sorted(diverged)))
        self.results, self.diverged = results, diverged


def _flat(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for name, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def trainable_together(config: RunConfig) -> bool:
    """Whether `config` can be an ensemble member: the compiled validation simulates the current
    form with tanh on Cue-Set-Go (`_validation_program`)."""
    return config.task.name == "cue_set_go" and (config.model.form, config.model.nonlinearity) == ("current", "tanh")


def ensemble_key(config: RunConfig) -> str | None:
    """Configs with equal keys may train in one ensemble (they differ only in MEMBER_FIELDS); None
    for a config that cannot be a member."""
    if not trainable_together(config):
        return None
    return json.dumps({k: v for k, v in _flat(config_to_dict(config)).items() if k not in MEMBER_FIELDS},
                      sort_keys=True, default=str)


def check_members(configs: Sequence[RunConfig]) -> None:
    """ConfigError unless the configs differ only in MEMBER_FIELDS (train.max_iters included: all
    members run to one limit)."""
    if not configs:
        raise ConfigError("ensemble: no member configs given; allowed: one or more")
    if not trainable_together(configs[0]):
        raise ConfigError(
            f"ensemble: task.name = {configs[0].task.name!r}, model.form = {configs[0].model.form!r}, model.nonlinearity = "
            f"{configs[0].model.nonlinearity!r} is not allowed: ensembles train Cue-Set-Go with the current form and tanh; "
            "train such networks one by one (train_run, rnncondense train)"
        )
    first = _flat(config_to_dict(configs[0]))
    for k, config in enumerate(configs[1:], start=1):
        other = _flat(config_to_dict(config))
        for name in sorted(set(first) | set(other)):
            if name not in MEMBER_FIELDS and first.get(name) != other.get(name):
                raise ConfigError(
                    f"ensemble member {k}: {name} = {shown(other.get(name))} differs from member 0's "
                    f"({shown(first.get(name))}); members may differ only in {', '.join(MEMBER_FIELDS)}"
                )


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def _member(tree: Any, k: int) -> Any:
    return jax.tree.map(lambda leaf: np.asarray(leaf[k]), tree)


def _finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]))


# ------------------------------------------------------------------------------ compiled programs


def _objective(task, alpha: float, noise_scale: jax.Array) -> Objective:
    """The task objective of `trainers.task_objective` with the noise scale as an array: the same
    numbers (the noise is scale * xi with xi from the same keys), for members of different sigma_rec."""

    def sample(params: Params, key: jax.Array, n_trials: int) -> TrialBatch:
        return task.sample(key, n_trials)

    def model(params: Params, batch: TrialBatch, key: jax.Array):
        inputs = jnp.swapaxes(batch.inputs, 0, 1)
        xi = recurrent_noise(key, inputs.shape[:2] + (params.W_rec.shape[0],), alpha=1.0, sigma_rec=1.0)
        traj = simulate_time_major(params, inputs, noise_scale * xi, alpha=alpha)
        return jnp.swapaxes(traj.outputs, 0, 1), jnp.swapaxes(traj.rates, 0, 1)

    def loss(outputs: jax.Array, batch: TrialBatch) -> jax.Array:
        return masked_mse(outputs, batch.targets, batch.mask)

    return Objective(sample, model, loss, trial_slice, mask_weight)


def _member_trainer(config: RunConfig, objective: Objective, values: MemberValues) -> Trainer:
    t = config.train
    if t.trainer == "adam":
        return adam_trainer(objective, batch_size=t.adam.batch_size, learning_rate=values.learning_rate,
                            clip_norm=values.clip_norm)
    # the initial damping lives in each member's state
    return hf_trainer(objective, **hf_options(t.hf, config.model.n_units))


def _step_program(config: RunConfig, task) -> Callable:
    """(params, opt_state, iterations, active, values) -> (params, opt_state, info, params_finite), all
    with a leading member axis; a member not `active` comes back unchanged."""
    alpha = config.alpha

    def one(params, opt_state, iteration, active, values: MemberValues):
        trainer = _member_trainer(config, _objective(task, alpha, values.noise_scale), values)
        key = jax.random.fold_in(values.train_key, iteration)
        new_params, new_state, info = trainer.step(params, opt_state, key)
        # the loop's rules (`run_loop`): a step the trainer refused keeps the parameters and its
        # adapted state; a non-finite one keeps both and calls on_reject
        refused = info["rejected"] > 0 if "rejected" in info else jnp.asarray(False)
        params_finite = _finite(new_params)
        good = jnp.isfinite(info["loss"]) & params_finite
        keep_state = jax.tree.map(lambda new, rej: jnp.where(refused | good, new, rej), new_state, trainer.on_reject(opt_state))
        select = lambda take, new, old: jax.tree.map(lambda a, b: jnp.where(take, a, b), new, old)  # noqa: E731
        return (
            select(active & ~refused & good, new_params, params),
            select(active, keep_state, opt_state),
            info,
            params_finite,
        )

    return jax.jit(jax.vmap(one))


def _validation_program(config: RunConfig, repeats: int) -> Callable:
    """(params, values, inputs) -> outputs (S, repeats, B, T, O): `rnn.simulate_outputs` with each
    member's noise scale, from `split(member's eval key, repeats)` as `behavior.evaluate` draws it."""
    alpha = config.alpha

    def outputs_of(params: Params, inputs: jax.Array, key: jax.Array, noise_scale: jax.Array) -> jax.Array:
        inputs_tm = jnp.swapaxes(inputs, 0, 1)
        batch, n = inputs_tm.shape[1], params.W_rec.shape[0]
        noise = noise_scale * recurrent_noise(key, inputs_tm.shape[:2] + (n,), alpha=1.0, sigma_rec=1.0)

        def _step(x, step_inputs):
            u_t, noise_t = step_inputs
            drive_t = alpha * (u_t @ params.W_in.T + params.b) + noise_t
            x = (1.0 - alpha) * x + alpha * jnp.tanh(x) @ params.W_rec.T + drive_t
            return x, jnp.tanh(x) @ params.W_out.T + params.b_out

        _, outputs = lax.scan(_step, jnp.broadcast_to(params.x0, (batch, n)), (inputs_tm, noise))
        return jnp.swapaxes(outputs, 0, 1)

    def one(params, values: MemberValues, inputs):
        keys = jax.random.split(values.eval_key, repeats)
        return jnp.stack([outputs_of(params, inputs, keys[r], values.noise_scale) for r in range(repeats)])

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None)))


# ------------------------------------------------------------------------------ the ensemble run


class _Member:
    """One member's host-side bookkeeping: its config, directory, loop state and clock."""

    def __init__(self, config: RunConfig, run_dir: Path, trainer: Trainer, state: LoopState):
        self.config, self.run_dir, self.trainer, self.state = config, run_dir, trainer, state
        self.start = time.perf_counter() - state.elapsed_s
        self.diverged: str | None = None
        self.result: TrainResult | None = None

    @property
    def active(self) -> bool:
        return not self.state.stopped and self.diverged is None and self.state.iteration < self.config.train.max_iters


def _open_member(config: RunConfig, run_dir: Path, resume: bool, trainer: Trainer, state: LoopState) -> LoopState:
    """Prepare or reopen `run_dir` exactly as `train_run` does; the state to continue from."""
    if resume and storage.holds_nothing(run_dir):
        resume = False
    if resume:
        storage.require_run_dir(run_dir, trained=False)
        storage.remove_stale_temporaries(run_dir)
        saved = load_config(run_dir / layout.CONFIG_FILE)
        if config_digest(saved, ignore_max_iters=True) != config_digest(config, ignore_max_iters=True):
            raise RunDirError(
                f"the config differs from {run_dir / layout.CONFIG_FILE}; only train.max_iters may change on --resume"
            )
        if (run_dir / layout.CHECKPOINT_FILE).exists():
            state = load_checkpoint(run_dir, config, trainer, state)
            if state.stopped == "max_iters" and state.iteration < config.train.max_iters:
                state.stopped = ""
    else:
        storage.prepare_new_run_dir(run_dir)
    storage.write_toml(run_dir / layout.CONFIG_FILE, config_to_dict(config))
    return state


def train_ensemble(
    configs: Sequence[RunConfig],
    run_dirs: Sequence[str | Path],
    *,
    resume: bool = False,
    on_progress: Callable[[int, Progress], None] | None = None,
) -> list[TrainResult]:
    """Train the networks of `configs` together, member k into `run_dirs[k]` (or continue them there
    with `resume`); returns each member's TrainResult, as `train_run` would.

    Member k ends with the parameters, history and metrics `train_run(configs[k], run_dirs[k])` gives
    (to float32 rounding: batched products may sum in another order). A member that diverges
    (MAX_REJECTED_IN_A_ROW non-finite steps in a row) is checkpointed and frozen while the others go
    on; EnsembleDiverged (a TrainingDiverged naming it, holding the other members' results) is
    raised once they are done. `on_progress(k, progress)` is called
    for every member's iteration.
    """
    configs, run_dirs = list(configs), [Path(d) for d in run_dirs]
    if len(configs) != len(run_dirs):
        raise ConfigError(f"ensemble: {len(configs)} configs but {len(run_dirs)} run directories; give one each")
    if len(set(d.resolve() for d in run_dirs)) != len(run_dirs):
        raise ConfigError("ensemble: two members share a run directory; give each its own")
    check_members(configs)
    check_ensemble(configs)  # before any allocation: the members' buffers are held at once
    with contextlib.ExitStack() as held:  # one writer per directory (dirlock), every member's
        for run_dir in run_dirs:
            held.enter_context(hold(run_dir))
        return _train_ensemble(configs, run_dirs, resume=resume, on_progress=on_progress)


def _train_ensemble(configs: list[RunConfig], run_dirs: list[Path], *, resume: bool,
                    on_progress: Callable[[int, Progress], None] | None) -> list[TrainResult]:
    base = configs[0]
    task = make_task(base.task)
    t = base.train

    members, member_keys = [], []
    for config, run_dir in zip(configs, run_dirs):
        keys = RunKeys.from_seed(config.train.seed)
        trainer = make_trainer(config, task)  # the single run's trainer: its name, columns and state layout
        params = init_network(config, keys.init, task)
        state = _open_member(config, run_dir, resume, trainer, initial_state(params, trainer))
        members.append(_Member(config, run_dir, trainer, state))
        member_keys.append(keys)
    values = MemberValues(
        noise_scale=jnp.asarray([math.sqrt(c.alpha) * c.model.sigma_rec for c in configs], jnp.float32),
        learning_rate=jnp.asarray([c.train.adam.learning_rate for c in configs], jnp.float32),
        clip_norm=jnp.asarray([c.train.adam.clip_norm for c in configs], jnp.float32),
        train_key=jnp.stack([k.train for k in member_keys]),
        eval_key=jnp.stack([k.eval for k in member_keys]),
    )
    params = _stack([m.state.params for m in members])
    opt_state = _stack([m.state.opt_state for m in members])
    step = _step_program(base, task)
    validate_outputs = _validation_program(base, t.val_noise_repeats)
    val_batch = task.validation_batch()
    repeated = TrialBatch(*(np.concatenate([np.asarray(f)] * t.val_noise_repeats) for f in val_batch))

    def validate(stacked: Params) -> list[BehaviorMetrics]:
        outputs = np.asarray(validate_outputs(stacked, values, val_batch.inputs))
        return [behavior_metrics(o.reshape(-1, *o.shape[2:]), repeated, task.intervals_ms, task.dt_ms) for o in outputs]

    def checkpoint(k: int) -> None:
        m = members[k]
        m.state.params, m.state.opt_state = _member(params, k), _member(opt_state, k)
        save_checkpoint(m.run_dir, m.state, m.config, m.trainer)

    try:
        while any(m.active for m in members):
            active = [m.active for m in members]
            iterations = jnp.asarray([m.state.iteration for m in members], jnp.int32)
            params, opt_state, info, params_finite = step(params, opt_state, iterations, jnp.asarray(active), values)
            info, params_finite = jax.device_get(info), np.asarray(params_finite)
            to_validate = []
            for k, m in enumerate(members):
                if not active[k]:
                    continue
                s = m.state
                row_info = {name: float(value[k]) for name, value in info.items()}
                if not row_info.get("rejected") and not (math.isfinite(row_info["loss"]) and params_finite[k]):
                    row_info["rejected"] = 1.0
                s.iteration += 1
                s.rejected_in_a_row = s.rejected_in_a_row + 1 if row_info.get("rejected") else 0
                s.history.append({"iteration": s.iteration, **row_info})
                if (s.iteration % t.eval_every == 0 or s.iteration == t.max_iters) and not row_info.get("rejected"):
                    to_validate.append(k)
            metrics = validate(params) if to_validate else []
            for k, m in enumerate(members):
                if not active[k]:
                    continue
                s, row = m.state, m.state.history[-1]
                if k in to_validate:
                    result = metrics[k]
                    row.update({f"val_{n}": getattr(result, n) for n in ("mse", "timing_mae_ms", "timing_rel_error", "miss_rate")})
                    row["val_success"] = float(result.success)
                    current = result.to_dict()
                    if s.best_metrics is None or _score(current) < _score(s.best_metrics):
                        s.best_params, s.best_metrics, s.best_iteration = _member(params, k), current, s.iteration
                    if result.success and s.success_iteration is None:
                        s.success_iteration = s.iteration
                        s.success_elapsed_s = time.perf_counter() - m.start
                    if t.stop_on_success and result.success and result.timing_rel_error <= t.stop_rel_error:
                        s.stopped = "success"
                s.elapsed_s = time.perf_counter() - m.start
                row["elapsed_s"] = s.elapsed_s
                if on_progress:
                    on_progress(k, Progress(s.iteration, t.max_iters, {n: v for n, v in row.items() if n in info},
                                            metrics[k] if k in to_validate else None, s.elapsed_s))
                if s.rejected_in_a_row >= MAX_REJECTED_IN_A_ROW:
                    checkpoint(k)
                    m.diverged = (
                        f"{m.run_dir}: training diverged: {MAX_REJECTED_IN_A_ROW} steps in a row gave NaN or inf "
                        f"(last at iteration {s.iteration}); the last good state is kept"
                    )
                elif t.checkpoint_every and s.iteration % t.checkpoint_every == 0:
                    checkpoint(k)
            finished = [k for k, m in enumerate(members) if active[k] and not m.active and m.diverged is None]
            if finished:
                _finish(members, finished, params, opt_state, checkpoint, validate)
    except KeyboardInterrupt:
        for k, m in enumerate(members):
            if m.active:
                m.state.elapsed_s = time.perf_counter() - m.start
                checkpoint(k)
        raise
    # members already complete when resumed (nothing left to run) still get their outputs written
    pending = [k for k, m in enumerate(members) if m.result is None and m.diverged is None]
    if pending:
        _finish(members, pending, params, opt_state, checkpoint, validate)
    diverged = {k: m.diverged for k, m in enumerate(members) if m.diverged}
    if diverged:
        raise EnsembleDiverged([m.result for m in members], diverged)
    return [m.result for m in members]


def _finish(members: list[_Member], ks: list[int], params, opt_state, checkpoint, validate) -> None:
    """Final checkpoint, params and metrics.json of members that stopped, as `train_run` writes them."""
    best = _stack([m.state.best_params for m in members])
    metrics = validate(best)
    for k in ks:
        m, s = members[k], members[k].state
        if not s.stopped:
            s.stopped = "max_iters"
        checkpoint(k)
        summary = {
            "trainer": m.trainer.name,
            "iterations": s.iteration,
            "elapsed_s": s.elapsed_s,
            "stopped": s.stopped,
            "best_iteration": s.best_iteration,
            "success_iteration": s.success_iteration,
            "time_to_success_s": s.success_elapsed_s,
            "n_units": m.config.model.n_units,
        }
        best_params = jax.tree.map(jnp.asarray, s.best_params)
        record = {"validation": metrics[k].to_dict(), "training": summary}
        storage.save_params(m.run_dir / layout.PARAMS_FILE, best_params, meta={
            "iteration": s.best_iteration, "task": m.config.task.name,
            ties.CONFIG_KEY: config_digest(m.config), ties.METRICS_KEY: ties.json_digest(record),  # as train_run
        })
        storage.write_json(m.run_dir / layout.METRICS_FILE, record)
        m.result = TrainResult(m.run_dir, best_params, metrics[k], summary)
