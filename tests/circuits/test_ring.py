"""Ring attractor against the analytic continuum theory of Ben-Yishai et al. 1995 and its phase
reduction: homogeneous and linear states, the symmetry-breaking point, the bump, the lag behind a
rotating input, and the drift caused by an odd weight component."""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from rnncondense.circuits.ring import (
    RingConfig,
    bump_center_deg,
    critical_speed_deg_per_s,
    odd_drift_speed_deg_per_s,
    predicted_lag_deg,
    simulate_ring,
    steady_state,
    wrap_deg,
)


def unwrapped_center_deg(result):
    return np.rad2deg(np.unwrap(np.deg2rad(2.0 * bump_center_deg(result.rates, result.theta_deg))) / 2.0)


def test_homogeneous_amplitude_below_symmetry_breaking():
    config = RingConfig(j0=-5.0, j2=1.0, input_c=1.0, input_eps=0.0, duration_ms=800.0, settle_ms=100.0)
    final = simulate_ring(config).rates[-1]
    np.testing.assert_allclose(final, 1.0 / (1.0 + 5.0), rtol=1e-9)  # c / (1 - J0)


def test_linear_tuned_profile_below_symmetry_breaking():
    c, eps, j0, j2 = 1.0, 0.05, -5.0, 1.0
    config = RingConfig(j0=j0, j2=j2, input_c=c, input_eps=eps, input_deg=20.0, duration_ms=300.0, settle_ms=100.0)
    result = simulate_ring(config)
    psi = np.deg2rad(2.0 * (result.theta_deg - 20.0))
    expected = c * (1 - eps) / (1 - j0) + c * eps / (1 - j2 / 2) * np.cos(psi)
    assert expected.min() > 0  # every unit above threshold
    np.testing.assert_allclose(result.rates[-1], expected, rtol=1e-6)
    state = steady_state(j0=j0, j2=j2, c=c, eps=eps)
    assert state.regime == "linear"
    assert state.peak == pytest.approx(c * (1 - eps) / (1 - j0) + c * eps / (1 - j2 / 2), rel=1e-12)


@pytest.mark.parametrize("j2, bump", [(1.9, False), (2.1, True)])
def test_symmetry_breaks_at_j2_equal_two(j2, bump):
    theta = -90.0 + 180.0 * np.arange(100) / 100
    start = (1.0 / 6.0) * (1.0 + 1e-3 * np.cos(np.deg2rad(2.0 * theta)))  # uniform state, nudged
    config = RingConfig(j0=-5.0, j2=j2, input_eps=0.0, dt_ms=0.5, duration_ms=3000.0, settle_ms=100.0)
    final = simulate_ring(config, r0=start).rates[-1]
    modulation = final.std() / final.mean()
    if bump:
        assert modulation > 0.1
    else:
        assert modulation < 1e-4


def bump_theory(j0, j2, c):
    """Marginal bump r = A [cos psi - cos psi_c]_+ (eps = 0), solved here from scratch."""
    psi_c = brentq(lambda p: (p - math.sin(p) * math.cos(p)) / (2 * math.pi) - 1.0 / j2, 1e-9, math.pi)
    f0 = (math.sin(psi_c) - psi_c * math.cos(psi_c)) / math.pi
    amplitude = -c / (math.cos(psi_c) + j0 * f0)
    return psi_c, amplitude * (1.0 - math.cos(psi_c))


def test_bump_peak_and_width_above_symmetry_breaking():
    j0, j2, c = -5.0, 6.0, 1.0
    psi_c, peak = bump_theory(j0, j2, c)
    config = RingConfig(j0=j0, j2=j2, input_c=c, input_eps=0.0, duration_ms=600.0, settle_ms=100.0)
    final = simulate_ring(config).rates[-1]
    assert final.max() == pytest.approx(peak, rel=2e-3)
    active = np.mean(final > 1e-6)
    assert active == pytest.approx(psi_c / math.pi, abs=2.0 / config.n_units)
    state = steady_state(j0=j0, j2=j2, c=c, eps=0.0)
    assert state.regime == "bump"
    assert state.peak == pytest.approx(peak, rel=1e-9)


def test_anchored_bump_with_tuned_input_matches_self_consistent_solution():
    config = RingConfig(j0=-5.0, j2=6.0, input_eps=0.1, input_deg=-30.0, duration_ms=600.0, settle_ms=100.0)
    result = simulate_ring(config)
    final = result.rates[-1]
    state = steady_state(j0=-5.0, j2=6.0, c=1.0, eps=0.1)
    assert state.regime == "bump"
    assert final.max() == pytest.approx(state.peak, rel=2e-3)
    assert float(bump_center_deg(final, result.theta_deg)) == pytest.approx(-30.0, abs=0.5)


def test_bump_locks_to_slowly_rotating_input_with_predicted_lag():
    config = RingConfig(input_eps=0.1, speed_deg_per_s=30.0, duration_ms=3000.0, settle_ms=1500.0)
    result = simulate_ring(config, speed_deg_per_s=config.speed_deg_per_s)
    late = result.t_ms > config.settle_ms
    speed = np.polyfit(result.t_ms[late], unwrapped_center_deg(result)[late], 1)[0] * 1000.0
    assert speed == pytest.approx(30.0, rel=0.01)
    lag = wrap_deg(result.input_deg - bump_center_deg(result.rates, result.theta_deg))[late]
    predicted = predicted_lag_deg(config, 30.0)
    # tau omega A / (c eps), A the anchored bump amplitude, written out here.
    amplitude = steady_state(j0=config.j0, j2=config.j2, c=1.0, eps=0.1).amplitude
    assert predicted == pytest.approx(math.degrees(10.0 * math.radians(30.0) / 1000.0 * amplitude / 0.1), rel=1e-12)
    assert lag.mean() == pytest.approx(predicted, rel=0.03)
    assert lag.std() < 0.05 * lag.mean()


def test_bump_cannot_follow_input_far_above_critical_speed():
    config = RingConfig(input_eps=0.1, duration_ms=3000.0, settle_ms=500.0, dt_ms=0.2)
    fast = 3.0 * critical_speed_deg_per_s(config)
    result = simulate_ring(config, speed_deg_per_s=fast)
    late = result.t_ms > config.settle_ms
    speed = np.polyfit(result.t_ms[late], unwrapped_center_deg(result)[late], 1)[0] * 1000.0
    assert speed < 0.7 * fast


def test_odd_weight_component_moves_the_bump_at_gamma_over_two_j2_tau():
    config = RingConfig(odd_gamma=0.2, input_eps=0.0, duration_ms=2000.0, settle_ms=500.0, dt_ms=0.2)
    result = simulate_ring(config)
    late = result.t_ms > config.settle_ms
    speed = np.polyfit(result.t_ms[late], unwrapped_center_deg(result)[late], 1)[0] * 1000.0
    expected = math.degrees(0.2 / (2 * 6.0 * 10.0)) * 1000.0
    assert odd_drift_speed_deg_per_s(config) == pytest.approx(expected, rel=1e-12)
    assert speed == pytest.approx(expected, rel=0.03)


def test_steady_state_rejects_runaway_couplings():
    with pytest.raises(ValueError, match="J0"):
        steady_state(j0=1.5, j2=1.0, c=1.0, eps=0.0)
    with pytest.raises(ValueError, match="more negative"):
        steady_state(j0=0.0, j2=6.0, c=1.0, eps=0.0)
