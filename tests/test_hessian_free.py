"""Hessian-free: curvature products against explicit Jacobians, CG, damping, descent, bad input, NaN."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from rnncondense import rnn
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError, TrainingDiverged
from rnncondense.tasks import CueSetGo, CueSetGoConfig
from rnncondense.train.hessian_free import (
    backtrack_indices,
    conjugate_gradient,
    gauss_newton_operator,
    hessian_free,
    levenberg_marquardt,
)
from rnncondense.train.loop import initial_state, run_loop
from rnncondense.analysis.behavior import masked_mse
from rnncondense.train.trainer import Trainer
from rnncondense.train.trainers import hf_trainer, task_objective

ALPHA = 0.2


def _model(params, batch, key):
    traj = rnn.simulate_time_major(params, jnp.swapaxes(batch.inputs, 0, 1), alpha=ALPHA)
    return jnp.swapaxes(traj.outputs, 0, 1), jnp.swapaxes(traj.rates, 0, 1)


def _loss(outputs, batch):
    return masked_mse(outputs, batch.targets, batch.mask)


def _tiny_problem(dtype=jnp.float64):
    task = CueSetGo(CueSetGoConfig(dt_ms=100.0, set_duration_ms=100.0, intervals_ms=[500.0, 700.0], tail_ms=100.0, cue_noise_std=0.0))
    batch = jax.tree.map(lambda a: a.astype(dtype) if a.dtype == jnp.float32 else a, task.sample(jax.random.PRNGKey(0), 3))
    params = rnn.init_params(jax.random.PRNGKey(1), 5, g=1.2, x0_std=0.3, dtype=dtype)
    params = params._replace(W_out=0.3 * jax.random.normal(jax.random.PRNGKey(2), (1, 5), dtype))
    return params, batch


def test_gauss_newton_product_equals_explicit_jacobian_product():
    """G v = J^T H J v, with J from jax.jacfwd of the step-by-step reference simulator."""
    with jax.enable_x64(True):
        params, batch = _tiny_problem()
        flat, unravel = ravel_pytree(params)
        key = jax.random.PRNGKey(0)

        def reference(f):
            traj = rnn.simulate_reference(unravel(f), jnp.swapaxes(batch.inputs, 0, 1), alpha=ALPHA)
            return jnp.swapaxes(traj.outputs, 0, 1).ravel(), jnp.swapaxes(traj.rates, 0, 1).ravel()

        j_out, j_hidden = jax.jacfwd(reference)(flat)  # (B T O, P), (B T N, P)
        mask = np.asarray(batch.mask)
        h_out = np.diag(2.0 * mask.ravel() / mask.sum())  # Hessian of the masked mean of squares (O = 1)
        h_hidden = np.diag(np.repeat(2.0 * mask.ravel() / mask.sum(), 5))
        v = jax.random.normal(jax.random.PRNGKey(3), flat.shape, jnp.float64)

        matvec, quadratic, _ = gauss_newton_operator(_model, _loss, params, batch, key)
        gv_explicit = j_out.T @ h_out @ j_out @ v
        np.testing.assert_allclose(matvec(v), gv_explicit, rtol=1e-8, atol=1e-10)
        assert float(quadratic(v)) == pytest.approx(float(v @ gv_explicit), rel=1e-8)

        # structural damping: the extra term is weight * J_h^T H_S J_h v, and damping adds lambda v
        weight, damping = 0.37, 0.05
        matvec_s, _, _ = gauss_newton_operator(_model, _loss, params, batch, key, structural_weight=weight, damping=damping)
        expected = gv_explicit + weight * j_hidden.T @ h_hidden @ j_hidden @ v + damping * v
        np.testing.assert_allclose(matvec_s(v), expected, rtol=1e-8, atol=1e-10)


def test_conjugate_gradient_solves_a_random_spd_system():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        q, _ = np.linalg.qr(rng.normal(size=(40, 40)))
        a = q @ np.diag(np.logspace(0, 2, 40)) @ q.T
        b = rng.normal(size=40)
        result = conjugate_gradient(lambda x: jnp.asarray(a) @ x, jnp.asarray(b), jnp.zeros(40),
                                    max_iters=200, progress_tol=1e-14)
        np.testing.assert_allclose(result.x, np.linalg.solve(a, b), rtol=1e-6, atol=1e-8)
        # phi is the quadratic objective and decreases monotonically
        n = int(result.n_iters)
        phi = np.asarray(result.phi[: n + 1])
        assert np.all(np.diff(phi) <= 1e-12)
        x = np.asarray(result.x)
        assert phi[-1] == pytest.approx(0.5 * x @ a @ x - b @ x, rel=1e-10)
        # the kept iterates are those at ceil(5 * 1.3^j), then the final one
        kept = backtrack_indices(200)
        assert list(kept[:6]) == [5, 7, 9, 11, 15, 19]
        assert int(result.n_stored) == int(np.sum(kept < n)) + (0 if n in kept else 1)
        np.testing.assert_array_equal(result.iterates[int(result.n_stored) - 1], result.x)


def test_cg_stops_by_relative_progress():
    """An ill-conditioned system (condition 1e6) CG cannot finish in 500 iterations: Martens' rule
    stops it once the last k iterations improved phi by less than k * 5e-4 relative."""
    rng = np.random.default_rng(1)
    eigenvalues = np.logspace(0, 6, 2000).astype(np.float32)
    b = (np.sqrt(eigenvalues) * rng.normal(size=2000)).astype(np.float32)
    result = conjugate_gradient(lambda x: jnp.asarray(eigenvalues) * x, jnp.asarray(b), jnp.zeros(2000), max_iters=500)
    n = int(result.n_iters)
    assert 10 < n < 500
    phi = np.asarray(result.phi)
    for i in range(11, n):  # the rule did not hold earlier
        k = max(10, int(np.ceil(0.1 * i)))
        assert not (i > k and (phi[i] - phi[i - k]) / phi[i] < k * 5e-4)
    k = max(10, int(np.ceil(0.1 * n)))
    assert (phi[n] - phi[n - k]) / phi[n] < k * 5e-4
    assert phi[n] > -0.5 * np.sum(b * b / eigenvalues)  # and it stopped short of the minimum


@pytest.mark.parametrize(
    "rho, expected",
    [(0.1, 1.5), (-3.0, 1.5), (float("nan"), 1.5), (0.25, 1.0), (0.5, 1.0), (0.75, 1.0), (0.9, 2.0 / 3.0), (1.4, 2.0 / 3.0)],
)
def test_damping_reacts_to_rho(rho, expected):
    assert levenberg_marquardt(0.3, rho) == pytest.approx(0.3 * expected)


def test_damping_stays_within_bounds():
    assert levenberg_marquardt(1e8, 0.0) == 1e8
    assert levenberg_marquardt(1e-6, 1.0) == 1e-6


class _Batch(NamedTuple):
    inputs: jax.Array
    targets: jax.Array
    mask: jax.Array


def test_update_lowers_damping_when_the_model_is_exact():
    """A linear model with squared error: the Gauss-Newton quadratic is exact, so rho = 1."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        x_data = jnp.asarray(rng.normal(size=(1, 30, 4)))
        y = jnp.asarray(rng.normal(size=(1, 30, 1)))

        batch = _Batch(x_data, y, jnp.ones((1, 30)))
        model = lambda p, b, k: (b.inputs @ p["w"], b.inputs)  # noqa: E731
        optimizer = hessian_free(initial_damping=0.5)
        params = {"w": jnp.zeros((4, 1))}
        state = optimizer.init(params)
        params, state, info = optimizer.update(params, state, model_fn=model, loss_fn=_loss, grad_batch=batch,
                                               curvature_batch=batch, key=jax.random.PRNGKey(0))
        assert info["rho"] == pytest.approx(1.0, abs=1e-6)
        assert float(state.damping) == pytest.approx(0.5 * 2 / 3)
        assert info["step_rate"] == 1.0


