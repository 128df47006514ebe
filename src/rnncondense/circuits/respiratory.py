"""The respiratory central pattern generator of Rubin, Shevtsova, Ermentrout, Smith & Rybak 2009.

J Neurophysiol 101:2146-2165; the authors' XPPAUT model file is ModelDB 125529
(`rubinetal_resp_cpg.ode`). Four populations, each reduced to one activity-based unit with a
voltage V_i (mV) and an output (normalised firing rate) f(V_i):

    1 pre-I   (pre-Botzinger, excitatory): persistent sodium I_NaP and delayed rectifier I_K
    2 early-I (pre-Botzinger, inhibitory): adaptation I_AD
    3 post-I  (Botzinger, inhibitory):     adaptation I_AD
    4 aug-E   (Botzinger, inhibitory):     adaptation I_AD

    C dV_1/dt = -I_NaP - I_K - I_L - I_SynE,1 - I_SynI,1
    C dV_i/dt = -I_AD,i - I_L - I_SynE,i - I_SynI,i                      (i = 2, 3, 4)

    I_NaP = g_NaP m_NaP(V_1) h (V_1 - E_Na),   m_NaP(V) = 1 / (1 + exp(-(V + 40) / 6))
    I_K   = g_K m_K(V_1)^4 (V_1 - E_K),        m_K(V)   = 1 / (1 + exp(-(V + 29) / 4))
    dh/dt = (h_inf(V_1) - h) / tau_h(V_1),     h_inf(V) = 1 / (1 + exp((V + 48) / 6)),
                                               tau_h(V) = tau_h,max / cosh((V + 48) / 12)
    I_AD,i = g_AD m_i (V_i - E_K),             tau_AD,i dm_i/dt = k_AD,i f(V_i) - m_i
    I_L    = g_L (V - E_L)
    I_SynE,i = g_SynE (V_i - E_SynE) (sum_j a_ji f(V_j) + sum_k c_ki D_k)
    I_SynI,i = g_SynI (V_i - E_SynI) sum_j b_ji f(V_j)
    f(V) = 1 / (1 + exp(-(V + 30) / k)),  k = 8 mV for pre-I, 4 mV for the others.

Drives: D1 pontine, D2 RTN/Botzinger, D3 raphe (all 1 in the model file).

Constants (from the ModelDB 125529 model file): C = 20 pF; g_L = 2.8, g_SynE = 10, g_SynI = 60,
g_K = 5, g_NaP = 5, g_AD = 10 nS; E_L = -60, E_SynE = 0, E_SynI = -75, E_K = -85, E_Na = 50 mV;
tau_h,max = 6000 ms; tau_AD = 2000 (early-I), 1000 (post-I), 2000 ms (aug-E); k_AD = 0.9
(early-I), 1.3 (post-I), 0.9 (aug-E); weights a12 = 0.4; b23 = 0.25, b24 = 0.35, b31 = 0.3,
b32 = 0.05, b34 = 0.35, b41 = 0.2, b42 = 0.35, b43 = 0.1; c11 = 0.115, c12 = 0.3, c13 = 0.63,
c14 = 0.33, c21 = 0.07, c22 = 0.3, c24 = 0.4, c31 = 0.025; initial V = -60 mV, h = 0.35, m = 0.

Not verified against the model file (its equation block was not available to read; taken from the
paper's equations and the Butera-Rinzel-Smith form its parameter names imply): the exponent 4 of
m_K, the factor 2 in tau_h's cosh((V - V_1/2) / (2 k_h)), and that drive k reaches population j
only where c_kj is listed above (c23 = c32 = c33 = c34 = 0).

The seed notebook's bugs are fixed here: g_NaP = 5 (it had 0); each population's I_AD uses its own
voltage V_i and its own m_i driven by f(V_i); k_AD and tau_AD are per population.

Integration: `simulate_respiratory` uses scipy's `solve_ivp` (LSODA by default: it switches between
Adams and BDF as the stiffness of the fast voltage jumps and the slow h and m_AD requires) with the
analytic Jacobian, and returns the solver's own steps unless a uniform `sample_ms` is asked for.
`simulate_respiratory_loop` is a fixed-step forward Euler loop in plain Python, kept as the
benchmark baseline.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, NamedTuple

import numpy as np
from pydantic import Field, model_validator
from scipy.integrate import solve_ivp

from rnncondense.circuits._config import CircuitConfig

__all__ = [
    "RespiratoryConfig",
    "RespiratoryResult",
    "Rhythm",
    "POPULATIONS",
    "PHASES",
    "simulate_respiratory",
    "simulate_respiratory_loop",
    "measure_rhythm",
    "output",
]

POPULATIONS = ("pre-I", "early-I", "post-I", "aug-E")
PHASES = ("inspiration", "post-inspiration", "late expiration")  # early-I, post-I, aug-E dominant

# Membrane and synaptic constants (ModelDB 125529): pF, nS, mV.
C_PF = 20.0
G_L, G_SYN_E, G_SYN_I, G_K = 2.8, 10.0, 60.0, 5.0
E_L, E_SYN_E, E_SYN_I, E_K, E_NA = -60.0, 0.0, -75.0, -85.0, 50.0
# Gating: half-activation (mV) and slope (mV).
V_HALF_MK, K_MK = -29.0, 4.0
V_HALF_MNAP, K_MNAP = -40.0, 6.0
V_HALF_H, K_H = -48.0, 6.0
V_HALF_OUT, K_OUT_PRE_I, K_OUT_INH = -30.0, 8.0, 4.0
# Connection weights: a (excitatory) and b (inhibitory) from population i to j, c from drive k to j.
A12 = 0.4
B23, B24, B31, B32, B34, B41, B42, B43 = 0.25, 0.35, 0.3, 0.05, 0.35, 0.2, 0.35, 0.1
C11, C12, C13, C14 = 0.115, 0.3, 0.63, 0.33
C21, C22, C24 = 0.07, 0.3, 0.4
C31 = 0.025
INITIAL_STATE = (-60.0, -60.0, -60.0, -60.0, 0.35, 0.0, 0.0, 0.0)  # V1..V4, h, m2, m3, m4

Drive = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class RespiratoryConfig(CircuitConfig):
    """Rubin et al. 2009 respiratory CPG: drives, intrinsic parameters and solver settings."""

    D1: Drive = Field(1.0, description="pontine drive (0 removes the pons: two-phase rhythm)")
    D2: Drive = Field(1.0, description="RTN/Botzinger drive")
    D3: Drive = Field(1.0, description="raphe drive")
    g_nap_ns: NonNegative = Field(5.0, description="persistent sodium conductance of pre-I (nS)")
    g_ad_ns: NonNegative = Field(10.0, description="adaptation conductance g_AD of early-I, post-I, aug-E (nS)")
    k_ad_early_i: NonNegative = Field(0.9, description="adaptation gain k_AD of early-I")
    k_ad_post_i: NonNegative = Field(1.3, description="adaptation gain k_AD of post-I")
    k_ad_aug_e: NonNegative = Field(0.9, description="adaptation gain k_AD of aug-E")
    tau_ad_early_i_ms: Positive = Field(2000.0, description="adaptation time constant of early-I (ms)")
    tau_ad_post_i_ms: Positive = Field(1000.0, description="adaptation time constant of post-I (ms)")
    tau_ad_aug_e_ms: Positive = Field(2000.0, description="adaptation time constant of aug-E (ms)")
    tau_h_max_ms: Positive = Field(6000.0, description="largest inactivation time constant of I_NaP (ms)")
    duration_ms: Positive = Field(20000.0, description="simulated time (ms)")
    transient_ms: NonNegative = Field(5000.0, description="initial time left out of the rhythm measurement (ms)")
    sample_ms: Positive | None = Field(
        None, description="spacing of resampled output (ms); none keeps the solver's own steps (fastest)"
    )
    method: Literal["LSODA", "BDF", "Radau"] = Field("LSODA", description="solve_ivp method")
    rtol: Annotated[float, Field(gt=0, lt=1, description="relative tolerance of solve_ivp")] = 1e-5
    atol: Annotated[float, Field(gt=0, lt=1, description="absolute tolerance of solve_ivp")] = 1e-8
    loop_dt_ms: Positive = Field(
        0.05, description="step of the fixed-step Python-loop baseline (ms); 0.05 is XPPAUT's default"
    )

    @model_validator(mode="after")
    def _check(self) -> RespiratoryConfig:
        if self.transient_ms >= self.duration_ms:
            raise ValueError(
                f"transient_ms (={self.transient_ms}) must be shorter than duration_ms (={self.duration_ms})"
            )
        if self.sample_ms is not None and self.sample_ms > self.duration_ms:
            raise ValueError(f"sample_ms (={self.sample_ms}) must not exceed duration_ms (={self.duration_ms})")
        if self.sample_ms is not None and self.duration_ms / self.sample_ms > 5_000_000:
            raise ValueError("duration_ms / sample_ms is more than 5,000,000 samples; raise sample_ms")
        if self.duration_ms / self.loop_dt_ms > 50_000_000:
            raise ValueError("duration_ms / loop_dt_ms is more than 50,000,000 steps; raise loop_dt_ms")
        return self


class RespiratoryResult(NamedTuple):
    t_ms: np.ndarray  # (T,)
    v_mv: np.ndarray  # (4, T) pre-I, early-I, post-I, aug-E
    h_nap: np.ndarray  # (T,) inactivation of I_NaP in pre-I
    m_ad: np.ndarray  # (3, T) adaptation of early-I, post-I, aug-E
    n_rhs: int  # evaluations of the right-hand side


class Rhythm(NamedTuple):
    """The measured rhythm. Durations in ms, means over the complete cycles after the transient."""

    pattern: str  # "three-phase", "two-phase", "one-phase" or "none"
    period_ms: float
    period_sd_ms: float
    n_cycles: int
    phase_ms: dict[str, float]  # mean duration of each phase per cycle (PHASES)
    peak_output: dict[str, float]  # largest f(V) of each population after the transient


def output(v_mv: np.ndarray) -> np.ndarray:
    """f(V) of the four populations, (4, T) from (4, T): the normalised firing rates."""
    v = np.asarray(v_mv, dtype=float)
    slopes = np.array([K_OUT_PRE_I, K_OUT_INH, K_OUT_INH, K_OUT_INH]).reshape(4, *([1] * (v.ndim - 1)))
    return 1.0 / (1.0 + np.exp(-(v - V_HALF_OUT) / slopes))


def _rhs_factory(config: RespiratoryConfig):
    """dy/dt for y = (V1, V2, V3, V4, h, m2, m3, m4), in plain Python floats (fastest for 8 states)."""
    exp, cosh = math.exp, math.cosh
    inv_c = 1.0 / C_PF
    # Tonic excitation of each population by the drives.
    drive1 = C11 * config.D1 + C21 * config.D2 + C31 * config.D3
    drive2 = C12 * config.D1 + C22 * config.D2
    drive3 = C13 * config.D1
    drive4 = C14 * config.D1 + C24 * config.D2
    g_nap, g_ad, tau_h_max = config.g_nap_ns, config.g_ad_ns, config.tau_h_max_ms
    k2, k3, k4 = config.k_ad_early_i, config.k_ad_post_i, config.k_ad_aug_e
    inv_t2, inv_t3, inv_t4 = 1.0 / config.tau_ad_early_i_ms, 1.0 / config.tau_ad_post_i_ms, 1.0 / config.tau_ad_aug_e_ms

    def rhs(t: float, y) -> list[float]:
        v1, v2, v3, v4, h, m2, m3, m4 = y.tolist() if hasattr(y, "tolist") else y
        # Outputs f(V) of the four populations.
        f1 = 1.0 / (1.0 + exp(-(v1 - V_HALF_OUT) / K_OUT_PRE_I))
        f2 = 1.0 / (1.0 + exp(-(v2 - V_HALF_OUT) / K_OUT_INH))
        f3 = 1.0 / (1.0 + exp(-(v3 - V_HALF_OUT) / K_OUT_INH))
        f4 = 1.0 / (1.0 + exp(-(v4 - V_HALF_OUT) / K_OUT_INH))
        # Intrinsic currents of pre-I.
        m_k = 1.0 / (1.0 + exp(-(v1 - V_HALF_MK) / K_MK))
        m_k2 = m_k * m_k
        m_nap = 1.0 / (1.0 + exp(-(v1 - V_HALF_MNAP) / K_MNAP))
        h_inf = 1.0 / (1.0 + exp((v1 - V_HALF_H) / K_H))
        tau_h = tau_h_max / cosh((v1 - V_HALF_H) / (2.0 * K_H))
        # Total ionic plus synaptic current of each population (pA).
        i1 = (
            g_nap * m_nap * h * (v1 - E_NA)
            + G_K * m_k2 * m_k2 * (v1 - E_K)
            + G_L * (v1 - E_L)
            + G_SYN_E * (v1 - E_SYN_E) * drive1
            + G_SYN_I * (v1 - E_SYN_I) * (B31 * f3 + B41 * f4)
        )
        i2 = (
            g_ad * m2 * (v2 - E_K)
            + G_L * (v2 - E_L)
            + G_SYN_E * (v2 - E_SYN_E) * (A12 * f1 + drive2)
            + G_SYN_I * (v2 - E_SYN_I) * (B32 * f3 + B42 * f4)
        )
        i3 = (
            g_ad * m3 * (v3 - E_K)
            + G_L * (v3 - E_L)
            + G_SYN_E * (v3 - E_SYN_E) * drive3
            + G_SYN_I * (v3 - E_SYN_I) * (B23 * f2 + B43 * f4)
        )
        i4 = (
            g_ad * m4 * (v4 - E_K)
            + G_L * (v4 - E_L)
            + G_SYN_E * (v4 - E_SYN_E) * drive4
            + G_SYN_I * (v4 - E_SYN_I) * (B24 * f2 + B34 * f3)
        )
        return [
            -i1 * inv_c,
            -i2 * inv_c,
            -i3 * inv_c,
            -i4 * inv_c,
            (h_inf - h) / tau_h,
            (k2 * f2 - m2) * inv_t2,
            (k3 * f3 - m3) * inv_t3,
            (k4 * f4 - m4) * inv_t4,
        ]

    return rhs


def _jacobian_factory(config: RespiratoryConfig):
    """d(dy/dt)/dy of `_rhs_factory`, (8, 8), for the implicit steps of LSODA, BDF and Radau."""
    exp, cosh, tanh = math.exp, math.cosh, math.tanh
    inv_c = 1.0 / C_PF
    drive1 = C11 * config.D1 + C21 * config.D2 + C31 * config.D3
    drive2 = C12 * config.D1 + C22 * config.D2
    drive3 = C13 * config.D1
    drive4 = C14 * config.D1 + C24 * config.D2
    g_nap, g_ad, tau_h_max = config.g_nap_ns, config.g_ad_ns, config.tau_h_max_ms
    gains = (config.k_ad_early_i, config.k_ad_post_i, config.k_ad_aug_e)
    taus = (config.tau_ad_early_i_ms, config.tau_ad_post_i_ms, config.tau_ad_aug_e_ms)

    def sigmoid(v: float, half: float, slope: float) -> tuple[float, float]:
        value = 1.0 / (1.0 + exp(-(v - half) / slope))
        return value, value * (1.0 - value) / slope  # and its derivative

    def jacobian(t: float, y) -> np.ndarray:
        v1, v2, v3, v4, h, m2, m3, m4 = y.tolist() if hasattr(y, "tolist") else y
        f1, d1 = sigmoid(v1, V_HALF_OUT, K_OUT_PRE_I)
        f2, d2 = sigmoid(v2, V_HALF_OUT, K_OUT_INH)
        f3, d3 = sigmoid(v3, V_HALF_OUT, K_OUT_INH)
        f4, d4 = sigmoid(v4, V_HALF_OUT, K_OUT_INH)
        m_k, dm_k = sigmoid(v1, V_HALF_MK, K_MK)
        m_nap, dm_nap = sigmoid(v1, V_HALF_MNAP, K_MNAP)
        h_inf, dh_inf = sigmoid(v1, V_HALF_H, -K_H)
        x = (v1 - V_HALF_H) / (2.0 * K_H)
        tau_h = tau_h_max / cosh(x)
        j = np.zeros((8, 8))
        # pre-I voltage
        j[0, 0] = (
            g_nap * (dm_nap * h * (v1 - E_NA) + m_nap * h)
            + G_K * (4.0 * m_k**3 * dm_k * (v1 - E_K) + m_k**4)
            + G_L
            + G_SYN_E * drive1
            + G_SYN_I * (B31 * f3 + B41 * f4)
        )
        j[0, 2] = G_SYN_I * (v1 - E_SYN_I) * B31 * d3
        j[0, 3] = G_SYN_I * (v1 - E_SYN_I) * B41 * d4
        j[0, 4] = g_nap * m_nap * (v1 - E_NA)
        # early-I, post-I, aug-E voltages
        j[1, 1] = g_ad * m2 + G_L + G_SYN_E * (A12 * f1 + drive2) + G_SYN_I * (B32 * f3 + B42 * f4)
        j[1, 0] = G_SYN_E * (v2 - E_SYN_E) * A12 * d1
        j[1, 2] = G_SYN_I * (v2 - E_SYN_I) * B32 * d3
        j[1, 3] = G_SYN_I * (v2 - E_SYN_I) * B42 * d4
        j[1, 5] = g_ad * (v2 - E_K)
        j[2, 2] = g_ad * m3 + G_L + G_SYN_E * drive3 + G_SYN_I * (B23 * f2 + B43 * f4)
        j[2, 1] = G_SYN_I * (v3 - E_SYN_I) * B23 * d2
        j[2, 3] = G_SYN_I * (v3 - E_SYN_I) * B43 * d4
        j[2, 6] = g_ad * (v3 - E_K)
        j[3, 3] = g_ad * m4 + G_L + G_SYN_E * drive4 + G_SYN_I * (B24 * f2 + B34 * f3)
        j[3, 1] = G_SYN_I * (v4 - E_SYN_I) * B24 * d2
        j[3, 2] = G_SYN_I * (v4 - E_SYN_I) * B34 * d3
        j[3, 7] = g_ad * (v4 - E_K)
        j[:4] *= -inv_c  # dV/dt = -I / C
        # I_NaP inactivation: d/dV of (h_inf - h) / tau_h with tau_h = tau_max / cosh(x)
        j[4, 4] = -1.0 / tau_h
        j[4, 0] = dh_inf / tau_h + (h_inf - h) * tanh(x) / (2.0 * K_H * tau_h)
        # adaptation gates
        for k, (gain, tau, slope, v_index) in enumerate(zip(gains, taus, (d2, d3, d4), (1, 2, 3))):
            j[5 + k, 5 + k] = -1.0 / tau
            j[5 + k, v_index] = gain * slope / tau
        return j

    return jacobian


def _result(t: np.ndarray, y: np.ndarray, n_rhs: int) -> RespiratoryResult:
    return RespiratoryResult(t_ms=t, v_mv=y[:4], h_nap=y[4], m_ad=y[5:8], n_rhs=int(n_rhs))


def simulate_respiratory(config: RespiratoryConfig, *, duration_ms: float | None = None) -> RespiratoryResult:
    """Integrate the CPG with `solve_ivp` (analytic Jacobian) from the model file's initial state.

    The samples are the solver's own steps (dense where the voltages jump, sparse on the slow
    plateaus), or a uniform grid of `config.sample_ms` when that is set.

    Raises:
        RuntimeError: the solver failed (its message is included).
    """
    duration = config.duration_ms if duration_ms is None else duration_ms
    t_eval = None
    if config.sample_ms is not None:
        t_eval = np.arange(0.0, duration + 0.5 * config.sample_ms, config.sample_ms)
        t_eval = t_eval[t_eval <= duration]
    solution = solve_ivp(
        _rhs_factory(config),
        (0.0, duration),
        np.array(INITIAL_STATE),
        method=config.method,
        t_eval=t_eval,
        jac=_jacobian_factory(config),
        rtol=config.rtol,
        atol=config.atol,
    )
    if not solution.success:
        raise RuntimeError(f"solve_ivp ({config.method}) failed: {solution.message}")
    return _result(solution.t, solution.y, solution.nfev)


def simulate_respiratory_loop(
    config: RespiratoryConfig, *, dt_ms: float | None = None, duration_ms: float | None = None
) -> RespiratoryResult:
    """Forward Euler, y <- y + dt f(y), one Python step at a time: the benchmark baseline.

    The same right-hand side as `simulate_respiratory`; samples every `config.sample_ms` (1 ms when
    that is unset), rounded to a whole number of steps.
    """
    dt = config.loop_dt_ms if dt_ms is None else dt_ms
    duration = config.duration_ms if duration_ms is None else duration_ms
    rhs = _rhs_factory(config)
    steps = int(round(duration / dt))
    every = max(1, int(round((config.sample_ms or 1.0) / dt)))
    samples = np.empty((steps // every + 1, 8))
    y = list(INITIAL_STATE)
    samples[0] = y
    for k in range(1, steps + 1):
        dy = rhs(0.0, y)
        y = [value + dt * rate for value, rate in zip(y, dy)]
        if k % every == 0:
            samples[k // every] = y
    t = dt * every * np.arange(samples.shape[0])
    return _result(t, samples.T.copy(), steps)


def _leader_changes(t: np.ndarray, inhibitory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times when the leading inhibitory population changes, and the new leader (0, 1, 2).

    Between two samples with different leaders the change is placed where the difference of the two
    outputs crosses zero, interpolated linearly.
    """
    leader = np.argmax(inhibitory, axis=0)
    index = np.nonzero(leader[1:] != leader[:-1])[0]
    old, new = leader[index], leader[index + 1]
    before = inhibitory[new, index] - inhibitory[old, index]  # <= 0
    after = inhibitory[new, index + 1] - inhibitory[old, index + 1]  # > 0
    fraction = np.clip(-before / np.maximum(after - before, 1e-300), 0.0, 1.0)
    return t[index] + fraction * (t[index + 1] - t[index]), new


