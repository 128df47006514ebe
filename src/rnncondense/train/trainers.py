"""Trainers for a task: Adam and Hessian-free, each drawing fresh trials every iteration."""

from __future__ import annotations

import jax
import optax

from rnncondense.config import RunConfig
from rnncondense.rnn import Params, simulate
from rnncondense.tasks.cue_set_go import CueSetGo, TrialBatch
from rnncondense.train.hessian_free import hessian_free
from rnncondense.train.loss import make_loss, masked_mse
from rnncondense.train.trainer import Trainer


def adam_trainer(
    task: CueSetGo, *, alpha: float, sigma_rec: float, batch_size: int, learning_rate: float, clip_norm: float
) -> Trainer:
    """One clipped Adam step on `batch_size` fresh trials per iteration."""
    optimizer = optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(learning_rate))
    loss_fn = make_loss(alpha=alpha, sigma_rec=sigma_rec)

    @jax.jit
    def step(params: Params, opt_state: optax.OptState, key: jax.Array):
        k_trials, k_noise = jax.random.split(key)
        batch = task.sample(k_trials, batch_size)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, k_noise)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    return Trainer(name="adam", init=optimizer.init, step=step, columns=("loss", "grad_norm"))


def hf_trainer(
    task: CueSetGo,
    *,
    alpha: float,
    sigma_rec: float,
    gradient_batch_size: int,
    curvature_batch_size: int,
    **hyper,
) -> Trainer:
    """One Hessian-free iteration per step: gradient on `gradient_batch_size` fresh trials,
    curvature products on a minibatch of `curvature_batch_size` of them, cycled through the batch.

    The recurrent noise of an iteration is fixed (one key), so the objective is deterministic
    within the iteration.
    """
    optimizer = hessian_free(**hyper)
    n_chunks = max(gradient_batch_size // curvature_batch_size, 1)

    def model_fn(params: Params, batch: TrialBatch, key: jax.Array):
        traj = simulate(params, batch.inputs, key, alpha=alpha, sigma_rec=sigma_rec)
        return traj.outputs, traj.rates

    def loss_fn(outputs: jax.Array, batch: TrialBatch) -> jax.Array:
        return masked_mse(outputs, batch.targets, batch.mask)

    sample = jax.jit(task.sample, static_argnums=1)

    def step(params: Params, state, key: jax.Array):
        k_trials, k_noise = jax.random.split(key)
        batch = sample(k_trials, gradient_batch_size)
        start = (int(state.count) % n_chunks) * curvature_batch_size
        curvature = jax.tree.map(lambda a: a[start : start + curvature_batch_size], batch)
        return optimizer.update(
            params, state, model_fn=model_fn, loss_fn=loss_fn, grad_batch=batch, curvature_batch=curvature, key=k_noise
        )

    def on_reject(state):
        return state._replace(damping=state.damping * hyper.get("nonfinite_damping_boost", 10.0))

    return Trainer(
        name="hf",
        init=optimizer.init,
        step=step,
        columns=("loss", "lambda", "rho", "cg_iters", "step_norm", "step_rate"),
        on_reject=on_reject,
    )


def make_trainer(config: RunConfig, task: CueSetGo) -> Trainer:
    """The optimiser named by `train.trainer`, with its settings from the config."""
    t = config.train
    common = dict(alpha=config.alpha, sigma_rec=config.model.sigma_rec)
    if t.trainer == "adam":
        return adam_trainer(task, **common, **t.adam.model_dump())
    hf = t.hf.model_dump()
    return hf_trainer(task, **common, **hf)
