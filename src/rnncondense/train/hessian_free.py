"""Hessian-free optimisation (Martens 2010; Martens & Sutskever 2011), as an optax-style factory.

Each iteration minimises the damped quadratic model of the objective around the parameters,

    q(d) = f + g^T d + 1/2 d^T (G + lambda I + lambda mu S) d,

by conjugate gradient, where
    G = J_z^T H_L J_z  is the Gauss-Newton matrix of the loss L(z) of the outputs z,
    S = J_h^T H_S J_h  is structural damping: the Gauss-Newton matrix of a squared-distance penalty
                       on the change of the hidden states h, H_S = 2 m / sum(m) (sum over units,
                       mean over the masked time steps, like the loss),
    lambda             Levenberg-Marquardt damping, mu the structural-damping weight.
Curvature-vector products are one forward-mode pass (jvp) and its transpose (vjp) at a
linearisation computed once per iteration; no matrix is ever formed. Conjugate gradient starts
from 0.95 times the previous solution, stops by Martens' relative-progress rule and keeps the
iterates i = ceil(5 * 1.3^j), among which the final step is chosen by backtracking on the
objective. lambda follows the reduction ratio rho = (f(theta + d) - f(theta)) / (g^T d + 1/2 d^T G d)
(the model's prediction without damping); an Armijo line search finally scales the step.

The gradient uses a large batch, curvature products a smaller minibatch. The gradient batch may
come in parts, each with its own noise: its objective is then sum_c w_c L_c, the parts' losses
weighted by their shares of the batch (for a loss that is a mean over masked time steps, w_c is
the part's share of the mask and the sum is the batch's loss), and the parts may be simulated one
after another, so that only one part's trajectories are held at a time. Constants default to those
of Martens' reference code.

References:
    J. Martens. Deep learning via Hessian-free optimization. ICML 2010.
    J. Martens, I. Sutskever. Learning recurrent neural networks with Hessian-free optimization. ICML 2011.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from rnncondense.errors import ConfigError

Array = jax.Array
ModelFn = Callable[[Any, Any, Array], tuple[Array, Array]]  # (params, batch, key) -> (outputs, hidden)
LossFn = Callable[[Array, Any], Array]  # (outputs, batch) -> scalar


# ------------------------------------------------------------------------------ conjugate gradient


class CGResult(NamedTuple):
    x: Array  # (P,) final iterate
    iterates: Array  # (S, P) iterates kept for backtracking, oldest first; rows >= n_stored are unused
    n_stored: Array  # number of rows of `iterates` in use (the last is `x`)
    n_iters: Array  # iterations run
    phi: Array  # (max_iters + 1,) the quadratic objective 1/2 x^T A x - b^T x after each iteration


def backtrack_indices(max_iters: int, *, base: float = 5.0, growth: float = 1.3) -> np.ndarray:
    """Iterations i = ceil(base * growth^j) < max_iters whose iterates CG keeps."""
    kept, j = [], 0
    while (i := math.ceil(base * growth**j)) < max_iters:
        if not kept or i != kept[-1]:
            kept.append(i)
        j += 1
    return np.asarray(kept, dtype=np.int32)


def conjugate_gradient(
    matvec: Callable[[Array], Array],
    b: Array,
    x0: Array,
    *,
    max_iters: int,
    progress_tol: float = 5e-4,
    window_min: int = 10,
    window_frac: float = 0.1,
    backtrack_base: float = 5.0,
    backtrack_growth: float = 1.3,
) -> CGResult:
    """Minimise phi(x) = 1/2 x^T A x - b^T x for symmetric positive-definite A, in a `lax.while_loop`.

    Stops at iteration i when i > k, phi_i < 0 and (phi_i - phi_{i-k}) / phi_i < k * progress_tol
    with k = max(window_min, window_frac * i) (Martens 2010, section 4.4), at `max_iters`, when the
    residual vanishes, or when a direction has no positive curvature.
    """
    save_at = jnp.asarray(backtrack_indices(max_iters, base=backtrack_base, growth=backtrack_growth))
    n_slots = int(save_at.shape[0]) + 1

    r0 = b - matvec(x0)
    phi0 = -0.5 * jnp.dot(x0, b + r0)
    phi = jnp.zeros(max_iters + 1, b.dtype).at[0].set(phi0)
    init = (0, x0, r0, r0, jnp.dot(r0, r0), phi, jnp.zeros((n_slots, b.shape[0]), b.dtype), 0, False)

    def _cond(carry):
        i, *_, done = carry
        return (i < max_iters) & ~done

    def _body(carry):
        i, x, r, p, rr, phi, iterates, n_stored, _ = carry
        # one CG step; a direction without positive curvature (p = 0 once CG has converged
        # exactly) leaves the iterate as it is and ends the loop
        ap = matvec(p)
        curvature = jnp.dot(p, ap)
        usable = (curvature > 0) & jnp.isfinite(curvature)
        step = jnp.where(usable, rr / jnp.where(usable, curvature, 1.0), 0.0)
        x = x + step * p
        r = r - step * ap
        rr_new = jnp.dot(r, r)
        p = r + jnp.where(rr > 0, rr_new / jnp.where(rr > 0, rr, 1.0), 0.0) * p
        i = i + 1
        phi_i = -0.5 * jnp.dot(x, b + r)
        phi = phi.at[i].set(phi_i)
        # keep the iterate for backtracking at i = ceil(5 * 1.3^j)
        keep = jnp.any(save_at == i)
        iterates = lax.cond(keep, lambda it: it.at[n_stored].set(x), lambda it: it, iterates)
        n_stored = n_stored + keep.astype(jnp.int32)
        # Martens' relative-progress rule
        k = jnp.maximum(window_min, jnp.ceil(window_frac * i)).astype(jnp.int32)
        phi_k_ago = phi[jnp.maximum(i - k, 0)]
        stalled = (i > k) & (phi_i < 0) & ((phi_i - phi_k_ago) / phi_i < k * progress_tol)
        done = stalled | ~usable | ~jnp.isfinite(phi_i) | (rr_new == 0)
        return i, x, r, p, rr_new, phi, iterates, n_stored, done

    i, x, _, _, _, phi, iterates, n_stored, _ = lax.while_loop(_cond, _body, init)
    # the final iterate is always the last one kept
    last_kept = jnp.where(n_stored > 0, iterates[jnp.maximum(n_stored - 1, 0)], jnp.zeros_like(x))
    already = (n_stored > 0) & jnp.all(last_kept == x)
    iterates = lax.cond(already, lambda it: it, lambda it: it.at[n_stored].set(x), iterates)
    n_stored = n_stored + (~already).astype(jnp.int32)
    return CGResult(x=x, iterates=iterates, n_stored=n_stored, n_iters=i, phi=phi)


# ------------------------------------------------------------------------------ curvature products


def gauss_newton_operator(
    model_fn: ModelFn,
    loss_fn: LossFn,
    params: Any,
    batch: Any,
    key: Array,
    *,
    structural_weight: Array | float = 0.0,
    damping: Array | float = 0.0,
):
    """v -> (G + structural_weight S + damping I) v on flat vectors, and the unflatten function.

    G = J_z^T H_L J_z with H_L the Hessian of `loss_fn` in the outputs (which may be a pytree,
    e.g. the task output and further terms of the objective); S = J_h^T H_S J_h with
    H_S = 2 m / sum(m) on the hidden states (m: the batch's loss mask, summed over units).
    The model is linearised once; each product is then one jvp and one transposed jvp.
    """
    flat, unravel = ravel_pytree(params)
    (outputs, hidden), jvp_fn = jax.linearize(lambda f: model_fn(unravel(f), batch, key), flat)
    vjp_fn = jax.linear_transpose(jvp_fn, flat)
    loss_grad = jax.grad(lambda z: loss_fn(z, batch))
    mask = batch.mask[..., None]
    hidden_weight = 2.0 * mask / jnp.sum(batch.mask)

    def matvec(v: Array) -> Array:
        dz, dh = jvp_fn(v)
        h_dz = jax.jvp(loss_grad, (outputs,), (dz,))[1]
        (gv,) = vjp_fn((h_dz, structural_weight * hidden_weight * dh))
        return gv + damping * v

    def quadratic(v: Array) -> Array:
        """v^T G v (no damping, no structural term): one jvp."""
        dz, _ = jvp_fn(v)
        h_dz = jax.jvp(loss_grad, (outputs,), (dz,))[1]
        return sum(jnp.vdot(a, b) for a, b in zip(jax.tree_util.tree_leaves(dz), jax.tree_util.tree_leaves(h_dz)))

    return matvec, quadratic, unravel


# ------------------------------------------------------------------------------ the optimiser


def levenberg_marquardt(
    damping: Array | float,
    rho: Array | float,
    *,
    boost: float = 1.5,
    drop: float = 2.0 / 3.0,
    rho_low: float = 0.25,
    rho_high: float = 0.75,
    min_damping: float = 1e-6,
    max_damping: float = 1e8,
) -> Array:
    """Martens' damping rule: lambda *= boost if rho < rho_low, *= drop if rho > rho_high, within bounds.

    A NaN rho (no valid prediction) counts as a poor one. Traceable: `jnp.where`, no branch.
    """
    damping, rho = jnp.asarray(damping), jnp.asarray(rho)
    poor = ~(rho >= rho_low)
    damping = jnp.where(poor, damping * boost, jnp.where(rho > rho_high, damping * drop, damping))
    return jnp.clip(damping, min_damping, max_damping)


def _in_parts(objective: Callable, parts: Any, weights: Array, keys: Array, *, sequential: bool):
    """(value_and_grad, value) of f -> sum_c weights[c] objective(f, part c, keys[c]), the parts
    stacked on the leading axis of every leaf of `parts` and of `keys`.

    sequential: one part after another (`lax.scan`), holding one part's trajectories at a time;
    otherwise all at once (`jax.vmap`), as one batch. A part of weight 0 adds 0; its loss must be
    finite (a masked mean of an empty mask is 0, `masked_mse`).
    """
    if not sequential:
        def total(f):
            values = jax.vmap(objective, in_axes=(None, 0, 0))(f, parts, keys)
            return jnp.sum(jnp.where(weights > 0, weights * values, 0.0))

        return jax.value_and_grad(total), total

    def summed(fn: Callable) -> Callable:
        def run(f):
            zero = jax.tree.map(jnp.zeros_like, jax.eval_shape(fn, f, jax.tree.map(lambda a: a[0], parts), keys[0]))

            def _add(sum_so_far, part):
                batch, weight, k = part
                value = lax.cond(weight > 0, lambda: jax.tree.map(lambda v: weight * v, fn(f, batch, k)), lambda: zero)
                return jax.tree.map(jnp.add, sum_so_far, value), None

            return lax.scan(_add, zero, (parts, weights, keys))[0]

        return run

    return summed(jax.value_and_grad(objective)), summed(objective)


class HFState(NamedTuple):
    damping: Array  # lambda
    cg_init: Array  # (P,) where the next CG starts: decay * previous solution
    count: Array  # iterations done


class HessianFree(NamedTuple):
    init: Callable[[Any], HFState]
    update: Callable[..., tuple[Any, HFState, dict]]


def _require(condition: bool, name: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"hessian_free: {name} = {value!r} is not allowed: must be {allowed}")


def hessian_free(
    *,
    initial_damping: float = 1.0,
    structural_damping: float = 1.0 / 30.0,
    damping_boost: float = 1.5,
    damping_drop: float = 2.0 / 3.0,
    rho_low: float = 0.25,
    rho_high: float = 0.75,
    min_damping: float = 1e-6,
    max_damping: float = 1e8,
    nonfinite_damping_boost: float = 10.0,
    cg_max_iters: int = 250,
    cg_progress_tol: float = 5e-4,
    cg_window_min: int = 10,
    cg_window_frac: float = 0.1,
    cg_decay: float = 0.95,
    backtrack_base: float = 5.0,
    backtrack_growth: float = 1.3,
    armijo_c: float = 1e-2,
    line_search_shrink: float = 0.8,
    line_search_max_tries: int = 60,
) -> HessianFree:
    """The Hessian-free optimiser.

    Args:
        initial_damping: lambda at the start (> 0).
        structural_damping: mu, weight of the hidden-state term relative to lambda (>= 0).
        damping_boost, damping_drop: lambda *= boost if rho < rho_low, *= drop if rho > rho_high.
        nonfinite_damping_boost: lambda *= this when a step yields NaN or inf (the step is rejected).
        cg_max_iters: at most this many CG iterations per update (>= 1).
        cg_progress_tol, cg_window_min, cg_window_frac: Martens' CG stopping rule.
        cg_decay: CG starts from cg_decay times the previous solution.
        backtrack_base, backtrack_growth: CG iterates kept for backtracking, i = ceil(base growth^j).
        armijo_c, line_search_shrink, line_search_max_tries: the final Armijo line search.

    Returns:
        HessianFree(init, update) with
        update(params, state, *, model_fn, loss_fn, grad_batch, curvature_batch, key)
            -> (params, state, info), where model_fn(params, batch, key) -> (outputs, hidden) and
            loss_fn(outputs, batch) -> scalar; info has loss (before the step), lambda, rho,
            cg_iters, step_norm, step_rate and rejected.
    """
    _require(initial_damping > 0 and math.isfinite(initial_damping), "initial_damping", initial_damping, "> 0")
    _require(structural_damping >= 0, "structural_damping", structural_damping, ">= 0")
    _require(isinstance(cg_max_iters, int) and cg_max_iters >= 1, "cg_max_iters", cg_max_iters, "an integer >= 1")
    _require(damping_boost > 1, "damping_boost", damping_boost, "> 1")
    _require(0 < damping_drop < 1, "damping_drop", damping_drop, "in (0, 1)")
    _require(0 <= rho_low < rho_high, "rho_low", rho_low, f"in [0, rho_high = {rho_high})")
    _require(0 < min_damping < max_damping, "min_damping", min_damping, f"in (0, max_damping = {max_damping})")
    _require(0 <= cg_decay <= 1, "cg_decay", cg_decay, "in [0, 1]")
    _require(0 < armijo_c < 1, "armijo_c", armijo_c, "in (0, 1)")
    _require(0 < line_search_shrink < 1, "line_search_shrink", line_search_shrink, "in (0, 1)")
    _require(line_search_max_tries >= 1, "line_search_max_tries", line_search_max_tries, ">= 1")

    cg_options = dict(
        max_iters=cg_max_iters,
        progress_tol=cg_progress_tol,
        window_min=cg_window_min,
        window_frac=cg_window_frac,
        backtrack_base=backtrack_base,
        backtrack_growth=backtrack_growth,
    )
    compiled: dict[tuple, Callable] = {}

    def _step(params, state: HFState, grad_batch, curvature_batch, key, grad_weights, grad_keys, *, model_fn: ModelFn,
              loss_fn: LossFn, sequential: bool):
        """One iteration, every decision in JAX control flow (so `jit` and `vmap` take it whole)."""
        flat, unravel = ravel_pytree(params)

        def objective(f, batch, k=key):
            return loss_fn(model_fn(unravel(f), batch, k)[0], batch)

        if grad_weights is None:
            gradient_objective = partial(jax.value_and_grad(objective), batch=grad_batch)
            gradient_loss = partial(objective, batch=grad_batch)
        else:
            gradient_objective, gradient_loss = _in_parts(objective, grad_batch, grad_weights, grad_keys,
                                                          sequential=sequential)

        # the damped Gauss-Newton system, solved by CG from the previous solution's decay
        loss, g = gradient_objective(flat)
        matvec, quadratic, _ = gauss_newton_operator(
            model_fn, loss_fn, params, curvature_batch, key,
            structural_weight=state.damping * structural_damping, damping=state.damping,
        )
        curvature_loss = objective(flat, curvature_batch)
        cg = conjugate_gradient(matvec, -g, state.cg_init, **cg_options)

        # Backtrack over the kept CG iterates on the curvature minibatch (as Martens' code does):
        # from the last, go back while the objective improves.
        def _back_cond(carry):
            j, _, done = carry
            return (j > 0) & ~done

        def _back_body(carry):
            j, value, _ = carry
            earlier = objective(flat + cg.iterates[j - 1], curvature_batch)
            better = earlier < value
            return jnp.where(better, j - 1, j), jnp.where(better, earlier, value), ~better

        last = cg.n_stored - 1
        j, value, _ = lax.while_loop(
            _back_cond, _back_body, (last, objective(flat + cg.iterates[last], curvature_batch), jnp.asarray(False))
        )
        step = cg.iterates[j]
        finite = jnp.isfinite(value) & jnp.all(jnp.isfinite(step))

        # Reduction ratio on the minibatch against the undamped quadratic model.
        slope = jnp.dot(g, step)
        predicted = slope + 0.5 * quadratic(step)
        rho = jnp.where(predicted < 0, (value - curvature_loss) / jnp.where(predicted < 0, predicted, 1.0), -jnp.inf)

        # Armijo line search on the step length, on the gradient batch (skipped for a non-finite step).
        def _search_cond(carry):
            tries, _, accepted = carry
            return (tries < line_search_max_tries) & ~accepted

        def _search_body(carry):
            tries, rate, _ = carry
            accepted = gradient_loss(flat + rate * step) <= loss + armijo_c * rate * slope
            return tries + 1, jnp.where(accepted, rate, rate * line_search_shrink), accepted

        _, rate, accepted = lax.while_loop(
            _search_cond, _search_body, (jnp.asarray(0), jnp.asarray(1.0, flat.dtype), ~finite)
        )
        rate = jnp.where(finite & accepted, rate, 0.0)

        damping = levenberg_marquardt(
            state.damping, rho, boost=damping_boost, drop=damping_drop, rho_low=rho_low, rho_high=rho_high,
            min_damping=min_damping, max_damping=max_damping,
        )
        # a non-finite step is rejected: damping x nonfinite_damping_boost and CG restarts from 0
        damping = jnp.where(finite, damping, jnp.minimum(state.damping * nonfinite_damping_boost, max_damping))
        moved = finite & (rate > 0)
        new_params = unravel(jnp.where(moved, flat + rate * step, flat))
        new_state = HFState(
            damping.astype(state.damping.dtype),
            jnp.where(finite, cg_decay * cg.x, jnp.zeros_like(cg.x)),
            state.count + 1,
        )
        info = {
            "loss": loss,
            "lambda": state.damping,
            "cg_iters": cg.n_iters,
            "rho": jnp.where(finite, rho, jnp.nan),
            "step_norm": jnp.where(finite, rate * jnp.linalg.norm(step), 0.0),
            "step_rate": rate,
            "rejected": jnp.where(finite, 0.0, 1.0),
        }
        return new_params, new_state, info

    def init(params: Any) -> HFState:
        flat, _ = ravel_pytree(params)
        return HFState(
            damping=jnp.asarray(initial_damping, flat.dtype),
            cg_init=jnp.zeros_like(flat),
            count=jnp.asarray(0, jnp.int32),
        )

    def update(
        params, state: HFState, *, model_fn: ModelFn, loss_fn: LossFn, grad_batch, curvature_batch, key,
        grad_weights: Array | None = None, grad_keys: Array | None = None, sequential: bool = False,
    ):
        """One HF iteration; a pure function of arrays for a given (model_fn, loss_fn), jitted once per pair.

        `key` is the noise key of the curvature minibatch and of an undivided gradient batch. With
        `grad_weights` (C,) and `grad_keys` (C, ...), `grad_batch` is C parts stacked on a leading
        axis of every leaf, and the gradient-batch objective is sum_c grad_weights[c] L(part c),
        part c with noise key grad_keys[c], simulated one part after another if `sequential`, else
        all at once (`_in_parts`).

        It may itself be called under `jax.jit` or `jax.vmap` (bind model_fn and loss_fn first,
        e.g. with functools.partial): nothing in it leaves the device.
        """
        if (grad_weights is None) != (grad_keys is None):
            raise ValueError("hessian_free.update: grad_weights and grad_keys come together (a batch in parts)")
        program = (model_fn, loss_fn, sequential)
        if program not in compiled:
            compiled[program] = jax.jit(partial(_step, model_fn=model_fn, loss_fn=loss_fn, sequential=sequential))
        return compiled[program](params, state, grad_batch, curvature_batch, key, grad_weights, grad_keys)

    return HessianFree(init, update)
