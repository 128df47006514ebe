"""A linear network of two rate units and its eigenmodes.

    tau dv/dt = -v + M v + h(t),     v, h in R^2, M a 2x2 matrix, tau in ms.

With M = V diag(lambda) V^-1, the coordinates c = V^-1 v of the eigenmodes evolve independently,
tau dc_k/dt = -(1 - lambda_k) c_k + (V^-1 h)_k, so mode k decays with the time constant

    tau_k = tau / (1 - Re lambda_k)

(and rotates at Im lambda_k / (2 pi tau) cycles per ms when the eigenvalues are complex). Under a
constant input the state relaxes to v* = (I - M)^-1 h when every Re lambda_k < 1. For the default
M = [[0, .8], [.8, 0]]: lambda = +-0.8 with eigenvectors (1, 1)/sqrt2 and (1, -1)/sqrt2, time
constants 5 tau and tau / 1.8 (Dayan & Abbott 2001, ch. 7.4).

Integration is exact for piecewise-constant input: with A = (M - I) / tau,

    v(t + dt) = e^{A dt} v(t) + (integral_0^dt e^{A s} ds) h / tau,

both factors from one matrix exponential of the augmented matrix [[A, I / tau], [0, 0]] dt, which
also covers a singular A (an eigenvalue equal to 1).
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import numpy as np
import scipy.linalg
from pydantic import Field, field_validator, model_validator

from rnncondense.circuits._config import CircuitConfig

__all__ = [
    "Linear2Config",
    "Eigenmodes",
    "Linear2Result",
    "eigenmodes",
    "steady_state",
    "simulate_linear2",
    "pulse_directions",
    "pulse_experiments",
    "mode_decay_times_ms",
]

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Linear2Config(CircuitConfig):
    """Two linear rate units, tau dv/dt = -v + M v + h, probed with input pulses."""

    M: list[list[float]] = Field(
        default_factory=lambda: [[0.0, 0.8], [0.8, 0.0]],
        description="2x2 recurrent weight matrix, e.g. [[0, 0.8], [0.8, 0]]",
    )
    h: list[float] = Field(default_factory=lambda: [0.0, 0.0], description="tonic input [h1, h2]")
    tau_ms: Positive = Field(10.0, description="time constant tau of both units (ms)")
    dt_ms: Positive = Field(0.5, description="time step (ms); the integration is exact at any step")
    duration_ms: Positive = Field(200.0, description="length of each pulse experiment (ms)")
    pulse_onset_ms: NonNegative = Field(10.0, description="when the input pulse starts (ms)")
    pulse_ms: Positive = Field(5.0, description="duration of the input pulse (ms)")
    pulse_amplitude: Annotated[float, Field(allow_inf_nan=False, description="size of the input pulse")] = 1.0
    animation_frames: Annotated[int, Field(ge=1, le=600, description="frames of the phase-plane GIF")] = 60

    @field_validator("M")
    @classmethod
    def _two_by_two(cls, value: list[list[float]]) -> list[list[float]]:
        shape = f"{len(value)} rows of lengths {[len(row) for row in value]}"
        if len(value) != 2 or any(len(row) != 2 for row in value):
            raise ValueError(f"must be a 2x2 matrix [[a, b], [c, d]], got {shape}")
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError("entries must be finite numbers")
        return value

    @field_validator("h")
    @classmethod
    def _two_vector(cls, value: list[float]) -> list[float]:
        if len(value) != 2:
            raise ValueError(f"must be a vector of 2 numbers [h1, h2], got {len(value)}")
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError("entries must be finite numbers")
        return value

    @model_validator(mode="after")
    def _check(self) -> Linear2Config:
        if self.dt_ms > self.duration_ms:
            raise ValueError(f"dt_ms (={self.dt_ms}) must not exceed duration_ms (={self.duration_ms})")
        if self.duration_ms / self.dt_ms > 1_000_000:
            raise ValueError("duration_ms / dt_ms is more than 1,000,000 steps; raise dt_ms")
        return self

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.M, dtype=float)

    @property
    def tonic(self) -> np.ndarray:
        return np.asarray(self.h, dtype=float)


class Eigenmodes(NamedTuple):
    eigenvalues: np.ndarray  # (2,) complex, sorted by decreasing real part
    eigenvectors: np.ndarray  # (2, 2) columns, unit norm
    time_constants_ms: np.ndarray  # (2,) tau / (1 - Re lambda); inf or negative when not decaying
    stable: bool  # every Re lambda < 1


class Linear2Result(NamedTuple):
    t_ms: np.ndarray  # (T + 1,) from 0
    v: np.ndarray  # (T + 1, 2)
    h: np.ndarray  # (T + 1, 2) input at each sample


def eigenmodes(matrix: np.ndarray, tau_ms: float) -> Eigenmodes:
    """Eigen-decomposition of M and the decay time constant of each mode."""
    values, vectors = np.linalg.eig(np.asarray(matrix, dtype=float))
    order = np.argsort(-values.real, kind="stable")
    values, vectors = values[order], vectors[:, order]
    vectors = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    # Sign convention: the largest component of each (real) eigenvector is positive.
    for k in range(2):
        if np.isrealobj(vectors) or np.all(np.abs(vectors[:, k].imag) < 1e-14):
            column = vectors[:, k].real
            if column[np.argmax(np.abs(column))] < 0:
                vectors[:, k] = -vectors[:, k]
    with np.errstate(divide="ignore"):
        time_constants = tau_ms / (1.0 - values.real)
    if np.all(np.abs(values.imag) < 1e-14):
        values, vectors = values.real, vectors.real
    return Eigenmodes(values, vectors, time_constants, bool(np.all(values.real < 1.0)))


def steady_state(matrix: np.ndarray, h: np.ndarray) -> np.ndarray:
    """v* = (I - M)^-1 h; raises numpy's LinAlgError when I - M is singular."""
    return np.linalg.solve(np.eye(2) - np.asarray(matrix, dtype=float), np.asarray(h, dtype=float))