@pytest.mark.parametrize("by_minibatch", [False, True])
def test_hf_lowers_the_loss_at_every_accepted_step(by_minibatch):
    task = CueSetGo(CueSetGoConfig(intervals_ms=[500.0, 800.0], tail_ms=100.0))
    trainer = hf_trainer(task_objective(task, alpha=0.1, sigma_rec=0.05), gradient_batch_size=16, curvature_batch_size=8,
                         gradient_by_minibatch=by_minibatch, cg_max_iters=30)
    params = rnn.init_params(jax.random.PRNGKey(0), 12)
    state = trainer.init(params)

    def loss_on(p, key):
        """The objective of the step, written out: the same trials as the trainer draws, each
        minibatch of 8 with its own noise key, weighted by its share of the mask."""
        k_trials, k_noise = jax.random.split(key)
        batch = jax.jit(task.sample, static_argnums=1)(k_trials, 16)
        total = 0.0
        for c, k in enumerate(jax.random.split(k_noise, 2)):
            part = jax.tree.map(lambda a: a[8 * c:8 * (c + 1)], batch)
            outputs = rnn.simulate(p, part.inputs, k, alpha=0.1, sigma_rec=0.05).outputs
            total += float(masked_mse(outputs, part.targets, part.mask) * part.mask.sum() / batch.mask.sum())
        return total

    accepted = 0
    for i in range(8):
        key = jax.random.PRNGKey(100 + i)
        before = loss_on(params, key)
        params_new, state, info = trainer.step(params, state, key)
        assert info["loss"] == pytest.approx(before, rel=1e-4)
        if info["step_rate"] > 0:
            accepted += 1
            assert loss_on(params_new, key) < before
        params = params_new
    assert accepted >= 6


