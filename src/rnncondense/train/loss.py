"""The training objective: masked mean squared error between output and target."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def masked_mse(outputs: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    """sum_bt mask_bt |z_bt - y_bt|^2 / (sum_bt mask_bt * O) for outputs and targets (B, T, O)."""
    squared = jnp.sum((outputs - targets) ** 2, axis=-1)
    return jnp.sum(mask * squared) / (jnp.sum(mask) * outputs.shape[-1])
