"""Fixed points against known answers: a linear network (numpy's solve and eigenvalues), a 2-unit
bistable tanh network (brentq and the explicit Jacobian), the threshold-linear ring attractor (the
analytic bump of Ben-Yishai et al. 1995), and a random rate network (the simulator and
spectrum.linearize)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from rnncondense.analysis.fixed_points import (
    classify_stability,
    context_fixed_points,
    find_fixed_points,
    held_inputs,
    slow_manifold_dim,
    time_constants_ms,
)
from rnncondense.analysis.spectrum import linearize
from rnncondense.circuits import ring
from rnncondense.rnn import init_params, simulate

ALPHA, DT_MS = 0.1, 10.0


def linear_update(x, args):
    matrix, h, alpha = args
    return alpha * (-x + matrix @ x + h)


def tanh_update(x, args):
    matrix, alpha = args
    return alpha * (-x + matrix @ jnp.tanh(x))


def ring_update(r, args):
    matrix, c, alpha = args
    return alpha * (jnp.maximum(matrix @ r + c, 0.0) - r)


def _sorted_eigenvalues(matrix):
    values = np.linalg.eigvals(matrix)
    return values[np.lexsort((-values.imag, -values.real, -np.abs(values)))]


def test_a_linear_network_has_one_fixed_point_with_numpys_location_and_eigenvalues():
    rng = np.random.default_rng(1)
    n = 8
    matrix = 0.6 * rng.normal(size=(n, n)) / np.sqrt(n)  # spectral radius < 1: I - M invertible, stable
    h = rng.normal(size=n)
    starts = rng.normal(size=(32, n)) * 3.0
    fp = find_fixed_points(linear_update, starts, (matrix, h, ALPHA), dt_ms=DT_MS)
    assert fp.points.shape == (1, n) and fp.n_converged == 32
    np.testing.assert_allclose(fp.points[0], np.linalg.solve(np.eye(n) - matrix, h), atol=1e-6, rtol=0)
    step_map = (1 - ALPHA) * np.eye(n) + ALPHA * matrix
    np.testing.assert_allclose(fp.jacobians[0], step_map, atol=1e-10)
    np.testing.assert_allclose(fp.eigenvalues[0], _sorted_eigenvalues(step_map), atol=1e-6)
    assert fp.stability == ("stable",) and fp.n_unstable[0] == 0
    expected = DT_MS / -np.log(np.abs(_sorted_eigenvalues(step_map)[0]))
    assert fp.slowest_time_constant_ms[0] == pytest.approx(expected, rel=1e-9)


def test_the_two_unit_linear_circuit_has_mode_time_constants_five_tau_and_tau_over_1_8():
    """Dayan & Abbott's M = [[0, .8], [.8, 0]]: step-map eigenvalues 1 - alpha (1 -+ 0.8) exactly; the
    map's time constants approach the continuous 5 tau and tau / 1.8 as alpha -> 0."""
    matrix, h, alpha, tau = np.array([[0.0, 0.8], [0.8, 0.0]]), np.array([1.0, -0.5]), 0.001, 100.0
    starts = np.random.default_rng(0).normal(size=(16, 2))
    fp = find_fixed_points(linear_update, starts, (matrix, h, alpha), dt_ms=alpha * tau, n_slow=2)
    np.testing.assert_allclose(fp.points[0], np.linalg.solve(np.eye(2) - matrix, h), atol=1e-6)
    np.testing.assert_allclose(fp.eigenvalues[0].real, [1 - 0.2 * alpha, 1 - 1.8 * alpha], atol=1e-12)
    taus = time_constants_ms(fp.eigenvalues[0], alpha * tau)
    np.testing.assert_allclose(taus, [5 * tau, tau / 1.8], rtol=2e-3)
    slow = np.real(fp.slow_directions[0][:, 0])
    assert abs(slow @ np.array([1.0, 1.0]) / np.sqrt(2) / np.linalg.norm(slow)) == pytest.approx(1.0, abs=1e-9)


