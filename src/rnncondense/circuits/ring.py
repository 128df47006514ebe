"""A threshold-linear ring attractor (Ben-Yishai, Bar-Or & Sompolinsky 1995; Zhang 1996).

N rate units with preferred orientations theta_i = -90 deg + 180 deg i / N (the doubled angle
psi = 2 theta covers the circle):

    tau dr_i/dt = -r_i + [ sum_j W_ij r_j + I_i(t) ]_+,
    W_ij = (J0 + J2 cos(psi_i - psi_j) + gamma sin(psi_i - psi_j)) / N,
    I_i(t) = c (1 - eps + eps cos(psi_i - psi_in(t))),   psi_in(t) = 2 (theta_in + omega t).

J0 is the signed uniform coupling (negative: uniform inhibition; Ben-Yishai et al. write -J0 with
J0 > 0). gamma, the odd component of the weights, makes the bump move on its own (Zhang 1996);
omega rotates the input. The simulation is exponential Euler,
r <- r + (1 - e^{-dt/tau}) ([W r + I]_+ - r), as one jitted `jax.lax.scan` in double precision.

Analytic steady states (continuum limit N -> infinity; averages over psi uniform on the circle).
Write r(psi) = A [cos(psi - psi_in) - cos psi_c]_+ with half-width psi_c, and

    f0(p) = (sin p - p cos p) / pi,      f2(p) = (p - sin p cos p) / (2 pi)

for the mean <r> = A f0 and first Fourier moment <r cos> = A f2 of such a profile. Self-consistency
of the tuned part, A = c eps + J2 A f2, and of the threshold, -A cos psi_c = c (1 - eps) + J0 A f0,
give A = c eps / (1 - J2 f2(psi_c)) and one equation for psi_c.

* Homogeneous state (eps = 0, J2 < 2): r = c / (1 - J0) for all units (needs J0 < 1).
* Linear regime (J2 < 2, every unit above threshold): r = c (1 - eps) / (1 - J0)
  + c eps / (1 - J2 / 2) cos(psi - psi_in).
* Symmetry breaking at J2 = 2, where the uniform state's cosine mode (eigenvalue J2 / 2 of W)
  becomes unstable. Above it, with eps = 0, a bump of any position: J2 f2(psi_c) = 1 fixes the
  width, A = -c / (cos psi_c + J0 f0(psi_c)) (needs a negative denominator), peak A (1 - cos psi_c).
* A slowly rotating input (Omega = 2 omega in psi) is followed with a lag. Linear response around
  the anchored bump: the comoving-frame correction R1 solves (1 - D W) R1 = tau R', D the active
  set; with R' = -A sin, R1 = -tau A^2 / (c eps) sin, so the bump trails the input by

      lag_psi = tau Omega A / (c eps),   lag_theta = tau omega A / (c eps) (radians),

  to first order in omega (exact in eps). The phase model tau dphi/dt = -(c eps / A) sin(phi - psi_in)
  gives the same slope and a critical speed omega_c = c eps / (2 tau A) above which the bump cannot
  follow.
* An odd weight component gamma moves the bump at dtheta/dt = gamma / (2 J2 tau) (eps = 0, first
  order in gamma): the same projection on the zero mode R' with the drive gamma <r cos> sin.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, model_validator
from scipy.optimize import brentq

from rnncondense.circuits._config import CircuitConfig

__all__ = [
    "RingConfig",
    "RingResult",
    "SteadyState",
    "simulate_ring",
    "ring_weights",
    "preferred_deg",
    "steady_state",
    "bump_center_deg",
    "wrap_deg",
    "predicted_lag_deg",
    "critical_speed_deg_per_s",
    "odd_drift_speed_deg_per_s",
]

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class RingConfig(CircuitConfig):
    """Threshold-linear ring (Ben-Yishai et al. 1995) with a stationary and a rotating input."""

    n_units: Annotated[int, Field(ge=4, le=4096, description="number of units N on the ring")] = 100
    tau_ms: Positive = Field(10.0, description="time constant tau of the rates (ms)")
    dt_ms: Positive = Field(0.1, description="time step (ms)")
    j0: Annotated[float, Field(lt=1, allow_inf_nan=False, description=(
        "uniform coupling J0 (< 1), signed: negative is uniform inhibition (Ben-Yishai et al. 1995 write -J0 with "
        "J0 > 0, so their J0 = 5 is -5 here)"))] = -5.0
    j2: Number = Field(6.0, description="tuned coupling J2; symmetry breaks (a bump forms) above 2")
    odd_gamma: Number = Field(0.0, description="odd weight component gamma; moves the bump (Zhang 1996)")
    input_c: Positive = Field(1.0, description="input strength c")
    input_eps: Annotated[float, Field(ge=0, le=1, description="input tuning eps in [0, 1]")] = 0.1
    input_deg: Number = Field(0.0, description="orientation of the stationary input (deg, period 180)")
    speed_deg_per_s: Number = Field(30.0, description=(
        "rotation speed of the rotating input (deg/s; positive: increasing angle). The lag reported is input angle "
        "minus bump centre, positive when the bump trails the input, with the sign of the speed"))
    duration_ms: Positive = Field(3000.0, description="length of each run (ms)")
    settle_ms: Positive = Field(1500.0, description="time left out before measuring the lag (ms)")
    animation_frames: Annotated[int, Field(ge=1, le=600, description="frames of the bump GIF")] = 60

    @model_validator(mode="after")
    def _check(self) -> RingConfig:
        if self.dt_ms > self.tau_ms:
            raise ValueError(f"dt_ms (={self.dt_ms}) must not exceed tau_ms (={self.tau_ms})")
        if self.settle_ms >= self.duration_ms:
            raise ValueError(f"settle_ms (={self.settle_ms}) must be shorter than duration_ms (={self.duration_ms})")
        if self.duration_ms / self.dt_ms > 2_000_000:
            raise ValueError("duration_ms / dt_ms is more than 2,000,000 steps; raise dt_ms")
        if self.n_units * self.duration_ms / self.dt_ms > 100_000_000:
            raise ValueError("n_units x steps is more than 100,000,000; lower n_units or duration_ms, or raise dt_ms")
        return self

    @property
    def n_steps(self) -> int:
        return max(1, int(round(self.duration_ms / self.dt_ms)))


class RingResult(NamedTuple):
    t_ms: np.ndarray  # (T,) time at the end of each step
    theta_deg: np.ndarray  # (N,) preferred orientations
    rates: np.ndarray  # (T, N)
    input_deg: np.ndarray  # (T,) orientation of the input at each step


class SteadyState(NamedTuple):
    """Analytic stationary profile r(psi) = A [cos(psi - psi_in) - cos psi_c]_+ (or linear)."""

    regime: str  # "homogeneous", "linear" (all active), "tuned" (input-driven, thresholded), "bump"
    half_width_deg: float  # in theta (psi_c / 2), 90 when every unit is active
    amplitude: float  # A
    peak: float  # largest rate
    mean: float  # population mean rate


def preferred_deg(n_units: int) -> np.ndarray:
    """Preferred orientations theta_i = -90 + 180 i / N (deg)."""
    return -90.0 + 180.0 * np.arange(n_units) / n_units


def wrap_deg(angle_deg: np.ndarray | float) -> np.ndarray:
    """Orientations wrapped to [-90, 90)."""
    return (np.asarray(angle_deg) + 90.0) % 180.0 - 90.0


def ring_weights(config: RingConfig) -> np.ndarray:
    """W_ij = (J0 + J2 cos(psi_i - psi_j) + gamma sin(psi_i - psi_j)) / N, shape (N, N)."""
    psi = np.deg2rad(2.0 * preferred_deg(config.n_units))
    diff = psi[:, None] - psi[None, :]
    return (config.j0 + config.j2 * np.cos(diff) + config.odd_gamma * np.sin(diff)) / config.n_units


@partial(jax.jit, static_argnames=("n_steps",))
def _scan(weights, psi, r0, c, eps, psi_in0, omega_psi, alpha, dt, *, n_steps: int):
    def step(r, k):
        # Input at the start of the step, then one exponential-Euler update.
        psi_in = psi_in0 + omega_psi * (k * dt)
        drive = weights @ r + c * (1.0 - eps + eps * jnp.cos(psi - psi_in))
        r = r + alpha * (jnp.maximum(drive, 0.0) - r)
        return r, r

    return jax.lax.scan(step, r0, jnp.arange(n_steps, dtype=r0.dtype))[1]


def simulate_ring(
    config: RingConfig,
    *,
    speed_deg_per_s: float = 0.0,
    r0: np.ndarray | None = None,
    duration_ms: float | None = None,
) -> RingResult:
    """Rates of the ring under an input at `config.input_deg` rotating at `speed_deg_per_s`.

    The default initial state is a small bump at the input orientation (so that a symmetric network
    with eps = 0 also forms its bump there).
    """
    steps = config.n_steps if duration_ms is None else max(1, int(round(duration_ms / config.dt_ms)))
    theta = preferred_deg(config.n_units)
    psi = np.deg2rad(2.0 * theta)
    if r0 is None:
        r0 = 0.1 * config.input_c * np.maximum(np.cos(psi - np.deg2rad(2.0 * config.input_deg)), 0.0)
    omega_psi = np.deg2rad(2.0 * speed_deg_per_s) / 1000.0  # rad / ms
    # Double precision: in float32 a rate stops relaxing once its per-step change drops below half a
    # unit in the last place, which leaves steady states ~1e-5 (relative) short of the fixed point.
    with jax.enable_x64(True):
        rates = _scan(
            jnp.asarray(ring_weights(config), jnp.float64),
            jnp.asarray(psi, jnp.float64),
            jnp.asarray(r0, jnp.float64),
            jnp.float64(config.input_c),
            jnp.float64(config.input_eps),
            jnp.float64(np.deg2rad(2.0 * config.input_deg)),
            jnp.float64(omega_psi),
            jnp.float64(-math.expm1(-config.dt_ms / config.tau_ms)),
            jnp.float64(config.dt_ms),
            n_steps=steps,
        )
        rates = np.asarray(rates)
    t_start = config.dt_ms * np.arange(steps)
    return RingResult(
        t_ms=t_start + config.dt_ms,
        theta_deg=theta,
        rates=rates,
        input_deg=wrap_deg(config.input_deg + speed_deg_per_s * t_start / 1000.0),
    )


def bump_center_deg(rates: np.ndarray, theta_deg: np.ndarray) -> np.ndarray:
    """Population-vector orientation of the bump (deg), from the doubled-angle average; (..., N) -> (...)."""
    psi = np.deg2rad(2.0 * np.asarray(theta_deg))
    z = np.asarray(rates) @ np.exp(1j * psi)
    return np.rad2deg(np.angle(z)) / 2.0


def _f0(p: float) -> float:
    return (math.sin(p) - p * math.cos(p)) / math.pi


def _f2(p: float) -> float:
    return (p - math.sin(p) * math.cos(p)) / (2.0 * math.pi)


def steady_state(*, j0: float, j2: float, c: float, eps: float) -> SteadyState:
    """The analytic stationary rate profile (see the module docstring).

    Raises:
        ValueError: no bounded stationary state for these couplings (J0 >= 1, or above symmetry
            breaking with cos psi_c + J0 f0(psi_c) >= 0: runaway excitation).
    """
    if j0 >= 1.0:
        raise ValueError(f"J0 (={j0}) must be below 1 for a bounded state")
    broken = j2 * _f2(math.pi) >= 1.0  # J2 >= 2
    if not broken and eps == 0.0:
        level = c / (1.0 - j0)
        return SteadyState("homogeneous", 90.0, 0.0, level, level)
    width_max = brentq(lambda p: j2 * _f2(p) - 1.0, 1e-12, math.pi) if broken else math.pi
    if eps == 0.0:  # marginal bump
        denominator = math.cos(width_max) + j0 * _f0(width_max)
        if denominator >= 0.0:
            raise ValueError(f"no bounded bump for J0={j0}, J2={j2}: J0 must be more negative")
        amplitude = -c / denominator
        peak = amplitude * (1.0 - math.cos(width_max))
        return SteadyState("bump", math.degrees(width_max) / 2.0, amplitude, peak, amplitude * _f0(width_max))

    def amplitude_of(p: float) -> float:
        return c * eps / (1.0 - j2 * _f2(p))

    def threshold(p: float) -> float:
        a = amplitude_of(p)
        return -a * math.cos(p) - c * (1.0 - eps) - j0 * a * _f0(p)

    top = width_max * (1.0 - 1e-12) if broken else math.pi
    if not broken and threshold(top) < 0.0:  # every unit above threshold: the linear regime
        mean = c * (1.0 - eps) / (1.0 - j0)
        amplitude = c * eps / (1.0 - j2 / 2.0)
        return SteadyState("linear", 90.0, amplitude, mean + amplitude, mean)
    if threshold(top) <= 0.0:
        raise ValueError(f"no bounded bump for J0={j0}, J2={j2}, eps={eps}: J0 must be more negative")
    width = brentq(threshold, 1e-12, top)
    amplitude = amplitude_of(width)
    regime = "bump" if broken else "tuned"  # below symmetry breaking: input-driven, thresholded
    peak = amplitude * (1.0 - math.cos(width))
    return SteadyState(regime, math.degrees(width) / 2.0, amplitude, peak, amplitude * _f0(width))


def predicted_lag_deg(config: RingConfig, speed_deg_per_s: float) -> float:
    """Lag (deg) of the bump behind a slowly rotating input: tau omega A / (c eps), first order in omega."""
    if config.input_eps == 0.0:
        return math.nan
    state = steady_state(j0=config.j0, j2=config.j2, c=config.input_c, eps=config.input_eps)
    omega = math.radians(speed_deg_per_s) / 1000.0  # rad / ms
    return math.degrees(config.tau_ms * omega * state.amplitude / (config.input_c * config.input_eps))


def critical_speed_deg_per_s(config: RingConfig) -> float:
    """Phase-model estimate of the fastest input rotation the bump can follow: c eps / (2 tau A)."""
    if config.input_eps == 0.0:
        return 0.0
    state = steady_state(j0=config.j0, j2=config.j2, c=config.input_c, eps=config.input_eps)
    return math.degrees(config.input_c * config.input_eps / (2.0 * config.tau_ms * state.amplitude)) * 1000.0


def odd_drift_speed_deg_per_s(config: RingConfig) -> float:
    """Speed of the self-moving bump under the odd weight component: gamma / (2 J2 tau) (eps = 0)."""
    return math.degrees(config.odd_gamma / (2.0 * config.j2 * config.tau_ms)) * 1000.0
