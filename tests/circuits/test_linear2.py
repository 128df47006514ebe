"""Two linear units against closed forms: mode time constants tau / (1 - lambda), fixed point."""

import numpy as np
import pytest

from rnncondense.circuits.linear2 import (
    Linear2Config,
    eigenmodes,
    mode_decay_times_ms,
    pulse_experiments,
    simulate_linear2,
    steady_state,
)

TAU = 10.0
SQRT_HALF = np.sqrt(0.5)


def test_default_matrix_eigenvalues_and_eigenvectors():
    modes = eigenmodes(np.array([[0.0, 0.8], [0.8, 0.0]]), TAU)
    np.testing.assert_allclose(modes.eigenvalues, [0.8, -0.8], atol=1e-12)
    np.testing.assert_allclose(modes.eigenvectors[:, 0], [SQRT_HALF, SQRT_HALF], atol=1e-12)
    np.testing.assert_allclose(np.abs(modes.eigenvectors[:, 1]), [SQRT_HALF, SQRT_HALF], atol=1e-12)
    assert modes.eigenvectors[0, 1] * modes.eigenvectors[1, 1] < 0
    np.testing.assert_allclose(modes.time_constants_ms, [5 * TAU, TAU / 1.8], rtol=1e-12)
    assert modes.stable


@pytest.mark.parametrize("dt_ms", [0.5, 2.0])
def test_simulated_decay_of_each_eigenmode_matches_tau_over_one_minus_lambda(dt_ms):
    config = Linear2Config(tau_ms=TAU, dt_ms=dt_ms, duration_ms=100.0)
    expected = {0: 5 * TAU, 1: TAU / 1.8}  # lambda = 0.8 and -0.8
    for k, start in enumerate(([SQRT_HALF, SQRT_HALF], [SQRT_HALF, -SQRT_HALF])):
        result = simulate_linear2(config, v0=np.array(start))
        # The state stays on its eigenvector and shrinks as exp(-t / tau_k).
        np.testing.assert_allclose(result.v[:, 0], np.sign(start[1]) * result.v[:, 1], atol=1e-12)
        slope = np.polyfit(result.t_ms, np.log(np.linalg.norm(result.v, axis=1)), 1)[0]
        assert -1.0 / slope == pytest.approx(expected[k], rel=1e-3)
        fitted = mode_decay_times_ms(result, config.matrix, after_ms=0.0)
        assert fitted[k] == pytest.approx(expected[k], rel=1e-3)


def test_steady_state_matches_inverse_of_identity_minus_m():
    h = np.array([1.0, 0.5])
    config = Linear2Config(h=h.tolist(), duration_ms=1000.0)  # 20 slow time constants
    result = simulate_linear2(config)
    by_hand = np.array([1.0 + 0.8 * 0.5, 0.8 * 1.0 + 0.5]) / (1.0 - 0.64)  # (I - M)^-1 = [[1, .8], [.8, 1]] / .36
    np.testing.assert_allclose(steady_state(config.matrix, h), by_hand, rtol=1e-12)
    np.testing.assert_allclose(result.v[-1], by_hand, rtol=1e-6)


def test_rotation_matrix_spirals_with_the_closed_form_solution():
    # M = [[0, -1], [1, 0]]: lambda = +-i, so v(t) = e^{-t/tau} R(t/tau) v0 exactly.
    config = Linear2Config(M=[[0.0, -1.0], [1.0, 0.0]], tau_ms=TAU, dt_ms=1.0, duration_ms=60.0)
    modes = eigenmodes(config.matrix, TAU)
    np.testing.assert_allclose(np.sort(modes.eigenvalues.imag), [-1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(modes.time_constants_ms, [TAU, TAU], rtol=1e-12)
    result = simulate_linear2(config, v0=np.array([1.0, 0.0]))
    phase = result.t_ms / TAU
    expected = np.exp(-phase)[:, None] * np.stack([np.cos(phase), np.sin(phase)], axis=1)
    np.testing.assert_allclose(result.v, expected, atol=1e-12)
    np.testing.assert_allclose(mode_decay_times_ms(result, config.matrix, after_ms=0.0), [TAU, TAU], rtol=1e-6)


def test_pulse_along_an_eigenvector_stays_on_it_and_axis_pulse_excites_both_modes():
    config = Linear2Config()
    experiments = pulse_experiments(config)
    names = list(experiments)
    assert len(names) == 4
    along_first = experiments[names[2]].v
    np.testing.assert_allclose(along_first[:, 0], along_first[:, 1], atol=1e-12)
    along_axis = experiments[names[0]].v
    assert np.max(np.abs(along_axis[:, 0] - along_axis[:, 1])) > 0.1
    after = experiments[names[0]].t_ms >= config.pulse_onset_ms + config.pulse_ms
    fitted = mode_decay_times_ms(
        experiments[names[0]]._replace(t_ms=experiments[names[0]].t_ms[after], v=along_axis[after]),
        config.matrix,
        after_ms=0.0,
    )
    np.testing.assert_allclose(fitted, [5 * config.tau_ms, config.tau_ms / 1.8], rtol=1e-3)


def test_defective_matrix_has_no_separate_modes_to_fit():
    # M = [[.5, 1], [0, .5]]: one eigenvector; v(t) has a t e^{-t / (2 tau)} term.
    config = Linear2Config(M=[[0.5, 1.0], [0.0, 0.5]], tau_ms=TAU, duration_ms=100.0)
    result = simulate_linear2(config, v0=np.array([0.0, 1.0]))
    t = result.t_ms
    np.testing.assert_allclose(result.v[:, 1], np.exp(-t / (2 * TAU)), rtol=1e-10)
    np.testing.assert_allclose(result.v[:, 0], (t / TAU) * np.exp(-t / (2 * TAU)), rtol=1e-9, atol=1e-14)
    assert np.all(np.isnan(mode_decay_times_ms(result, config.matrix, after_ms=0.0)))