def test_a_gradient_batch_in_parts_gives_the_whole_batch_step():
    """Noise-free, a step whose gradient batch comes in parts weighted by their shares of the mask,
    simulated one after another or all at once, is the whole batch's step to rounding, with one
    part's mask empty."""
    with jax.enable_x64(True):
        task = CueSetGo(CueSetGoConfig(intervals_ms=[500.0, 700.0, 900.0], tail_ms=100.0))
        batch = jax.tree.map(lambda a: a.astype(jnp.float64) if a.dtype == jnp.float32 else a,
                             task.sample(jax.random.PRNGKey(0), 8))
        batch = batch._replace(mask=batch.mask.at[2:4].set(0.0))  # part 1 of 4 has no weight
        params = rnn.init_params(jax.random.PRNGKey(1), 6, g=1.2, dtype=jnp.float64)
        params = params._replace(W_out=0.3 * jax.random.normal(jax.random.PRNGKey(2), (1, 6), jnp.float64))
        optimizer = hessian_free(initial_damping=0.5, cg_max_iters=40)
        state = optimizer.init(params)
        common = dict(model_fn=_model, loss_fn=_loss, curvature_batch=jax.tree.map(lambda a: a[4:], batch),
                      key=jax.random.PRNGKey(3))

        whole = optimizer.update(params, state, grad_batch=batch, **common)
        parts = jax.tree.map(lambda a: a.reshape(4, 2, *a.shape[1:]), batch)
        weights = parts.mask.sum(axis=(1, 2)) / batch.mask.sum()
        keys = jax.random.split(jax.random.PRNGKey(4), 4)
        assert float(whole[2]["step_rate"]) > 0
        for sequential in (True, False):
            in_parts = optimizer.update(params, state, grad_batch=parts, grad_weights=weights, grad_keys=keys,
                                        sequential=sequential, **common)
            for name in ("loss", "rho", "step_norm", "step_rate"):
                assert float(in_parts[2][name]) == pytest.approx(float(whole[2][name]), rel=1e-9), (sequential, name)
            assert int(in_parts[2]["cg_iters"]) == int(whole[2]["cg_iters"])
            np.testing.assert_allclose(ravel_pytree(in_parts[0])[0], ravel_pytree(whole[0])[0], rtol=1e-9, atol=1e-12)


def test_masked_mse_of_an_empty_mask_is_zero_with_a_finite_gradient():
    outputs, targets = jnp.ones((2, 3, 1)), jnp.zeros((2, 3, 1))
    value, grad = jax.value_and_grad(masked_mse)(outputs, targets, jnp.zeros((2, 3)))
    assert float(value) == 0.0 and bool(jnp.all(grad == 0.0))
    assert float(masked_mse(outputs, targets, jnp.ones((2, 3)))) == 1.0


