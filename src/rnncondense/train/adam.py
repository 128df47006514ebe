"""Adam (optax) with global-norm clipping, fresh trials every step."""

from __future__ import annotations

import jax
import optax

from rnncondense.rnn import Params
from rnncondense.tasks.cue_set_go import CueSetGo
from rnncondense.train.loss import make_loss
from rnncondense.train.trainer import Trainer


def adam_trainer(
    task: CueSetGo, *, alpha: float, sigma_rec: float, batch_size: int, learning_rate: float, clip_norm: float
) -> Trainer:
    """A Trainer whose step draws `batch_size` fresh trials and takes one clipped Adam step."""
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
