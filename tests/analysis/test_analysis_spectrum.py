"""Eigenvalues against numpy and closed forms; the linearisation against finite differences of
the Euler step of rnn.py (in float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnncondense import rnn
from rnncondense.analysis.spectrum import linearize, recurrent_spectrum


def test_eigenvalues_of_known_matrices():
    # a rotation-scaling block (0.6 +- 0.8i) and a triangular block (diagonal 1.2, -0.3, 0.1)
    w = np.zeros((5, 5))
    w[:2, :2] = [[0.6, -0.8], [0.8, 0.6]]
    w[2:, 2:] = [[1.2, 5.0, -2.0], [0.0, -0.3, 7.0], [0.0, 0.0, 0.1]]
    spectrum = recurrent_spectrum(w)
    expected = np.array([1.2, 0.6 + 0.8j, 0.6 - 0.8j, -0.3, 0.1])
    np.testing.assert_allclose(spectrum.eigenvalues, expected, atol=1e-12)
    assert spectrum.spectral_radius == pytest.approx(1.2) and spectrum.max_real == pytest.approx(1.2)

    random = np.random.default_rng(0).normal(size=(30, 30)) / np.sqrt(30)
    mine = recurrent_spectrum(random).eigenvalues
    reference = np.linalg.eigvals(random)
    np.testing.assert_allclose(np.sort_complex(mine), np.sort_complex(reference), atol=1e-12)
    assert np.all(np.diff(np.abs(mine)) <= 1e-12)  # sorted by decreasing modulus


def test_linearisation_matches_finite_differences_of_the_euler_step():
    with jax.enable_x64(True):
        n, alpha, tau = 7, 0.1, 100.0
        keys = jax.random.split(jax.random.PRNGKey(0), 6)
        params = rnn.Params(
            W_rec=1.4 * jax.random.normal(keys[0], (n, n), jnp.float64) / np.sqrt(n),
            W_in=jax.random.normal(keys[1], (n, 2), jnp.float64),
            b=0.2 * jax.random.normal(keys[2], (n,), jnp.float64),
            W_out=jnp.zeros((1, n)),
            b_out=jnp.zeros(1),
            x0=jnp.zeros(n),
        )
        state = np.asarray(0.8 * jax.random.normal(keys[3], (n,), jnp.float64))
        u = jnp.array([0.4, 1.0])
        step = lambda x: np.asarray(rnn.step(params, jnp.asarray(x), u, alpha=alpha)[0])  # noqa: E731
        h = 1e-6
        fd = np.stack([(step(state + h * e) - step(state - h * e)) / (2 * h) for e in np.eye(n)], axis=1)
        result = linearize(params, state, tau_ms=tau, dt_ms=alpha * tau)
    np.testing.assert_allclose(result.jacobian_discrete, fd, atol=1e-8)
    np.testing.assert_allclose(result.jacobian_continuous, (fd - np.eye(n)) / (alpha * tau), atol=1e-9)
    np.testing.assert_allclose(
        np.sort_complex(result.eigenvalues_discrete), np.sort_complex(np.linalg.eigvals(fd)), atol=1e-7
    )


def test_linearisation_at_the_origin_and_stability():
    w = np.diag([0.5, 0.9, 1.5])
    params = rnn.Params(jnp.asarray(w), jnp.zeros((3, 2)), jnp.zeros(3), jnp.zeros((1, 3)), jnp.zeros(1), jnp.zeros(3))
    at_zero = linearize(params, np.zeros(3), tau_ms=10.0, dt_ms=1.0)
    # (lambda - 1) / tau for the eigenvalues lambda of W_rec
    np.testing.assert_allclose(np.sort(at_zero.eigenvalues_continuous.real), [-0.05, -0.01, 0.05], atol=1e-8)
    assert not at_zero.stable  # the eigenvalue 1.5 of W_rec lies right of Re = 1
    saturated = linearize(params, np.full(3, 3.0), tau_ms=10.0, dt_ms=1.0)  # gain 1 - tanh(3)^2 ~ 0.01
    assert saturated.stable
    with pytest.raises(ValueError, match=r"state must have shape \(3,\)"):
        linearize(params, np.zeros(4), tau_ms=10.0, dt_ms=1.0)
