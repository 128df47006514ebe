"""Hessian-free as one compiled update: the same iterations as the host-side algorithm it replaced,
under `jax.jit` and `jax.vmap`.

The reference is `_host_update` below: the previous implementation of `hessian_free(...).update`,
kept here verbatim in its logic (CG compiled, then backtracking over the CG iterates, rho, the
Armijo line search and the damping rule as Python control flow on host floats). It shares with
the code under test only `conjugate_gradient` and `gauss_newton_operator`, which
tests/test_hessian_free.py checks against explicit Jacobians and a direct solve; every decision
taken after CG is written out here independently, in float64 Python arithmetic.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from rnncondense import rnn
from rnncondense.tasks import CueSetGo, CueSetGoConfig
from rnncondense.train.hessian_free import HFState, conjugate_gradient, gauss_newton_operator, hessian_free
from rnncondense.analysis.behavior import masked_mse

ALPHA = 0.2
SIGMA = 0.05
HYPER = dict(initial_damping=0.5, cg_max_iters=40)


def _model(params, batch, key):
    traj = rnn.simulate(params, batch.inputs, key, alpha=ALPHA, sigma_rec=SIGMA)
    return traj.outputs, traj.rates


def _loss(outputs, batch):
    return masked_mse(outputs, batch.targets, batch.mask)


def _host_update(params, state, *, grad_batch, curvature_batch, key, initial_damping, cg_max_iters):
    """The previous host-side HF iteration with Martens' constants (see REFERENCES.md)."""
    structural_damping, boost, drop, rho_low, rho_high = 1.0 / 30.0, 1.5, 2.0 / 3.0, 0.25, 0.75
    min_damping, max_damping, nonfinite_boost, cg_decay = 1e-6, 1e8, 10.0, 0.95
    armijo_c, shrink, max_tries = 1e-2, 0.8, 60
    flat, unravel = ravel_pytree(params)

    def objective(f, batch):
        return float(_loss(_model(unravel(f), batch, key)[0], batch))

    loss, grads = jax.value_and_grad(lambda p: _loss(_model(p, grad_batch, key)[0], grad_batch))(params)
    g = ravel_pytree(grads)[0]
    damping = float(state.damping)
    matvec, quadratic, _ = gauss_newton_operator(_model, _loss, params, curvature_batch, key,
                                                 structural_weight=damping * structural_damping, damping=damping)
    cg = jax.jit(lambda b, x0: conjugate_gradient(matvec, b, x0, max_iters=cg_max_iters))(-g, state.cg_init)
    loss, curvature_loss = float(loss), objective(flat, curvature_batch)
    info = {"loss": loss, "lambda": damping, "cg_iters": int(cg.n_iters)}

    j = int(cg.n_stored) - 1
    step, value = cg.iterates[j], objective(flat + cg.iterates[j], curvature_batch)
    while j > 0:
        earlier = objective(flat + cg.iterates[j - 1], curvature_batch)
        if not earlier < value:
            break
        j, step, value = j - 1, cg.iterates[j - 1], earlier
    if not (math.isfinite(value) and bool(jnp.all(jnp.isfinite(step)))):
        state = HFState(jnp.asarray(min(damping * nonfinite_boost, max_damping), jnp.float32),
                        jnp.zeros_like(state.cg_init), state.count + 1)
        return params, state, {**info, "rho": math.nan, "step_norm": 0.0, "step_rate": 0.0, "rejected": 1.0}

    slope = float(jnp.dot(g, step))
    predicted = slope + 0.5 * float(quadratic(step))
    rho = (value - curvature_loss) / predicted if predicted < 0 else -math.inf
    rate = 1.0
    for _ in range(max_tries):
        if objective(flat + rate * step, grad_batch) <= loss + armijo_c * rate * slope:
            break
        rate *= shrink
    else:
        rate = 0.0
    if not rho >= rho_low:
        damping *= boost
    elif rho > rho_high:
        damping *= drop
    damping = min(max(damping, min_damping), max_damping)
    if rate > 0:
        params = unravel(flat + rate * step)
    state = HFState(jnp.asarray(damping, jnp.float32), cg_decay * cg.x, state.count + 1)
    return params, state, {**info, "rho": rho, "step_norm": rate * float(jnp.linalg.norm(step)), "step_rate": rate,
                           "rejected": 0.0}


