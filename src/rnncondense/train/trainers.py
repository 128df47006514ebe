"""Trainers: Adam and Hessian-free over an Objective, fresh trials every iteration.

An Objective says what is minimised: how to draw a batch, the model's outputs (a pytree) and
hidden rates on it, and a loss convex in those outputs (Hessian-free needs that for its
Gauss-Newton curvature). The task objective is the masked squared error of the output; the
condensation schedules add further terms (condense.preserve).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rnncondense.config import HFConfig, RunConfig, gradient_by_minibatch, in_minibatches
from rnncondense.errors import ConfigError
from rnncondense.rnn import CURRENT_TANH, Dynamics, Params, simulate
from rnncondense.tasks.cue_set_go import CueSetGo, TrialBatch
from rnncondense.train.hessian_free import hessian_free
from rnncondense.analysis.behavior import masked_mse
from rnncondense.train.trainer import Trainer


class Objective(NamedTuple):
    sample: Callable[[Params, jax.Array, int], Any]  # (params, key, n_trials) -> batch
    model: Callable[[Params, Any, jax.Array], tuple[Any, jax.Array]]  # -> (outputs, hidden rates (B, T, N))
    loss: Callable[[Any, Any], jax.Array]  # (outputs, batch) -> scalar, convex in outputs
    minibatch: Callable[[Any, int, int], Any]  # (batch, start, size) -> curvature minibatch
    # the batch's weight in the mean the loss takes over trials (the sum of its loss mask): the loss
    # of a batch is the weight-averaged loss of its parts (`minibatch`es) under equal noise
    weight: Callable[[Any], jax.Array]


def trial_slice(batch: TrialBatch, start: int, size: int) -> TrialBatch:
    """Trials start .. start + size - 1 of every array of `batch` (a curvature minibatch); `start`
    may be traced (a dynamic slice), so a compiled step can cycle through the batch."""
    return jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, size), batch)


def task_objective(task: CueSetGo, *, alpha: float, sigma_rec: float, dynamics: Dynamics = CURRENT_TANH) -> Objective:
    """Masked squared error of the output on fresh trials of `task`, with recurrent noise."""

    def sample(params: Params, key: jax.Array, n_trials: int) -> TrialBatch:
        return task.sample(key, n_trials)

    def model(params: Params, batch: TrialBatch, key: jax.Array):
        traj = simulate(params, batch.inputs, key, alpha=alpha, sigma_rec=sigma_rec, dynamics=dynamics)
        return traj.outputs, traj.rates

    def loss(outputs: jax.Array, batch: TrialBatch) -> jax.Array:
        return masked_mse(outputs, batch.targets, batch.mask)

    return Objective(sample, model, loss, trial_slice, mask_weight)


def mask_weight(batch: TrialBatch) -> jax.Array:
    """The sum of the batch's loss mask: its weight in `masked_mse`."""
    return jnp.sum(batch.mask)


def adam_trainer(objective: Objective, *, batch_size: int, learning_rate: float, clip_norm: float) -> Trainer:
    """One clipped Adam step on `batch_size` fresh trials per iteration."""
    optimizer = optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(learning_rate))

    def loss_fn(params: Params, batch: Any, key: jax.Array) -> jax.Array:
        return objective.loss(objective.model(params, batch, key)[0], batch)

    @jax.jit
    def step(params: Params, opt_state: optax.OptState, key: jax.Array):
        k_trials, k_noise = jax.random.split(key)
        batch = objective.sample(jax.lax.stop_gradient(params), k_trials, batch_size)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, k_noise)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, {"loss": loss, "grad_norm": optax.tree.norm(grads)}

    return Trainer(name="adam", init=optimizer.init, step=step, columns=("loss", "grad_norm"))


def hf_trainer(
    objective: Objective, *, gradient_batch_size: int, curvature_batch_size: int, gradient_by_minibatch: bool = False,
    **hyper,
) -> Trainer:
    """One Hessian-free iteration per step: gradient on `gradient_batch_size` fresh trials,
    curvature products on a minibatch of `curvature_batch_size` of them, cycled through the batch.

    The recurrent noise of an iteration is fixed, so the objective is deterministic within the
    iteration. Where the minibatches divide the batch, each draws its own noise (one key each) and
    the curvature products use their minibatch's: they see exactly the trials and noise the
    gradient saw. The gradient batch's objective is then the minibatches' losses weighted by their
    shares of the loss mask (`Objective.weight`), which is the batch's loss. With
    `gradient_by_minibatch` the minibatches are simulated one after another, with the working
    memory of one; otherwise all at once: the same numbers, to rounding.

    The step is one compiled program (sampling, the minibatch and the whole HF update), which
    `jax.vmap` can map over an ensemble of networks.
    """
    optimizer = hessian_free(**hyper)
    n_minibatches = max(gradient_batch_size // curvature_batch_size, 1)
    in_parts = in_minibatches(gradient_batch_size, curvature_batch_size)
    if gradient_by_minibatch and not in_parts:
        raise ConfigError(
            f"train.hf.gradient_by_minibatch = true is not allowed with train.hf.gradient_batch_size = "
            f"{gradient_batch_size}: train.hf.curvature_batch_size (= {curvature_batch_size}) must divide it, "
            "and be smaller"
        )

    @jax.jit
    def step(params: Params, state, key: jax.Array):
        k_trials, k_noise = jax.random.split(key)
        batch = objective.sample(params, k_trials, gradient_batch_size)
        index = state.count % n_minibatches
        curvature_batch = objective.minibatch(batch, index * curvature_batch_size, curvature_batch_size)
        gradient = {"grad_batch": batch}
        if in_parts:
            parts = [objective.minibatch(batch, c * curvature_batch_size, curvature_batch_size) for c in range(n_minibatches)]
            keys = jax.random.split(k_noise, n_minibatches)
            gradient = {
                "grad_batch": jax.tree.map(lambda *leaves: jnp.stack(leaves), *parts),
                "grad_weights": jnp.stack([objective.weight(p) for p in parts]) / objective.weight(batch),
                "grad_keys": keys,
                "sequential": gradient_by_minibatch,
            }
            k_noise = keys[index]
        return optimizer.update(
            params,
            state,
            model_fn=objective.model,
            loss_fn=objective.loss,
            curvature_batch=curvature_batch,
            key=k_noise,
            **gradient,
        )

    boost = hyper.get("nonfinite_damping_boost", 10.0)
    return Trainer(
        name="hf",
        init=optimizer.init,
        step=step,
        columns=("loss", "lambda", "rho", "cg_iters", "step_norm", "step_rate"),
        on_reject=lambda state: state._replace(damping=state.damping * boost),
    )


def hf_options(hf: HFConfig, n_units: int) -> dict:
    """`hf_trainer`'s keyword arguments for the settings `hf` of an `n_units` network ("auto" resolved)."""
    return {**hf.model_dump(), "gradient_by_minibatch": gradient_by_minibatch(hf, n_units)}


def make_trainer(config: RunConfig, task: CueSetGo, objective: Objective | None = None) -> Trainer:
    """The optimiser named by `train.trainer` for `objective` (default: the task's)."""
    objective = objective or task_objective(task, alpha=config.alpha, sigma_rec=config.model.sigma_rec, dynamics=config.dynamics)
    t = config.train
    if t.trainer == "adam":
        return adam_trainer(objective, **t.adam.model_dump())
    return hf_trainer(objective, **hf_options(t.hf, config.model.n_units))
