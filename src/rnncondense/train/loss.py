"""The training objective: masked mean squared error between output and target."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from rnncondense.rnn import Params, simulate
from rnncondense.tasks.cue_set_go import TrialBatch

LossFn = Callable[[Params, TrialBatch, jax.Array], jax.Array]


def masked_mse(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """sum_bt mask_bt |z_bt - y_bt|^2 / (sum_bt mask_bt * O) for outputs and targets (B, T, O)."""
    squared = jnp.sum((outputs - targets) ** 2, axis=-1)
    return jnp.sum(mask * squared) / (jnp.sum(mask) * outputs.shape[-1])


def make_loss(*, alpha: float, sigma_rec: float) -> LossFn:
    """loss(params, batch, key): masked MSE of a noisy simulation of `batch`."""

    def loss(params: Params, batch: TrialBatch, key: jax.Array) -> jax.Array:
        outputs = simulate(params, batch.inputs, key, alpha=alpha, sigma_rec=sigma_rec).outputs
        return masked_mse(outputs, batch.targets, batch.mask)

    return loss
