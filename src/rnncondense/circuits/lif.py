"""Leaky integrate-and-fire neurons with AMPA, NMDA and subtractive inhibition.

The neuron of Tesileanu, Olveczky & Balasubramanian 2017 (eLife 6:e20944), in units of ms, mV, nA
and MOhm (MOhm x nA = mV):

    tau_m dv/dt = v_R - v + R (i_AMPA + i_NMDA + i_ext) - dv_inh,

a spike when v reaches v_th, then v is held at v_R for the refractory period t_ref. Each
presynaptic Poisson spike adds w_AMPA and w_NMDA to the synaptic currents, which decay as

    tau_AMPA di_AMPA/dt = -i_AMPA,        tau_NMDA di_NMDA/dt = -i_NMDA.

Inhibition is a subtractive voltage driven by the population rate A(t) (Hz) of the n neurons,

    tau_inh d(dv_inh)/dt = -dv_inh + g_inh A(t),

so a population firing steadily at A Hz is held g_inh * A mV below its excitatory drive.

Constants (Tesileanu et al. 2017), to full precision as the authors' code uses them (their fitted
`default_params.pkl` in github.com/ttesileanu/twostagelearning, read as data, never unpickled):
v_R = -72.327490188641 mV, v_th = -48.640707150576645 mV, tau_m = 24.54865041075753 ms,
R = 353.2331391568557 MOhm, tau_AMPA = 6.308897056353384 ms, tau_NMDA = 81.46856987686786 ms,
t_ref = 1.069209556050758 ms (a parameter here; the seed notebook used 10 ms), and tau_inh = 20 ms.
The paper prints them rounded (-72.3, -48.6, 24.5, 353, 6.3, 81.5, 1.07); with those the rate under
a constant current is 0.68 % lower at 0.07 nA (12.59 vs 12.68 Hz), more closer to rheobase, and
within 0.04 % from 0.1 nA up. The Poisson rate, the synaptic weights and
g_inh are free parameters of this module, chosen so that the default population fires at a few Hz
to tens of Hz; they are not the paper's fitted values.

Integration scheme. Over each step of length dt the drive u = v_R + R (i_syn + i_ext) - dv_inh is
held at its step value (the synaptic currents at their exact average over the step), and the
membrane equation is solved exactly, v(t + s) = u + (v(t) - u) exp(-s / tau_m). The threshold
crossing time inside a step is solved in closed form, s* = tau_m ln((u - v0) / (u - v_th)), and the
refractory period starts and ends at the exact time, also inside a step. Under a constant current
this reproduces the analytic rate

    rate = 1 / (t_ref + tau_m ln(R I / (R I - (v_th - v_R))))   (0 below rheobase)

up to rounding at any dt (at most one spike per neuron per step). The simulation is one jitted
`jax.lax.scan` over time, vectorised over neurons.
"""

from __future__ import annotations

import math
from typing import Annotated, Callable, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, model_validator

from rnncondense.circuits._config import CircuitConfig

__all__ = [
    "LIFConfig",
    "LIFResult",
    "simulate_lif",
    "analytic_rate_hz",
    "firing_rates_hz",
    "steady_rates_hz",
    "fi_curve",
    "FICurve",
]