def test_a_bistable_pair_has_two_stable_points_and_a_saddle_between_them():
    """x' = -x + [[0, 2], [2, 0]] tanh(x): fixed points 0 and +-(s, s) with s = 2 tanh(s). The origin's
    Jacobian -I + W has eigenvalues +1 and -3 (one unstable direction); at +-(s, s) the gain
    g = 1 - tanh(s)^2 gives -1 +- 2 g < 0."""
    matrix = np.array([[0.0, 2.0], [2.0, 0.0]])
    starts = np.random.default_rng(3).normal(size=(64, 2)) * 2.0
    fp = find_fixed_points(tanh_update, starts, (matrix, ALPHA), dt_ms=DT_MS)
    s = brentq(lambda v: v - 2.0 * np.tanh(v), 0.5, 5.0, xtol=1e-15)
    order = np.argsort(fp.points[:, 0])
    np.testing.assert_allclose(fp.points[order], [[-s, -s], [0.0, 0.0], [s, s]], atol=1e-6)
    assert [fp.stability[i] for i in order] == ["stable", "saddle", "stable"]
    assert list(fp.n_unstable[order]) == [0, 1, 0]
    gain = 1.0 - np.tanh(s) ** 2
    for i, x in zip(order, [-s, 0.0, s]):
        explicit = (1 - ALPHA) * np.eye(2) + ALPHA * matrix * (1.0 - np.tanh(x) ** 2)
        np.testing.assert_allclose(fp.eigenvalues[i], _sorted_eigenvalues(explicit), atol=1e-6)
    np.testing.assert_allclose(fp.eigenvalues[order[1]], [1 + ALPHA, 1 - 3 * ALPHA], atol=1e-9)
    np.testing.assert_allclose(fp.eigenvalues[order[0]], [1 + ALPHA * (2 * gain - 1), 1 - ALPHA * (2 * gain + 1)], atol=1e-9)
    # the saddle's unstable direction points from one stable point to the other
    unstable = np.real(fp.slow_directions[order[1]][:, 0])
    assert abs(unstable @ np.array([1.0, 1.0])) / np.linalg.norm(unstable) == pytest.approx(np.sqrt(2), abs=1e-9)


def test_every_start_on_the_ring_attractor_ends_on_the_analytic_ring():
    """Ring of Ben-Yishai et al. (J0 = -5, J2 = 6, untuned input): the steady states are the bumps
    A [cos(psi - phi) - cos psi_c]_+ at any phase phi. With N = 64 units the continuum breaks into
    2N points (bump on a unit: stable; between two units: a saddle) joined by very slow directions;
    every start must end on the ring, the points must cover it, and the slow direction must be the
    ring's tangent d r / d phi."""
    n = 64
    config = ring.RingConfig(n_units=n, input_eps=0.0)
    state = ring.steady_state(j0=config.j0, j2=config.j2, c=config.input_c, eps=0.0)
    psi = np.deg2rad(2.0 * ring.preferred_deg(n))
    cos_width = np.cos(np.deg2rad(2.0 * state.half_width_deg))
    bump = lambda phi: state.amplitude * np.maximum(np.cos(psi[None] - np.asarray(phi)[:, None]) - cos_width, 0.0)
    rng = np.random.default_rng(0)
    starts = bump(rng.uniform(-np.pi, np.pi, 100)) + 0.01 * rng.normal(size=(100, n))
    fp = find_fixed_points(ring_update, starts, (ring.ring_weights(config), config.input_c, 0.01), dt_ms=0.1)
    assert fp.n_converged == fp.n_starts == 100 and fp.n_outliers == 0
    phase = np.deg2rad(2.0 * ring.bump_center_deg(fp.points, ring.preferred_deg(n)))
    # finite-N discreteness moves the profile by < 1e-3 of the peak (measured 2.4e-4)
    assert np.max(np.abs(fp.points - bump(phase))) < 1e-3 * state.peak
    around = np.sort(phase)
    assert np.max(np.diff(np.append(around, around[0] + 2 * np.pi))) < np.deg2rad(30.0)  # the points cover the ring
    assert set(fp.stability) <= {"stable", "saddle"} and max(fp.n_unstable) <= 1
    tangent = (bump(phase + 1e-6) - bump(phase - 1e-6)) / 2e-6
    slow = np.real(fp.slow_directions[:, :, 0])
    cosine = np.abs(np.sum(slow * tangent, axis=1)) / np.linalg.norm(slow, axis=1) / np.linalg.norm(tangent, axis=1)
    assert cosine.min() > 0.99
    # the tangent mode is far slower than a unit (tau = 10 ms): a ring of slow points
    assert fp.slowest_time_constant_ms.min() > 10 * config.tau_ms