def measure_rhythm(result: RespiratoryResult, *, transient_ms: float, active: float = 0.05) -> Rhythm:
    """Period and phase durations of the rhythm after `transient_ms`.

    Phases follow the inhibitory population with the largest output f: inspiration (early-I),
    post-inspiration (post-I), late expiration (aug-E). Each change of leader is placed at the
    interpolated crossing of the two outputs, so samples need not be uniform. The period is the mean
    time between successive onsets of inspiration; phase durations are means over the complete
    cycles. A phase counts in the pattern when it lasts more than 2 % of the period and its
    population's output exceeds `active`: "three-phase" with all three, "two-phase" with inspiration
    and one expiratory phase.
    """
    keep = result.t_ms >= transient_ms
    t = result.t_ms[keep]
    f = output(result.v_mv[:, keep])
    peak = {name: float(f[i].max()) if t.size else math.nan for i, name in enumerate(POPULATIONS)}
    nan_phases = {name: math.nan for name in PHASES}
    if t.size < 3:
        return Rhythm("none", math.nan, math.nan, 0, nan_phases, peak)
    times, leaders = _leader_changes(t, f[1:4])
    onsets = np.nonzero(leaders == 0)[0]  # early-I takes the lead: inspiration starts
    if onsets.size < 2:
        return Rhythm("none", math.nan, math.nan, 0, nan_phases, peak)
    periods = np.diff(times[onsets])
    cycle = slice(onsets[0], onsets[-1] + 1)
    durations = np.diff(times[cycle])
    phase_ms = {
        name: float(durations[leaders[cycle][:-1] == i].sum() / periods.size) for i, name in enumerate(PHASES)
    }
    present = [
        name
        for i, name in enumerate(PHASES)
        if phase_ms[name] > 0.02 * periods.mean() and peak[POPULATIONS[i + 1]] > active
    ]
    if present == list(PHASES):
        pattern = "three-phase"
    elif len(present) == 2 and PHASES[0] in present:
        pattern = "two-phase"
    elif present == [PHASES[0]]:
        pattern = "one-phase"
    else:
        pattern = "none"
    return Rhythm(pattern, float(periods.mean()), float(periods.std()), int(periods.size), phase_ms, peak)
