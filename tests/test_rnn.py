"""The simulator: shapes, the Euler step, and gradients against finite differences (float64)."""

from functools import partial

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from rnncondense import rnn


def _random_network(key, n=6, n_in=2, n_out=2, dtype=jnp.float64):
    k = jax.random.split(key, 6)
    return rnn.Params(
        W_rec=1.3 * jax.random.normal(k[0], (n, n), dtype) / np.sqrt(n),
        W_in=jax.random.normal(k[1], (n, n_in), dtype),
        b=0.1 * jax.random.normal(k[2], (n,), dtype),
        W_out=jax.random.normal(k[3], (n_out, n), dtype),
        b_out=jax.random.normal(k[4], (n_out,), dtype),
        x0=0.5 * jax.random.normal(k[5], (n,), dtype),
    )


def test_init_params_shapes_and_statistics():
    params = rnn.init_params(jax.random.PRNGKey(0), 400, n_inputs=3, n_outputs=2, g=1.5)
    assert params.W_rec.shape == (400, 400) and params.W_in.shape == (400, 3)
    assert params.W_out.shape == (2, 400) and params.b_out.shape == (2,) and params.x0.shape == (400,)
    assert float(jnp.std(params.W_rec) * np.sqrt(400)) == pytest.approx(1.5, rel=0.02)
    assert float(jnp.min(params.W_in)) >= -1 and float(jnp.max(params.W_in)) <= 1
    assert not jnp.any(params.W_out)


def test_simulate_matches_explicit_euler_loop():
    """The scan equals the equation of DESIGN.md written out step by step in numpy."""
    with jax.enable_x64(True):
        params = _random_network(jax.random.PRNGKey(1))
        inputs = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (3, 9, 2), jnp.float64))
        alpha = 0.2
        traj = rnn.simulate(params, jnp.asarray(inputs), alpha=alpha)
        p = {k: np.asarray(v) for k, v in params._asdict().items()}
        x = np.broadcast_to(p["x0"], (3, 6)).copy()
        for t in range(9):
            x = x + alpha * (-x + np.tanh(x) @ p["W_rec"].T + inputs[:, t] @ p["W_in"].T + p["b"])
            np.testing.assert_allclose(traj.states[:, t], x, atol=1e-12)
            np.testing.assert_allclose(traj.outputs[:, t], np.tanh(x) @ p["W_out"].T + p["b_out"], atol=1e-12)
        assert traj.rates.shape == (3, 9, 6)


def test_noise_comes_from_the_key():
    params = rnn.init_params(jax.random.PRNGKey(0), 8)
    inputs = jnp.zeros((2, 5, 2))
    a = rnn.simulate(params, inputs, jax.random.PRNGKey(3), alpha=0.1, sigma_rec=0.1).states
    b = rnn.simulate(params, inputs, jax.random.PRNGKey(3), alpha=0.1, sigma_rec=0.1).states
    c = rnn.simulate(params, inputs, jax.random.PRNGKey(4), alpha=0.1, sigma_rec=0.1).states
    clean = rnn.simulate(params, inputs, None, alpha=0.1, sigma_rec=0.1).states
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, clean)