_MAX_NEURON_STEPS = 30_000_000  # n x steps of recorded spike-time offsets (float32): 120 MB at most
_MAX_STEPS = 2_000_000

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class LIFConfig(CircuitConfig):
    """A population of LIF neurons (Tesileanu et al. 2017) driven by Poisson or constant input."""

    n: Annotated[int, Field(ge=1, le=10_000, description="number of neurons in the population")] = 300
    input: Literal["poisson", "constant"] = Field(
        "poisson",
        description="input to every neuron: 'poisson' spike trains through AMPA/NMDA, or a 'constant' current",
    )
    current_na: Annotated[
        float, Field(ge=0, allow_inf_nan=False, description="constant input current (nA) when input is 'constant'")
    ] = 0.1
    bias_na: Annotated[
        float, Field(allow_inf_nan=False, description="constant bias current (nA) added to the Poisson input")
    ] = 0.0
    poisson_rate_hz: NonNegative = Field(
        1000.0, description="total rate (Hz) of the Poisson input spikes each neuron receives"
    )
    w_ampa_na: NonNegative = Field(0.006, description="jump of the AMPA current (nA) per input spike")
    w_nmda_na: NonNegative = Field(0.0004, description="jump of the NMDA current (nA) per input spike")
    inhibition_mv_per_hz: NonNegative = Field(
        0.1, description="g_inh: steady subtractive inhibition (mV) per Hz of population rate"
    )
    refractory_ms: NonNegative = Field(
        1.069209556050758, description="refractory period t_ref (ms), Tesileanu et al.'s code; the seed notebook used 10"
    )
    dt_ms: Positive = Field(0.05, description="time step (ms)")
    duration_ms: Positive = Field(1000.0, description="simulated time (ms)")
    seed: Annotated[int, Field(ge=0, lt=2**32, description="seed of the Poisson input")] = 0
    v_rest_mv: Annotated[float, Field(allow_inf_nan=False, description="rest and reset potential v_R (mV)")] = -72.327490188641
    v_th_mv: Annotated[float, Field(allow_inf_nan=False, description="spike threshold v_th (mV)")] = -48.640707150576645
    tau_m_ms: Positive = Field(24.54865041075753, description="membrane time constant (ms)")
    r_mohm: Positive = Field(353.2331391568557, description="membrane resistance R (MOhm)")
    tau_ampa_ms: Positive = Field(6.308897056353384, description="AMPA decay time constant (ms)")
    tau_nmda_ms: Positive = Field(81.46856987686786, description="NMDA decay time constant (ms)")
    tau_inh_ms: Positive = Field(20.0, description="time constant of the inhibition (ms)")
    fi_max_na: Positive = Field(0.3, description="largest current (nA) of the f-I curve")
    fi_points: Annotated[int, Field(ge=2, le=200, description="number of currents on the f-I curve")] = 13

    @model_validator(mode="after")
    def _check(self) -> LIFConfig:
        if self.v_th_mv <= self.v_rest_mv:
            raise ValueError(f"v_th_mv (={self.v_th_mv}) must be above v_rest_mv (={self.v_rest_mv})")
        steps = self.n_steps
        if steps > _MAX_STEPS:
            raise ValueError(f"duration_ms / dt_ms = {steps} steps is too many (at most {_MAX_STEPS}); raise dt_ms")
        for name, count in (("n", self.n), ("fi_points", self.fi_points)):
            if steps * count > _MAX_NEURON_STEPS:
                raise ValueError(
                    f"{name} x steps = {count} x {steps} is too large (at most {_MAX_NEURON_STEPS}); "
                    f"lower {name} or duration_ms, or raise dt_ms"
                )
        return self

    @property
    def n_steps(self) -> int:
        return max(1, int(round(self.duration_ms / self.dt_ms)))

    @property
    def rheobase_na(self) -> float:
        """Smallest constant current (nA) that makes the neuron fire: (v_th - v_R) / R."""
        return (self.v_th_mv - self.v_rest_mv) / self.r_mohm


class LIFResult(NamedTuple):
    """A simulation. Shapes: T steps, k recorded neurons, S spikes in all."""

    t_ms: np.ndarray  # (T,) time at the end of each step
    v_mv: np.ndarray  # (T, k) membrane potential of the first k neurons
    spike_neuron: np.ndarray  # (S,) int, which neuron spiked
    spike_time_ms: np.ndarray  # (S,) exact spike times, sorted by time
    n: int
    duration_ms: float


class FICurve(NamedTuple):
    current_na: np.ndarray
    simulated_hz: np.ndarray
    analytic_hz: np.ndarray


def analytic_rate_hz(current_na: np.ndarray | float, config: LIFConfig) -> np.ndarray:
    """rate = 1 / (t_ref + tau_m ln(R I / (R I - (v_th - v_R)))) in Hz; 0 at or below rheobase."""
    current = np.asarray(current_na, dtype=float)
    drive = config.r_mohm * current  # mV
    gap = config.v_th_mv - config.v_rest_mv
    above = drive > gap
    safe = np.where(above, drive, gap + 1.0)
    period_ms = config.refractory_ms + config.tau_m_ms * np.log(safe / (safe - gap))
    return np.where(above, 1000.0 / period_ms, 0.0)


def _make_step(config: LIFConfig, n: int, inhibition: float) -> Callable[[tuple, tuple], tuple[tuple, tuple]]:
    """The one-step update, closed over the (static) constants of `config`."""
    dt, tau_m = config.dt_ms, config.tau_m_ms
    v_r, v_th, r = config.v_rest_mv, config.v_th_mv, config.r_mohm
    t_ref = config.refractory_ms
    decay_a, decay_n = math.exp(-dt / config.tau_ampa_ms), math.exp(-dt / config.tau_nmda_ms)
    # Average of exp(-s / tau) over a step: the synaptic current each step drives on average.
    mean_a = config.tau_ampa_ms / dt * (1.0 - decay_a)
    mean_n = config.tau_nmda_ms / dt * (1.0 - decay_n)
    decay_i = math.exp(-dt / config.tau_inh_ms)
    poisson = config.input == "poisson"
    lam = config.poisson_rate_hz * dt / 1000.0

    def step(carry: tuple, inputs: tuple) -> tuple[tuple, tuple]:
        v, ref, i_ampa, i_nmda, dv_inh = carry
        key, i_ext = inputs
        # Drive over this step (mV), held constant: synaptic currents at their step average.
        u = v_r + r * (i_ext + mean_a * i_ampa + mean_n * i_nmda) - dv_inh
        # Exact membrane solution over the part of the step outside the refractory period.
        free = jnp.clip(dt - ref, 0.0, dt)
        v0 = jnp.where(ref > 0.0, v_r, v)
        v_end = u + (v0 - u) * jnp.exp(-free / tau_m)
        spiked = (free > 0.0) & (u > v_th) & (v_end >= v_th)
        # Closed-form threshold crossing time and the remainder of the step after the spike.
        gap = jnp.where(spiked, u - v_th, 1.0)
        start = jnp.where(spiked, u - v0, 1.0)
        offset = (dt - free) + tau_m * jnp.log(start / gap)
        left = t_ref - (dt - offset)  # refractory time still to serve after this step
        v_after = jnp.where(left < 0.0, u + (v_r - u) * jnp.exp(left / tau_m), v_r)
        v_new = jnp.where(spiked, v_after, v_end)
        ref_new = jnp.where(spiked, jnp.maximum(left, 0.0), jnp.maximum(ref - dt, 0.0))
        # Poisson input spikes arrive at the end of the step.
        if poisson:
            counts = jax.random.poisson(key, lam, shape=v.shape).astype(v.dtype)
            i_ampa = i_ampa * decay_a + config.w_ampa_na * counts
            i_nmda = i_nmda * decay_n + config.w_nmda_na * counts
        # Subtractive inhibition relaxes towards g_inh x (population rate in Hz).
        rate_hz = jnp.sum(spiked) * (1000.0 / (n * dt))
        dv_inh = dv_inh * decay_i + inhibition * rate_hz * (1.0 - decay_i)
        out_offset = jnp.where(spiked, offset, jnp.nan)
        return (v_new, ref_new, i_ampa, i_nmda, dv_inh), (v_new, out_offset)

    return step


