"""Rubin et al. 2009 CPG: rhythm patterns, solver convergence, agreement with the Euler baseline,
and the fixes of the seed notebook's bugs."""

import numpy as np
import pytest

from rnncondense.circuits.respiratory import (
    INITIAL_STATE,
    PHASES,
    RespiratoryConfig,
    _jacobian_factory,
    _rhs_factory,
    measure_rhythm,
    output,
    simulate_respiratory,
    simulate_respiratory_loop,
)

CONFIG = RespiratoryConfig(duration_ms=15000.0, transient_ms=4000.0)


@pytest.fixture(scope="module")
def default_run():
    result = simulate_respiratory(CONFIG)
    return result, measure_rhythm(result, transient_ms=CONFIG.transient_ms)


def test_three_phase_rhythm_at_default_drive(default_run):
    result, rhythm = default_run
    assert rhythm.pattern == "three-phase"
    assert rhythm.n_cycles >= 3
    assert rhythm.period_sd_ms < 0.01 * rhythm.period_ms  # a regular limit cycle
    for name in PHASES:
        assert rhythm.phase_ms[name] > 0.05 * rhythm.period_ms
    assert sum(rhythm.phase_ms.values()) == pytest.approx(rhythm.period_ms, rel=0.01)
    assert rhythm.peak_output["post-I"] > 0.3
    # Within a cycle the leading inhibitory population goes early-I -> post-I -> aug-E.
    late = result.t_ms > CONFIG.transient_ms
    leader = np.argmax(output(result.v_mv[:, late])[1:4], axis=0)
    changes = leader[np.nonzero(np.diff(leader))[0] + 1]
    for previous, current in zip(changes[:-1], changes[1:]):
        assert current == (previous + 1) % 3


def test_removing_pontine_drive_gives_two_phase_rhythm_with_silent_post_i(default_run):
    config = CONFIG.model_copy(update={"D1": 0.0})
    rhythm = measure_rhythm(simulate_respiratory(config), transient_ms=config.transient_ms)
    assert rhythm.pattern == "two-phase"
    assert rhythm.peak_output["post-I"] < 0.01
    assert rhythm.phase_ms["post-inspiration"] == 0.0
    assert rhythm.phase_ms["inspiration"] > 0.2 * rhythm.period_ms
    assert rhythm.phase_ms["late expiration"] > 0.2 * rhythm.period_ms
    assert rhythm.period_ms != pytest.approx(default_run[1].period_ms, rel=0.05)


@pytest.mark.parametrize("d1", [1.0, 0.0])
def test_period_stays_within_one_percent_when_rtol_is_tightened_100x(d1):
    loose = CONFIG.model_copy(update={"D1": d1})
    tight = loose.model_copy(update={"rtol": loose.rtol / 100.0, "atol": loose.atol / 100.0})
    period_loose = measure_rhythm(simulate_respiratory(loose), transient_ms=loose.transient_ms).period_ms
    period_tight = measure_rhythm(simulate_respiratory(tight), transient_ms=tight.transient_ms).period_ms
    assert np.isfinite(period_loose)
    assert period_loose == pytest.approx(period_tight, rel=0.01)


def test_stiff_methods_agree_with_lsoda(default_run):
    radau = CONFIG.model_copy(update={"method": "Radau", "duration_ms": 10000.0})
    rhythm = measure_rhythm(simulate_respiratory(radau), transient_ms=radau.transient_ms)
    assert rhythm.period_ms == pytest.approx(default_run[1].period_ms, rel=0.01)


def test_python_loop_baseline_agrees_with_solve_ivp(default_run):
    config = CONFIG.model_copy(update={"duration_ms": 12000.0})
    loop = simulate_respiratory_loop(config, dt_ms=0.1)
    rhythm = measure_rhythm(loop, transient_ms=config.transient_ms)
    assert rhythm.pattern == "three-phase"
    assert rhythm.period_ms == pytest.approx(default_run[1].period_ms, rel=0.01)
    for name in PHASES:
        assert rhythm.phase_ms[name] == pytest.approx(default_run[1].phase_ms[name], rel=0.05, abs=10.0)


def test_each_adaptation_uses_its_own_voltage_and_its_own_gate():
    """The seed notebook's bug: I_AD of one population read another's voltage or gate."""
    rhs = _rhs_factory(RespiratoryConfig())
    state = np.array([-45.0, -40.0, -35.0, -50.0, 0.4, 0.2, 0.3, 0.4])
    base = np.array(rhs(0.0, state))
    gates = {1: 5, 2: 6, 3: 7}  # population index -> its adaptation gate
    for population, gate in gates.items():
        # dm_i/dt depends on V_i only (among the voltages of the adapting populations) ...
        for other in gates:
            moved = state.copy()
            moved[other] += 5.0
            changed = np.array(rhs(0.0, moved))[gate] != base[gate]
            assert changed == (other == population)
        # ... and V_i feels its own m_i, not another population's.
        for other_gate in gates.values():
            moved = state.copy()
            moved[other_gate] += 0.1
            changed = np.array(rhs(0.0, moved))[population] != base[population]
            assert changed == (other_gate == gate)


def test_adaptation_gain_is_per_population_and_nap_is_on():
    rhs = _rhs_factory(RespiratoryConfig())
    v = -30.0  # f(V) = 1/2 for the inhibitory populations
    state = np.array([v, v, v, v, 0.4, 0.0, 0.0, 0.0])
    dm = np.array(rhs(0.0, state))[5:8]
    # tau_AD dm/dt = k_AD f(V) - m with m = 0: k_AD / (2 tau_AD) for early-I, post-I, aug-E.
    np.testing.assert_allclose(dm, [0.9 / 2 / 2000.0, 1.3 / 2 / 1000.0, 0.9 / 2 / 2000.0], rtol=1e-12)
    with_nap = rhs(0.0, np.array(INITIAL_STATE))[0]
    without_nap = _rhs_factory(RespiratoryConfig(g_nap_ns=0.0))(0.0, np.array(INITIAL_STATE))[0]
    # g_NaP m_NaP(-60) h (-60 - E_Na) / C: the sodium current depolarises pre-I.
    m_nap = 1.0 / (1.0 + np.exp(-(-60.0 + 40.0) / 6.0))
    assert with_nap - without_nap == pytest.approx(-5.0 * m_nap * 0.35 * (-60.0 - 50.0) / 20.0, rel=1e-12)


@pytest.mark.parametrize("d1", [1.0, 0.0])
def test_analytic_jacobian_matches_finite_differences(d1):
    config = RespiratoryConfig(D1=d1, g_nap_ns=4.0)
    rhs, jacobian = _rhs_factory(config), _jacobian_factory(config)
    rng = np.random.default_rng(0)
    for _ in range(5):
        state = np.concatenate([rng.uniform(-70, -20, 4), rng.uniform(0, 1, 4)])
        step = 1e-6 * np.maximum(1.0, np.abs(state))
        numeric = np.stack(
            [(np.array(rhs(0.0, state + e)) - np.array(rhs(0.0, state - e))) / (2 * e.sum()) for e in np.diag(step)],
            axis=1,
        )
        np.testing.assert_allclose(jacobian(0.0, state), numeric, rtol=1e-5, atol=1e-9)