def _objectives(task, params):
    """Every Objective of the package, noise-free."""
    from rnncondense.condense.preserve import alignment_reference, preserving_objective
    from rnncondense.runs.ensemble import _objective as ensemble_objective

    reference = alignment_reference(params, task, alpha=0.1, k=3)
    return {
        "task": task_objective(task, alpha=0.1, sigma_rec=0.0),
        "ensemble": ensemble_objective(task, 0.1, jnp.asarray(0.0)),
        "preserve": preserving_objective(task, reference, alpha=0.1, sigma_rec=0.0, weight=0.5),
    }


@pytest.mark.parametrize("name", ["task", "ensemble", "preserve"])
def test_an_objectives_loss_is_the_weighted_mean_of_its_parts(name):
    """The contract chunking rests on: loss(batch) = sum_c weight(part c) / weight(batch) loss(part c)."""
    task = CueSetGo(CueSetGoConfig(intervals_ms=[500.0, 700.0, 900.0], tail_ms=100.0))
    params = rnn.init_params(jax.random.PRNGKey(1), 7, g=1.3)
    params = params._replace(W_out=0.3 * jax.random.normal(jax.random.PRNGKey(2), (1, 7)))
    objective = _objectives(task, params)[name]
    batch = objective.sample(params, jax.random.PRNGKey(0), 12)
    key = jax.random.PRNGKey(4)

    def loss(b):
        return float(objective.loss(objective.model(params, b, key)[0], b))

    parts = [objective.minibatch(batch, start, 4) for start in (0, 4, 8)]
    weights = [float(objective.weight(p)) for p in parts]
    assert len(set(weights)) > 1  # the parts weigh differently (intervals of different length)
    mean = sum(w * loss(p) for w, p in zip(weights, parts)) / float(objective.weight(batch))
    assert mean == pytest.approx(loss(batch), rel=1e-5)


def test_minibatches_one_after_another_or_all_at_once_give_the_same_steps():
    """With recurrent noise: the memory setting `gradient_by_minibatch` does not change the numbers."""
    task = CueSetGo(CueSetGoConfig(intervals_ms=[500.0, 800.0], tail_ms=100.0))
    objective = task_objective(task, alpha=0.1, sigma_rec=0.05)
    params0 = rnn.init_params(jax.random.PRNGKey(0), 12)
    runs = []
    for by_minibatch in (False, True):
        trainer = hf_trainer(objective, gradient_batch_size=16, curvature_batch_size=4,
                             gradient_by_minibatch=by_minibatch, cg_max_iters=30)
        params, state, losses = params0, trainer.init(params0), []
        for i in range(3):
            params, state, info = trainer.step(params, state, jax.random.PRNGKey(5 + i))
            losses.append(float(info["loss"]))
        runs.append((params, losses))
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-5)
    np.testing.assert_allclose(ravel_pytree(runs[1][0])[0], ravel_pytree(runs[0][0])[0], rtol=1e-3, atol=1e-5)
    with pytest.raises(ConfigError, match=r"train.hf.gradient_by_minibatch = true is not allowed .* must divide it"):
        hf_trainer(objective, gradient_batch_size=16, curvature_batch_size=5, gradient_by_minibatch=True)