def _propagators(matrix: np.ndarray, tau_ms: float, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """(e^{A dt}, integral_0^dt e^{A s} ds / tau) for A = (M - I) / tau."""
    augmented = np.zeros((4, 4))
    augmented[:2, :2] = (matrix - np.eye(2)) / tau_ms
    augmented[:2, 2:] = np.eye(2) / tau_ms
    block = scipy.linalg.expm(augmented * dt_ms)
    return block[:2, :2], block[:2, 2:]


def simulate_linear2(
    config: Linear2Config,
    *,
    v0: np.ndarray | None = None,
    pulse: np.ndarray | None = None,
    duration_ms: float | None = None,
) -> Linear2Result:
    """Integrate tau dv/dt = -v + M v + h(t) exactly on the grid k dt.

    Args:
        config: matrix, tonic input, tau, step, pulse timing.
        v0: initial state (2,), default 0.
        pulse: direction of the input pulse (2,), scaled by `config.pulse_amplitude` and applied from
            `pulse_onset_ms` for `pulse_ms`; None for no pulse.
        duration_ms: overrides `config.duration_ms`.
    """
    duration = config.duration_ms if duration_ms is None else duration_ms
    steps = max(1, int(round(duration / config.dt_ms)))
    t = config.dt_ms * np.arange(steps + 1)
    h = np.tile(config.tonic, (steps + 1, 1))
    if pulse is not None:
        on = (t >= config.pulse_onset_ms - 1e-9) & (t < config.pulse_onset_ms + config.pulse_ms - 1e-9)
        h[on] += config.pulse_amplitude * np.asarray(pulse, dtype=float)
    decay, drive = _propagators(config.matrix, config.tau_ms, config.dt_ms)
    v = np.zeros((steps + 1, 2))
    v[0] = np.zeros(2) if v0 is None else np.asarray(v0, dtype=float)
    for k in range(steps):  # input held at its value at the start of each step
        v[k + 1] = decay @ v[k] + drive @ h[k]
    return Linear2Result(t, v, h)


def pulse_directions(config: Linear2Config) -> dict[str, np.ndarray]:
    """Unit pulse directions: along each axis and along each (real part of an) eigenvector."""
    modes = eigenmodes(config.matrix, config.tau_ms)
    directions = {"axis 1": np.array([1.0, 0.0]), "axis 2": np.array([0.0, 1.0])}
    for k in range(2):
        vector = np.real(modes.eigenvectors[:, k])
        label = f"eigvec {k + 1} (lambda={np.round(modes.eigenvalues[k], 3)})"
        directions[label] = vector / np.linalg.norm(vector)
    return directions


def pulse_experiments(config: Linear2Config) -> dict[str, Linear2Result]:
    """One simulation per pulse direction, starting at the steady state of the tonic input."""
    try:
        start = steady_state(config.matrix, config.tonic)
    except np.linalg.LinAlgError:
        start = np.zeros(2)
    return {name: simulate_linear2(config, v0=start, pulse=d) for name, d in pulse_directions(config).items()}


def mode_decay_times_ms(
    result: Linear2Result, matrix: np.ndarray, *, after_ms: float, baseline: np.ndarray | None = None
) -> np.ndarray:
    """Fitted decay time constant of each eigenmode amplitude after `after_ms` (free decay).

    The state relative to `baseline` (default 0) is projected on the eigenmodes (c = V^-1 v) and
    the slope of log|c_k(t)| is fitted by least squares: tau_k = -1 / slope. NaN where a mode is
    not excited, and for both modes when M is defective (no two independent eigenvectors: the
    Jordan form mixes in t e^{-t / tau} and there are no separate modes to fit).
    """
    values, vectors = np.linalg.eig(np.asarray(matrix, dtype=float))
    order = np.argsort(-values.real, kind="stable")
    vectors = vectors[:, order]
    if np.linalg.cond(vectors) > 1e8:
        return np.full(2, np.nan)
    offset = np.zeros(2) if baseline is None else np.asarray(baseline, dtype=float)
    coords = np.linalg.solve(vectors, (result.v - offset).T)  # (2, T)
    use = result.t_ms >= after_ms
    fitted = np.full(2, np.nan)
    for k in range(2):
        magnitude = np.abs(coords[k, use])
        if magnitude.size < 2 or magnitude.max() < 1e-12:
            continue
        keep = magnitude > magnitude.max() * 1e-9
        slope = np.polyfit(result.t_ms[use][keep], np.log(magnitude[keep]), 1)[0]
        fitted[k] = -1.0 / slope if slope != 0 else np.inf
    return fitted