def test_a_random_network_fixed_points_are_states_the_simulator_does_not_leave():
    params = init_params(jax.random.PRNGKey(4), 12, g=2.0)
    params = params._replace(b=0.3 * jax.random.normal(jax.random.PRNGKey(5), (12,)))
    inputs = held_inputs([0.1, 0.6])
    held = np.repeat(inputs[:, None, :], 400, axis=1)
    with jax.enable_x64(True):
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
        p64 = p64._replace(x0=jnp.asarray(np.random.default_rng(6).normal(size=12)))
        states = np.asarray(simulate(p64, jnp.asarray(held), alpha=ALPHA).states)
    result = context_fixed_points(params, inputs, states, jax.random.PRNGKey(7), alpha=ALPHA, dt_ms=DT_MS, n_starts=48)
    for c, fp in enumerate(result.per_context):
        assert fp.points.shape[0] >= 1
        for x, eigenvalues in zip(fp.points, fp.eigenvalues):
            explicit = linearize(params, x, tau_ms=DT_MS / ALPHA, dt_ms=DT_MS)
            np.testing.assert_allclose(eigenvalues, explicit.eigenvalues_discrete, atol=1e-5)
        with jax.enable_x64(True):
            p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
            stay = simulate(p64._replace(x0=jnp.asarray(fp.points[0])), jnp.asarray(held[c:c + 1, :50]), alpha=ALPHA)
        np.testing.assert_allclose(np.asarray(stay.states)[0, -1], fp.points[0], atol=1e-9)
        # the end of a long simulation sits on one of the found stable points
        stable = fp.points[[label == "stable" for label in fp.stability]]
        assert np.min(np.linalg.norm(stable - states[c, -1], axis=1)) < 1e-4
    assert list(result.n_stable + result.n_saddle + result.n_unstable) == [len(fp.q) for fp in result.per_context]
    assert np.all(result.slowest_time_constant_ms > 0)


def test_stability_classes_and_manifold_dimension_from_their_definitions():
    assert classify_stability(np.array([0.5, 0.9j]), 1e-6) == (0, 0, "stable")
    assert classify_stability(np.array([1.5, 0.2, 1.0]), 1e-6) == (1, 1, "saddle")
    assert classify_stability(np.array([1.5, -1.2]), 1e-6) == (2, 0, "unstable")
    t = np.linspace(0, 1, 20)[:, None]
    assert slow_manifold_dim(np.zeros((1, 5))) == 0
    assert slow_manifold_dim(t * np.array([1.0, 2.0, 0.0])) == 1
    angle = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    assert slow_manifold_dim(np.stack([np.cos(angle), np.sin(angle), np.zeros(40)], axis=1)) == 2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"q_tol \(=-1\) must be a positive number"):
        find_fixed_points(linear_update, np.zeros((2, 2)), (np.eye(2), np.zeros(2), 0.1), dt_ms=1.0, q_tol=-1)
    with pytest.raises(ValueError, match="starts must be a finite"):
        find_fixed_points(linear_update, np.zeros(2), (np.eye(2), np.zeros(2), 0.1), dt_ms=1.0)