def _problem(seed: int, n_units: int = 6):
    task = CueSetGo(CueSetGoConfig(dt_ms=50.0, set_duration_ms=50.0, intervals_ms=[500.0, 800.0], tail_ms=100.0))
    batch = task.sample(jax.random.PRNGKey(100 + seed), 8)
    params = rnn.init_params(jax.random.PRNGKey(seed), n_units, g=1.2)
    return params, batch, jax.tree.map(lambda a: a[:4], batch)


def _assert_close(a, b, rtol=2e-4, atol=2e-6):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def test_compiled_update_follows_the_host_side_algorithm_over_six_iterations():
    params, batch, minibatch = _problem(0)
    optimizer = hessian_free(**HYPER)
    update = jax.jit(partial(optimizer.update, model_fn=_model, loss_fn=_loss))
    ours, ref = (params, optimizer.init(params)), (params, optimizer.init(params))
    decisions = []
    for i in range(6):
        key = jax.random.PRNGKey(10 + i)
        p, s, info = update(*ours, grad_batch=batch, curvature_batch=minibatch, key=key)
        rp, rs, rinfo = _host_update(*ref, grad_batch=batch, curvature_batch=minibatch, key=key, **HYPER)
        assert int(info["cg_iters"]) == rinfo["cg_iters"]
        for name in ("loss", "lambda", "rho", "step_norm", "step_rate", "rejected"):
            assert float(info[name]) == pytest.approx(rinfo[name], rel=1e-4, abs=1e-7), name
        _assert_close(p, rp)
        _assert_close(s, rs)
        decisions.append((rinfo["step_rate"], rinfo["lambda"]))
        ours, ref = (p, s), (rp, rs)
    # the run exercised more than one branch of the damping rule
    assert len({round(lam, 6) for _, lam in decisions}) >= 3


def test_vmap_over_members_equals_one_at_a_time():
    """Three networks with their own parameters, damping, batches and keys, in one vmapped update."""
    optimizer = hessian_free(**HYPER)
    update = partial(optimizer.update, model_fn=_model, loss_fn=_loss)
    members = [_problem(seed) for seed in range(3)]
    states = [optimizer.init(p)._replace(damping=jnp.asarray(d, jnp.float32)) for (p, _, _), d in zip(members, (0.5, 3.0, 0.02))]
    keys = [jax.random.PRNGKey(20 + k) for k in range(3)]
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)  # noqa: E731
    params, state = stack([m[0] for m in members]), stack(states)
    batched = jax.jit(jax.vmap(lambda p, s, b, c, k: update(p, s, grad_batch=b, curvature_batch=c, key=k)))
    for _ in range(2):
        p_all, s_all, info_all = batched(params, state, stack([m[1] for m in members]), stack([m[2] for m in members]),
                                         jnp.stack(keys))
        for k, (_, batch, minibatch) in enumerate(members):
            one = jax.tree.map(lambda a: a[k], (params, state))
            p, s, info = update(*one, grad_batch=batch, curvature_batch=minibatch, key=keys[k])
            _assert_close(jax.tree.map(lambda a: a[k], p_all), p)
            _assert_close(jax.tree.map(lambda a: a[k], s_all), s)
            for name, value in info.items():
                np.testing.assert_allclose(float(info_all[name][k]), float(value), rtol=1e-4, atol=1e-7, err_msg=name)
        params, state = p_all, s_all
        keys = [jax.random.fold_in(k, 1) for k in keys]
