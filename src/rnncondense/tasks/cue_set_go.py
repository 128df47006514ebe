"""Cue-Set-Go, an interval-production task (Wang, Narain, Hosseini & Jazayeri 2018).

Two inputs and one output. Input 0, the context cue, is 0 until `cue_onset_ms` and then holds a
tonic level that encodes the interval,

    level(I) = cue_levels[0] + (cue_levels[1] - cue_levels[0]) * (I - I_min) / (I_max - I_min),

with small per-step Gaussian noise of std `cue_noise_std`. Input 1, Set, is a pulse of
`set_amplitude` lasting `set_duration_ms`, starting after a delay drawn uniformly (on the time grid)
from `set_delay_ms` after cue onset. The target output is 0 until Set and then the ramp
(t - t_set) / I, which reaches 1 exactly one interval after Set and continues for `tail_ms`, so
that the produced interval (first crossing of 1 after Set) is well defined. The loss mask covers
each trial up to t_set + I + tail; the batch is as long as the longest possible trial.

Time step k of a trial is at t_k = k * dt_ms, Set times are multiples of dt_ms.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field, field_validator, model_validator

from rnncondense.validation import Strict

Array = jax.Array

_VALIDATION_KEY = 20180101  # the validation batch is fixed: its cue noise comes from this seed


class CueSetGoConfig(Strict):
    """Parameters of the Cue-Set-Go task; defaults are those for a CPU (dt 10 ms, 8 intervals)."""

    name: Literal["cue_set_go"] = "cue_set_go"
    dt_ms: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    intervals_ms: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: [500.0 + 1200.0 * i / 7 for i in range(8)], min_length=1, max_length=256
    )
    cue_onset_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 100.0
    set_delay_ms: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: [100.0, 200.0], min_length=2, max_length=2
    )
    set_duration_ms: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 20.0
    set_amplitude: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    cue_levels: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=lambda: [0.1, 0.6], min_length=2, max_length=2
    )
    cue_noise_std: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.01
    tail_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 200.0
    val_trials_per_interval: Annotated[int, Field(ge=1, le=1000)] = 16

    @field_validator("intervals_ms")
    @classmethod
    def _strictly_increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(value, value[1:])):
            raise ValueError("intervals must be strictly increasing (sorted, no repeats)")
        return value

    @field_validator("set_delay_ms")
    @classmethod
    def _ordered_pair(cls, value: list[float]) -> list[float]:
        if value[0] > value[1]:
            raise ValueError("must be [low, high] with low <= high")
        return value

    @model_validator(mode="after")
    def _pulse_spans_a_step(self) -> CueSetGoConfig:
        if self.set_duration_ms < self.dt_ms:
            raise ValueError(
                f"task.set_duration_ms (={self.set_duration_ms}) must be at least task.dt_ms (={self.dt_ms})"
            )
        # n_steps > 200000, in floats: dt 1e-320 makes n_steps overflow, and 1e-300 a 304-digit number
        steps = (self.cue_onset_ms + self.set_delay_ms[1] + max(self.intervals_ms) + self.tail_ms) / self.dt_ms
        if steps - 1e-9 > 199_999:
            raise ValueError(f"a trial of {steps + 1:.6g} steps is too long (at most 200000); raise task.dt_ms")
        return self

    @property
    def n_steps(self) -> int:
        longest = self.cue_onset_ms + self.set_delay_ms[1] + max(self.intervals_ms) + self.tail_ms
        return int(math.ceil(longest / self.dt_ms - 1e-9)) + 1


class TrialBatch(NamedTuple):
    """A batch of B trials of T steps."""

    inputs: Array  # (B, T, 2): context cue, Set pulse
    targets: Array  # (B, T, 1)
    mask: Array  # (B, T), 1 where the loss counts
    interval_ms: Array  # (B,) the interval to produce
    set_time_ms: Array  # (B,) onset of the Set pulse
    interval_index: Array  # (B,) index into config.intervals_ms


class CueSetGo:
    """The task as data: builds trials on a fixed time grid. Methods are pure and jit-compatible."""

    n_inputs = 2
    n_outputs = 1

    def __init__(self, config: CueSetGoConfig | None = None):
        self.config = config or CueSetGoConfig()
        c = self.config
        self.dt_ms = c.dt_ms
        self.n_steps = c.n_steps
        self.times_ms = np.arange(self.n_steps) * c.dt_ms
        self.intervals_ms = np.asarray(c.intervals_ms, dtype=np.float64)
        span = self.intervals_ms[-1] - self.intervals_ms[0]
        low, high = c.cue_levels
        fraction = (self.intervals_ms - self.intervals_ms[0]) / span if span > 0 else np.zeros_like(self.intervals_ms)
        self.cue_levels = low + (high - low) * fraction
        self._cue_onset_step = int(round(c.cue_onset_ms / c.dt_ms))
        self._delay_steps = (int(round(c.set_delay_ms[0] / c.dt_ms)), int(round(c.set_delay_ms[1] / c.dt_ms)))
        self._set_steps = int(round(c.set_duration_ms / c.dt_ms))
        self._trials_jit = jax.jit(self.trials)

    def trials(self, interval_index: Array, delay_steps: Array, cue_noise: Array | None = None) -> TrialBatch:
        """Trials for given interval indices (B,), cue-to-Set delays in steps (B,) and cue noise (B, T)."""
        c = self.config
        k = jnp.arange(self.n_steps)
        interval = jnp.asarray(self.intervals_ms, jnp.float32)[interval_index]
        level = jnp.asarray(self.cue_levels, jnp.float32)[interval_index]
        set_step = self._cue_onset_step + delay_steps
        cue_on = k[None, :] >= self._cue_onset_step
        cue = jnp.where(cue_on, level[:, None] + (0.0 if cue_noise is None else cue_noise), 0.0)
        in_pulse = (k[None, :] >= set_step[:, None]) & (k[None, :] < set_step[:, None] + self._set_steps)
        pulse = c.set_amplitude * in_pulse.astype(jnp.float32)
        since_set_ms = (k[None, :] - set_step[:, None]).astype(jnp.float32) * c.dt_ms
        ramp = jnp.where(since_set_ms >= 0, since_set_ms / interval[:, None], 0.0)
        mask = since_set_ms <= interval[:, None] + c.tail_ms
        return TrialBatch(
            inputs=jnp.stack([cue, pulse], axis=-1).astype(jnp.float32),
            targets=ramp[..., None].astype(jnp.float32),
            mask=mask.astype(jnp.float32),
            interval_ms=interval,
            set_time_ms=set_step.astype(jnp.float32) * c.dt_ms,
            interval_index=interval_index,
        )

    def sample(self, key: Array, batch_size: int) -> TrialBatch:
        """Fresh random trials: uniform interval, uniform delay on the grid, cue noise."""
        k_interval, k_delay, k_noise = jax.random.split(key, 3)
        interval_index = jax.random.randint(k_interval, (batch_size,), 0, len(self.intervals_ms))
        low, high = self._delay_steps
        delay_steps = jax.random.randint(k_delay, (batch_size,), low, high + 1)
        noise = self.config.cue_noise_std * jax.random.normal(k_noise, (batch_size, self.n_steps))
        return self.trials(interval_index, delay_steps, noise)

    def validation_batch(self) -> TrialBatch:
        """The fixed validation batch: every interval, delays evenly spread over the delay range."""
        per_interval = self.config.val_trials_per_interval
        n_intervals = len(self.intervals_ms)
        interval_index = np.repeat(np.arange(n_intervals), per_interval)
        low, high = self._delay_steps
        delays = np.round(np.linspace(low, high, per_interval)).astype(np.int32)
        delay_steps = np.tile(delays, n_intervals)
        key = jax.random.PRNGKey(_VALIDATION_KEY)
        noise = self.config.cue_noise_std * jax.random.normal(key, (len(interval_index), self.n_steps))
        return self._trials_jit(jnp.asarray(interval_index), jnp.asarray(delay_steps), noise)

    def condition_batch(self, delay_ms: float | None = None) -> TrialBatch:
        """One noise-free trial per interval with the same cue-to-Set delay (default: the middle)."""
        low, high = self._delay_steps
        delay = (low + high) // 2 if delay_ms is None else int(round(delay_ms / self.dt_ms))
        n_intervals = len(self.intervals_ms)
        return self._trials_jit(jnp.arange(n_intervals), jnp.full((n_intervals,), delay, jnp.int32))
