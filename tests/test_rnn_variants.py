"""Model variants (update form x nonlinearity): the simulator against the equations written out in
numpy, and the custom-JVP gradients against plain autodiff through `simulate_reference`, float64."""

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnncondense import rnn
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError

COMBINATIONS = list(itertools.product(rnn.FORMS, rnn.NONLINEARITIES))

NUMPY_F = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "identity": lambda x: x,
}


def _alpha(form):
    return 1.0 if form == "discrete" else 0.2


def _network(seed, n=5, n_in=3, n_out=2):
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    return rnn.Params(
        W_rec=0.9 * jax.random.normal(k[0], (n, n), jnp.float64) / np.sqrt(n),
        W_in=jax.random.normal(k[1], (n, n_in), jnp.float64),
        b=0.2 * jax.random.normal(k[2], (n,), jnp.float64),
        W_out=jax.random.normal(k[3], (n_out, n), jnp.float64),
        b_out=jax.random.normal(k[4], (n_out,), jnp.float64),
        x0=0.4 * jax.random.normal(k[5], (n,), jnp.float64),
    )


def _numpy_simulation(p, inputs, noise, alpha, form, name):
    """The module docstring's equations, one step at a time; inputs (B, T, I), noise (B, T, N)."""
    f = NUMPY_F[name]
    x = np.broadcast_to(p["x0"], (inputs.shape[0], p["x0"].size)).copy()
    states, outputs = [], []
    for t in range(inputs.shape[1]):
        drive = inputs[:, t] @ p["W_in"].T + p["b"]
        if form == "current":
            x = x + alpha * (-x + f(x) @ p["W_rec"].T + drive) + noise[:, t]
            r = f(x)
        else:
            x = (1 - alpha) * x + alpha * f(x @ p["W_rec"].T + drive + noise[:, t] / alpha)
            r = x
        states.append(x)
        outputs.append(r @ p["W_out"].T + p["b_out"])
    return np.stack(states, 1), np.stack(outputs, 1)


@pytest.mark.parametrize("form,name", COMBINATIONS)
def test_forward_matches_numpy_equations(form, name):
    with jax.enable_x64(True):
        params, alpha = _network(1), _alpha(form)
        dynamics = rnn.Dynamics(form, name)
        inputs = np.asarray(jax.random.normal(jax.random.PRNGKey(2), (3, 8, 3), jnp.float64))
        key = jax.random.PRNGKey(3)
        traj = rnn.simulate(params, jnp.asarray(inputs), key, alpha=alpha, sigma_rec=0.2, dynamics=dynamics)
        noise = np.swapaxes(np.asarray(rnn.recurrent_noise(key, (8, 3, 5), alpha=alpha, sigma_rec=0.2)), 0, 1)
        p = {k: np.asarray(v) for k, v in params._asdict().items()}
        states, outputs = _numpy_simulation(p, inputs, noise, alpha, form, name)
        np.testing.assert_allclose(traj.states, states, atol=1e-12)
        np.testing.assert_allclose(traj.outputs, outputs, atol=1e-12)
        expected_rates = NUMPY_F[name](states) if form == "current" else states
        np.testing.assert_allclose(traj.rates, expected_rates, atol=1e-12)
        only = rnn.simulate_outputs(params, jnp.asarray(inputs), key, alpha=alpha, sigma_rec=0.2, dynamics=dynamics)
        np.testing.assert_allclose(only, outputs, atol=1e-12)


def _objective(simulator, params, inputs, noise, alpha, dynamics):
    traj = simulator(params, inputs, noise, alpha=alpha, dynamics=dynamics)
    return jnp.sum(jnp.sin(traj.outputs)) + 0.3 * jnp.sum(traj.states[-3:] ** 2) + 0.1 * jnp.sum(traj.rates**2)


@pytest.mark.parametrize("form,name", COMBINATIONS)
def test_custom_jvp_gradients_match_plain_autodiff(form, name):
    """Reverse mode (the transposed custom JVP) and forward mode against jax.grad / jax.jvp of the
    step-by-step reference, with noise, for every parameter."""
    with jax.enable_x64(True):
        params, alpha = _network(4), _alpha(form)
        dynamics = rnn.Dynamics(form, name)
        inputs = jax.random.normal(jax.random.PRNGKey(5), (9, 2, 3), jnp.float64)
        noise = 0.05 * jax.random.normal(jax.random.PRNGKey(6), (9, 2, 5), jnp.float64)
        fast = partial(_objective, rnn.simulate_time_major)
        slow = partial(_objective, rnn.simulate_reference)
        g_fast = jax.grad(fast, argnums=(0, 2))(params, inputs, noise, alpha, dynamics)
        g_slow = jax.grad(slow, argnums=(0, 2))(params, inputs, noise, alpha, dynamics)
        for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_slow)):
            assert np.abs(np.asarray(b)).max() > 0 or name == "identity"
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
        tangent = jax.tree.map(lambda x: jax.random.normal(jax.random.PRNGKey(7), x.shape, x.dtype), params)
        jvp_fast = jax.jvp(lambda q: rnn.simulate_time_major(q, inputs, noise, alpha=alpha, dynamics=dynamics), (params,), (tangent,))[1]
        jvp_slow = jax.jvp(lambda q: rnn.simulate_reference(q, inputs, noise, alpha=alpha, dynamics=dynamics), (params,), (tangent,))[1]
        for a, b in zip(jvp_fast, jvp_slow):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_the_default_is_the_current_form_with_tanh():
    params = rnn.init_params(jax.random.PRNGKey(0), 6)
    inputs = jax.random.normal(jax.random.PRNGKey(1), (2, 7, 2))
    default = rnn.simulate(params, inputs, alpha=0.1)
    explicit = rnn.simulate(params, inputs, alpha=0.1, dynamics=rnn.Dynamics("current", "tanh"))
    np.testing.assert_array_equal(default.states, explicit.states)
    assert rnn.Dynamics() == rnn.CURRENT_TANH


def test_bad_variants_are_refused():
    params = rnn.init_params(jax.random.PRNGKey(0), 4)
    inputs = jnp.zeros((1, 3, 2))
    with pytest.raises(ValueError, match="alpha \\(=0.1\\) must be 1 for the discrete form"):
        rnn.simulate(params, inputs, alpha=0.1, dynamics=rnn.Dynamics("discrete", "tanh"))
    with pytest.raises(ValueError, match="form = 'leaky' is not allowed: choose one of current, rate, discrete"):
        rnn.simulate_outputs(params, inputs, alpha=0.1, dynamics=rnn.Dynamics("leaky", "tanh"))
    with pytest.raises(ValueError, match="nonlinearity = 'elu' is not allowed"):
        rnn.simulate(params, inputs, alpha=0.1, dynamics=rnn.Dynamics("rate", "elu"))


def test_config_fields_choose_the_variant():
    config = config_from_dict({"model": {"form": "discrete", "nonlinearity": "relu", "tau_ms": 5.0}})
    assert config.dynamics == rnn.Dynamics("discrete", "relu") and config.alpha == 1.0  # dt 10 > tau 5 is fine here
    assert config_from_dict({"model": {"form": "rate"}}).alpha == pytest.approx(0.1)
    assert config_from_dict({}).dynamics == rnn.CURRENT_TANH
    with pytest.raises(ConfigError, match="model.nonlinearity = 'elu' is not allowed: Input should be 'tanh', 'relu'"):
        config_from_dict({"model": {"nonlinearity": "elu"}})
    with pytest.raises(ConfigError, match="must not exceed model.tau_ms"):
        config_from_dict({"model": {"form": "rate", "tau_ms": 5.0}})