def test_noise_is_drawn_step_by_step_with_the_right_statistics(monkeypatch):
    """Step t of the noise is N(0, alpha sigma^2) from step key t alone, however many steps are
    drawn together, and independent across steps, trials and units."""
    alpha, sigma, shape = 0.1, 0.05, (71, 64, 50)
    key = jax.random.PRNGKey(11)
    noise = np.asarray(rnn.recurrent_noise(key, shape, alpha=alpha, sigma_rec=sigma))  # in one block
    monkeypatch.setattr(rnn, "NOISE_BLOCK_SIZE", 32 * 64 * 50)  # blocks of 32 steps, which do not divide 71
    np.testing.assert_allclose(rnn.recurrent_noise(key, shape, alpha=alpha, sigma_rec=sigma), noise, rtol=1e-6, atol=1e-9)
    assert noise.shape == shape
    step_keys = rnn.noise_step_keys(key, shape[0])
    for t in (0, 31, 32, shape[0] - 1):
        alone = rnn.noise_at(step_keys[t], shape[1:], alpha=alpha, sigma_rec=sigma)
        np.testing.assert_allclose(noise[t], alone, rtol=1e-6, atol=1e-9)  # the same numbers, to rounding
    scale = np.sqrt(alpha) * sigma
    assert noise.mean() == pytest.approx(0.0, abs=4 * scale / np.sqrt(noise.size))
    assert noise.std() == pytest.approx(scale, rel=0.01)
    flat = noise.reshape(shape[0], -1)
    assert abs(np.corrcoef(flat[:-1].ravel(), flat[1:].ravel())[0, 1]) < 0.01  # consecutive steps
    assert not np.array_equal(noise[:, 0], noise[:, 1]) and not np.array_equal(noise[..., 0], noise[..., 1])


def test_outputs_only_path_equals_the_full_simulation_with_and_without_noise():
    """`simulate_outputs` (one scan, nothing stored but z) against `simulate`, in float64."""
    with jax.enable_x64(True):
        params = _random_network(jax.random.PRNGKey(5), n=7)
        inputs = jax.random.normal(jax.random.PRNGKey(6), (4, 30, 2), jnp.float64)
        for key, sigma in ((None, 0.0), (jax.random.PRNGKey(7), 0.3)):
            full = rnn.simulate(params, inputs, key, alpha=0.1, sigma_rec=sigma).outputs
            only = rnn.simulate_outputs(params, inputs, key, alpha=0.1, sigma_rec=sigma)
            assert only.shape == (4, 30, 2)
            np.testing.assert_allclose(only, full, rtol=0, atol=1e-12)


@partial(jax.jit, static_argnums=3)
def _loss(params, inputs, noise, alpha):
    traj = rnn.simulate_time_major(params, inputs, noise, alpha=alpha)
    return jnp.sum(jnp.sin(traj.outputs)) + 0.3 * jnp.sum(traj.states[-3:] ** 2)


def test_gradients_match_finite_differences_float64():
    """Reverse mode through the custom-JVP scan against central differences, every parameter."""
    with jax.enable_x64(True):
        params = _random_network(jax.random.PRNGKey(5))
        inputs = jax.random.normal(jax.random.PRNGKey(6), (12, 2, 2), jnp.float64)
        noise = 0.05 * jax.random.normal(jax.random.PRNGKey(7), (12, 2, 6), jnp.float64)
        grads = jax.grad(_loss)(params, inputs, noise, 0.15)
        flat, unravel = jax.flatten_util.ravel_pytree(params)
        rng = np.random.default_rng(0)
        eps = 1e-6
        for index in rng.choice(flat.size, 40, replace=False):
            e = jnp.zeros_like(flat).at[index].set(eps)
            numeric = (_loss(unravel(flat + e), inputs, noise, 0.15) - _loss(unravel(flat - e), inputs, noise, 0.15)) / (2 * eps)
            analytic = jax.flatten_util.ravel_pytree(grads)[0][index]
            assert float(analytic) == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)


def test_forward_mode_matches_plain_autodiff():
    """The custom JVP rule against JAX's own differentiation of the step-by-step reference."""
    with jax.enable_x64(True):
        params = _random_network(jax.random.PRNGKey(8))
        inputs = jax.random.normal(jax.random.PRNGKey(9), (10, 3, 2), jnp.float64)
        tangent = jax.tree.map(lambda x: jax.random.normal(jax.random.PRNGKey(10), x.shape, x.dtype), params)
        fast = jax.jvp(lambda p: rnn.simulate_time_major(p, inputs, alpha=0.1), (params,), (tangent,))[1]
        slow = jax.jvp(lambda p: rnn.simulate_reference(p, inputs, alpha=0.1), (params,), (tangent,))[1]
        for a, b in zip(fast, slow):
            np.testing.assert_allclose(a, b, atol=1e-12)
