"""The interface every optimiser offers to the training loop."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

from rnncondense.rnn import Params


def _keep(state: Any) -> Any:
    return state


class Trainer(NamedTuple):
    """An optimiser as pure functions.

    init(params) -> state, a pytree of arrays (it is checkpointed).
    step(params, state, key) -> (params, state, info): one iteration; info maps the names in
        `columns` to scalars, `loss` first, the loss of the batch before the update.
    on_reject(state) -> state: called when a step produced NaN or inf and was discarded
        (Hessian-free raises its damping here).
    """

    name: str
    init: Callable[[Params], Any]
    step: Callable[[Params, Any, jax.Array], tuple[Params, Any, dict]]
    columns: tuple[str, ...]
    on_reject: Callable[[Any], Any] = _keep