@pytest.mark.parametrize("units, batches, expected", [
    (5, (128, 32), False), (64, (128, 32), False), (65, (128, 32), True), (200, (128, 32), True),
    (200, (100, 32), False), (200, (32, 32), False),
])
def test_automatic_minibatches(units, batches, expected):
    """"auto": one minibatch at a time above 8192 trials x units, where the minibatches divide the batch."""
    from rnncondense.config import gradient_by_minibatch

    hf = {"gradient_batch_size": batches[0], "curvature_batch_size": batches[1]}
    assert gradient_by_minibatch(config_from_dict({"train": {"hf": hf}}).train.hf, units) is expected
    assert gradient_by_minibatch(config_from_dict({"train": {"hf": {"gradient_by_minibatch": False}}}).train.hf, units) is False


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"initial_damping": 0.0}, "initial_damping = 0.0 is not allowed: must be > 0"),
        ({"initial_damping": -1.0}, "initial_damping = -1.0 is not allowed"),
        ({"structural_damping": -0.1}, "structural_damping = -0.1 is not allowed: must be >= 0"),
        ({"cg_max_iters": 0}, "cg_max_iters = 0 is not allowed: must be an integer >= 1"),
    ],
)
def test_bad_hyperparameters(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        hessian_free(**kwargs)


@pytest.mark.parametrize(
    "hf, message",
    [
        ({"initial_damping": 0.0}, "train.hf.initial_damping = 0.0 is not allowed: Input should be greater than 0"),
        ({"structural_damping": -0.5}, "train.hf.structural_damping = -0.5 is not allowed"),
        ({"cg_max_iters": 0}, "train.hf.cg_max_iters = 0 is not allowed: Input should be greater than or equal to 1"),
        ({"curvature_batch_size": 512}, "train.hf.curvature_batch_size (=512) must not exceed train.hf.gradient_batch_size (=128)"),
        ({"gradient_by_minibatch": True, "curvature_batch_size": 48},
         "train.hf.gradient_by_minibatch = true needs train.hf.curvature_batch_size (=48) to divide"),
        ({"gradient_by_minibatch": "yes"}, 'train.hf.gradient_by_minibatch = \'yes\' is not allowed: must be "auto", true or false'),
        ({"gradient_by_minibatch": 1}, "train.hf.gradient_by_minibatch = 1 is not allowed"),
    ],
)
def test_bad_hf_config(hf, message):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"train": {"hf": hf}})
    assert message in str(info.value)


def test_non_finite_steps_are_rejected_damping_raised_and_training_stops_after_ten(tmp_path):
    """Every step lands on NaN: each is rejected with lambda x 10; after ten the loop stops."""
    task = CueSetGo(CueSetGoConfig(intervals_ms=[500.0], tail_ms=0.0))
    params0 = rnn.init_params(jax.random.PRNGKey(0), 6)
    reference = ravel_pytree(params0)[0]

    def poisoned(params, batch, key):  # NaN anywhere but at the starting parameters
        outputs, hidden = _model(params, batch, key)
        moved = jnp.any(ravel_pytree(params)[0] != reference)
        return jnp.where(moved, jnp.nan, outputs), hidden

    optimizer = hessian_free(initial_damping=1.0, cg_max_iters=5, max_damping=1e12)
    batch = task.sample(jax.random.PRNGKey(1), 4)

    def step(params, state, key):
        return optimizer.update(params, state, model_fn=poisoned, loss_fn=_loss, grad_batch=batch,
                                curvature_batch=batch, key=key)

    trainer = Trainer("hf", init=optimizer.init, step=step, columns=("loss", "lambda"))
    saved = []
    state = initial_state(params0, trainer)
    with pytest.raises(TrainingDiverged, match="10 steps in a row gave NaN or inf"):
        run_loop(state, trainer, train_key=jax.random.PRNGKey(0), evaluate=lambda p: None, max_iters=50,
                 eval_every=1000, save_checkpoint=lambda s: saved.append(s.iteration))
    lambdas = [row["lambda"] for row in state.history]
    assert len(lambdas) == 10 and all(row["rejected"] == 1.0 for row in state.history)
    np.testing.assert_allclose(np.diff(np.log10(lambdas)), 1.0, rtol=1e-6)  # x 10 after each rejection
    assert saved == [10]
    np.testing.assert_array_equal(ravel_pytree(state.params)[0], reference)  # the last good parameters


def test_cg_that_converges_exactly_stays_finite():
    """A system CG solves exactly in a few iterations: the next direction is zero (0/0), which
    must end the loop, not turn the solution into NaN (seen on 5-unit networks, whose Gauss-Newton
    matrix starts with a large null space)."""
    a = jnp.diag(jnp.array([1.0, 2.0, 0.0, 0.0]))[:2, :2]
    b = jnp.array([1.0, 1.0])
    result = conjugate_gradient(lambda x: a @ x, b, jnp.zeros(2), max_iters=50, progress_tol=1e-30)
    assert np.all(np.isfinite(np.asarray(result.iterates[: int(result.n_stored)])))
    np.testing.assert_allclose(result.x, [1.0, 0.5], rtol=1e-6)
    assert int(result.n_iters) < 50  # it stops once the residual is gone