def simulate_lif(
    config: LIFConfig,
    *,
    current_na: np.ndarray | None = None,
    record: int = 4,
    inhibition: bool = True,
) -> LIFResult:
    """Simulate `config.n` neurons from v = v_R for `config.duration_ms`.

    Args:
        config: the circuit.
        current_na: optional per-neuron constant current (n,) replacing the config's external current
            (used for f-I curves).
        record: how many neurons' voltage traces to keep (the first ones).
        inhibition: False switches the population inhibition off (a lone neuron).

    Returns:
        LIFResult with exact spike times.
    """
    n = config.n
    if current_na is None:
        base = config.current_na if config.input == "constant" else config.bias_na
        i_ext = np.full(n, base, dtype=np.float64)
    else:
        i_ext = np.asarray(current_na, dtype=np.float64).reshape(-1)
        if i_ext.shape != (n,):
            raise ValueError(f"current_na has shape {i_ext.shape}, expected ({n},)")
    k = max(0, min(int(record), n))
    steps = config.n_steps
    step = _make_step(config, n, config.inhibition_mv_per_hz if inhibition else 0.0)

    @jax.jit
    def run(keys, i_ext):
        zeros = jnp.zeros(n, jnp.float64)
        carry0 = (jnp.full(n, config.v_rest_mv, jnp.float64), zeros, zeros, zeros, jnp.float64(0.0))

        def body(carry, key):
            carry, (v, offset) = step(carry, (key, i_ext))
            return carry, (v[:k], offset.astype(jnp.float32))

        return jax.lax.scan(body, carry0, keys)[1]

    # Double precision: in float32 a voltage near -50 mV stops moving once its per-step change
    # drops below half a unit in the last place (a stall up to ~1e-3 mV from the fixed point).
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.PRNGKey(config.seed), steps)
        v_rec, offsets = run(keys, jnp.asarray(i_ext, jnp.float64))
        v_rec, offsets = np.asarray(v_rec), np.asarray(offsets)
    step_index, neuron = np.nonzero(np.isfinite(offsets))
    times = step_index * config.dt_ms + offsets[step_index, neuron].astype(np.float64)
    order = np.argsort(times, kind="stable")
    t_ms = config.dt_ms * np.arange(1, steps + 1)
    return LIFResult(
        t_ms=t_ms,
        v_mv=np.asarray(v_rec, dtype=np.float64),
        spike_neuron=neuron[order].astype(np.int64),
        spike_time_ms=times[order],
        n=n,
        duration_ms=steps * config.dt_ms,
    )


def firing_rates_hz(result: LIFResult) -> np.ndarray:
    """Spike count / duration of every neuron (Hz), shape (n,)."""
    counts = np.bincount(result.spike_neuron, minlength=result.n)
    return counts / (result.duration_ms / 1000.0)


def steady_rates_hz(result: LIFResult) -> np.ndarray:
    """1000 / mean inter-spike interval of every neuron (Hz); 0 with fewer than two spikes."""
    rates = np.zeros(result.n)
    for neuron in range(result.n):
        times = result.spike_time_ms[result.spike_neuron == neuron]
        if times.size >= 2:
            rates[neuron] = 1000.0 * (times.size - 1) / (times[-1] - times[0])
    return rates


def fi_curve(config: LIFConfig, *, currents_na: np.ndarray | None = None) -> FICurve:
    """Steady firing rate under constant currents (one uncoupled neuron per current) and the formula."""
    if currents_na is None:
        currents_na = np.linspace(0.0, config.fi_max_na, config.fi_points)
    currents = np.asarray(currents_na, dtype=float)
    single = config.model_copy(update={"n": currents.size, "input": "constant"})
    result = simulate_lif(single, current_na=currents, record=0, inhibition=False)
    return FICurve(currents, steady_rates_hz(result), analytic_rate_hz(currents, config))
