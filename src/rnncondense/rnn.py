"""The continuous-time rate network, discretised with Euler steps.

With alpha = dt / tau and r = tanh(x), one step of the network is

    x_t = x_{t-1} + alpha * (-x_{t-1} + W_rec r_{t-1} + W_in u_t + b) + sqrt(alpha) * sigma_rec * xi_t
    r_t = tanh(x_t),    z_t = W_out r_t + b_out

starting from the learned initial state x_{-1} = x0 (Wang, Narain, Hosseini & Jazayeri 2018).
Time step t reads the input u_t and reports the output z_t, so the two arrays line up.

Variants (`Dynamics`, static configuration, never part of the Params pytree), for networks
trained elsewhere. The nonlinearity f is tanh (the default), relu, softplus, sigmoid or identity,
and the update takes one of three forms:

    current   x_t = (1 - alpha) x_{t-1} + alpha (W_rec f(x_{t-1}) + W_in u_t + b) + noise_t,  r_t = f(x_t)
              (the default; PsychRNN's Basic model)
    rate      r_t = (1 - alpha) r_{t-1} + alpha f(W_rec r_{t-1} + W_in u_t + b + noise_t / alpha)
              (NeuroGym's CTRNN example); the state is the rate itself
    discrete  the rate form with alpha = 1: r_t = f(W_rec r_{t-1} + W_in u_t + b + noise_t)
              (PyTorch nn.RNN)

noise_t = sqrt(alpha) sigma_rec xi_t as in the current form, so that both forms see the same noise
on the pre-activation, sigma_rec xi_t / sqrt(alpha). The readout is z_t = W_out r_t + b_out in every
form, and x0 is the initial state (x_{-1} in the current form, r_{-1} in the others).

`simulate` runs whole batches of trials. The recurrent core is a `lax.scan` with a custom JVP:
the terms that do not depend on the previous state (input drive, bias, noise and, in the
tangent, `dW_rec r_{t-1}`) are computed for all time steps as one large matrix product outside
the scan. Reverse mode transposes that rule, so the weight gradient is also one matrix product
over all time steps; the scan itself only carries the (B, N) state (or its adjoint).

Noise. The key of a simulation is split into one key per time step, and xi_t is drawn from key t
(`recurrent_noise`), a block of steps at a time. Drawing all (T, B, N) numbers at once would need
working memory of four times that array (the counters and bits of the threefry generator): 180 MB
for a 256-trial batch of a 200-unit network, more than the simulation itself.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rnncondense.errors import SimulationDiverged

Array = jax.Array


class Params(NamedTuple):
    """Parameters of a rate RNN with N units, I inputs and O outputs (a pytree of arrays)."""

    W_rec: Array  # (N, N) recurrent weights, row i receives
    W_in: Array  # (N, I) input weights
    b: Array  # (N,) unit bias
    W_out: Array  # (O, N) readout weights
    b_out: Array  # (O,) readout bias
    x0: Array  # (N,) initial state


class Trajectory(NamedTuple):
    """A simulated batch: states, rates r and outputs z, each (B, T, .).

    The states are x (current form, r = f(x)) or the rates themselves (rate and discrete forms).
    """

    states: Array  # (B, T, N)
    rates: Array  # (B, T, N)
    outputs: Array  # (B, T, O)


FORMS: tuple[str, ...] = ("current", "rate", "discrete")
NONLINEARITIES: tuple[str, ...] = ("tanh", "relu", "softplus", "sigmoid", "identity")


class Dynamics(NamedTuple):
    """The update form and nonlinearity of a network (hashable: a static argument of jitted code)."""

    form: str = "current"  # one of FORMS
    nonlinearity: str = "tanh"  # one of NONLINEARITIES


CURRENT_TANH = Dynamics()


def _checked(dynamics: Dynamics, alpha: float) -> Dynamics:
    if dynamics.form not in FORMS:
        raise ValueError(f"form = {dynamics.form!r} is not allowed: choose one of {', '.join(FORMS)}")
    if dynamics.nonlinearity not in NONLINEARITIES:
        raise ValueError(
            f"nonlinearity = {dynamics.nonlinearity!r} is not allowed: choose one of {', '.join(NONLINEARITIES)}"
        )
    if dynamics.form == "discrete" and alpha != 1.0:
        raise ValueError(f"alpha (={alpha}) must be 1 for the discrete form")
    return dynamics


def nonlinearity(name: str) -> Callable[[Array], Array]:
    """The transfer function f of a nonlinearity's name."""
    return {
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "softplus": jax.nn.softplus,
        "sigmoid": jax.nn.sigmoid,
        "identity": lambda x: x,
    }[name]


def gain(name: str, x: Array, fx: Array) -> Array:
    """f'(x), given x and f(x) (tanh' = 1 - f^2 and sigmoid' = f (1 - f) reuse f(x)).

    relu' is 0 at x = 0, as jax.nn.relu's derivative, so that the custom JVP below agrees with
    plain autodiff everywhere.
    """
    if name == "tanh":
        return 1.0 - fx**2
    if name == "relu":
        return (x > 0).astype(x.dtype)
    if name == "softplus":
        return jax.nn.sigmoid(x)
    if name == "sigmoid":
        return fx * (1.0 - fx)
    return jnp.ones_like(x)


def rates_of(states: Array, dynamics: Dynamics = CURRENT_TANH) -> Array:
    """The rates r of simulated states: f(x) in the current form, the states themselves otherwise."""
    if dynamics.form == "current":
        return nonlinearity(dynamics.nonlinearity)(states)
    return states


def init_params(
    key: Array,
    n_units: int,
    *,
    n_inputs: int = 2,
    n_outputs: int = 1,
    g: float = 1.0,
    x0_std: float = 0.0,
    dtype=jnp.float32,
) -> Params:
    """Initial parameters as in Wang et al. 2018.

    W_rec ~ N(0, g^2 / N); W_in ~ U(-1, 1); W_out = 0; biases 0; x0 ~ N(0, x0_std^2).
    g = 1 sits at the edge of chaos; g = 1.5 gives chaotic starts.
    """
    k_rec, k_in, k_x0 = jax.random.split(key, 3)
    return Params(
        W_rec=g / jnp.sqrt(n_units) * jax.random.normal(k_rec, (n_units, n_units), dtype),
        W_in=jax.random.uniform(k_in, (n_units, n_inputs), dtype, -1.0, 1.0),
        b=jnp.zeros((n_units,), dtype),
        W_out=jnp.zeros((n_outputs, n_units), dtype),
        b_out=jnp.zeros((n_outputs,), dtype),
        x0=x0_std * jax.random.normal(k_x0, (n_units,), dtype),
    )


def step(
    params: Params,
    x: Array,
    u: Array,
    *,
    alpha: float,
    noise: Array | float = 0.0,
    dynamics: Dynamics = CURRENT_TANH,
) -> tuple[Array, Array]:
    """One step from state `x` (..., N) with input `u` (..., I), written as the module docstring's
    equations (the independent reference of the fast paths).

    `noise` is the already scaled term sqrt(alpha) * sigma_rec * xi_t. Returns (x_t, z_t).
    """
    f = nonlinearity(_checked(dynamics, alpha).nonlinearity)
    if dynamics.form == "current":
        r = f(x)
        x_new = x + alpha * (-x + r @ params.W_rec.T + u @ params.W_in.T + params.b) + noise
        r_new = f(x_new)
    else:
        pre = x @ params.W_rec.T + u @ params.W_in.T + params.b + noise / alpha
        x_new = r_new = x + alpha * (-x + f(pre))
    z = r_new @ params.W_out.T + params.b_out
    return x_new, z


# ---------------------------------------------------------------- recurrent core with custom JVP


def _input_drive(alpha: float, dynamics: Dynamics, drive: Array, noise: Array | None) -> Array:
    """The per-step term that does not depend on the state, from W_in u_t + b and the scaled noise:
    alpha (W_in u + b) + noise in the current form, W_in u + b + noise / alpha in the others."""
    if dynamics.form == "current":
        drive = alpha * drive
        return drive if noise is None else drive + noise
    return drive if noise is None else drive + noise / alpha


def _update(alpha: float, dynamics: Dynamics, W_rec: Array, x: Array, drive_t: Array) -> Array:
    """One step of the recurrent core from state x (B, N) with the state-free term drive_t."""
    f = nonlinearity(dynamics.nonlinearity)
    if dynamics.form == "current":
        return (1.0 - alpha) * x + alpha * f(x) @ W_rec.T + drive_t
    if dynamics.form == "discrete":
        return f(x @ W_rec.T + drive_t)
    return (1.0 - alpha) * x + alpha * f(x @ W_rec.T + drive_t)


def _scan_states(alpha: float, dynamics: Dynamics, W_rec: Array, x_init: Array, drive: Array) -> Array:
    """The states of every step, for the state-free terms drive (T, B, N) (`_update`)."""

    def _step(x, drive_t):
        x = _update(alpha, dynamics, W_rec, x, drive_t)
        return x, x

    _, xs = lax.scan(_step, x_init, drive)
    return xs


@partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _recurrent_core(alpha: float, dynamics: Dynamics, W_rec: Array, x_init: Array, drive: Array) -> Array:
    return _scan_states(alpha, dynamics, W_rec, x_init, drive)


@_recurrent_core.defjvp
def _recurrent_core_jvp(alpha, dynamics, primals, tangents):
    W_rec, x_init, drive = primals
    dW_rec, dx_init, ddrive = tangents
    f = nonlinearity(dynamics.nonlinearity)
    xs = _scan_states(alpha, dynamics, W_rec, x_init, drive)
    x_prev = jnp.concatenate([x_init[None], xs[:-1]], axis=0)  # (T, B, N)
    leak = 1.0 - alpha  # 0 in the discrete form
    # The part of the tangent that does not depend on the previous tangent state, for all
    # steps at once; transposed in reverse mode it becomes dW_rec = sum_t adj_t^T r_{t-1}
    # (current form) or sum_t (alpha f'(pre_t) adj_t)^T r_{t-1} (rate forms): one matrix product.
    if dynamics.form == "current":
        r_prev = f(x_prev)
        gain_prev = gain(dynamics.nonlinearity, x_prev, r_prev)
        forcing = alpha * r_prev @ dW_rec.T + ddrive

        def _tangent_step(dx, inputs):
            gain_t, forcing_t = inputs
            dx = (1.0 - alpha) * dx + alpha * (gain_t * dx) @ W_rec.T + forcing_t
            return dx, dx

    else:
        # r_t = (1 - alpha) r_{t-1} + alpha f(pre_t), pre_t = W_rec r_{t-1} + drive_t:
        # dr_t = (1 - alpha) dr_{t-1} + alpha f'(pre_t) (W_rec dr_{t-1} + dW_rec r_{t-1} + ddrive_t)
        pre = x_prev @ W_rec.T + drive
        gain_prev = alpha * gain(dynamics.nonlinearity, pre, f(pre))
        forcing = gain_prev * (x_prev @ dW_rec.T + ddrive)

        def _tangent_step(dx, inputs):
            gain_t, forcing_t = inputs
            dx = leak * dx + gain_t * (dx @ W_rec.T) + forcing_t
            return dx, dx

    _, dxs = lax.scan(_tangent_step, dx_init, (gain_prev, forcing))
    return xs, dxs


NOISE_BLOCK_SIZE = 2**20  # numbers of noise drawn at once, at most (threefry's speed against its working memory)


def noise_step_keys(key: Array, n_steps: int) -> Array:
    """One key per time step: the recurrent noise of step t is drawn from key t alone."""
    return jax.random.split(key, n_steps)


def noise_at(step_key: Array, shape: tuple[int, ...], *, alpha: float, sigma_rec: float) -> Array:
    """The scaled noise term sqrt(alpha) * sigma_rec * xi_t of one time step, xi ~ N(0, 1)."""
    return math.sqrt(alpha) * sigma_rec * jax.random.normal(step_key, shape)


def recurrent_noise(key: Array, shape: tuple[int, ...], *, alpha: float, sigma_rec: float) -> Array:
    """The scaled noise sqrt(alpha) * sigma_rec * xi_t of every step, shape (T, ...), xi ~ N(0, 1).

    Each step's noise comes from its own key (`noise_step_keys`), drawn in blocks of as many
    steps as hold at most NOISE_BLOCK_SIZE numbers: the random-bit generator then needs working
    memory for a block, not four times the whole (T, B, N) array, and small arrays are still
    drawn in one or a few calls. The numbers do not depend on the blocks.
    """
    per_step = math.prod(shape[1:])
    block = max(1, min(shape[0], NOISE_BLOCK_SIZE // max(per_step, 1)))
    draw = lambda step_key: noise_at(step_key, tuple(shape[1:]), alpha=alpha, sigma_rec=sigma_rec)
    return lax.map(draw, noise_step_keys(key, shape[0]), batch_size=block)


def simulate_time_major(
    params: Params,
    inputs: Array,
    noise: Array | None = None,
    *,
    alpha: float,
    dynamics: Dynamics = CURRENT_TANH,
) -> Trajectory:
    """Like `simulate`, with time leading: inputs (T, B, I), scaled noise (T, B, N) or None.

    Returns a Trajectory whose arrays are (T, B, .).
    """
    dynamics = _checked(Dynamics(*dynamics), alpha)
    batch = inputs.shape[1]
    drive = _input_drive(alpha, dynamics, inputs @ params.W_in.T + params.b, noise)
    x_init = jnp.broadcast_to(params.x0, (batch, params.x0.shape[-1]))
    states = _recurrent_core(alpha, dynamics, params.W_rec, x_init, drive)
    rates = rates_of(states, dynamics)
    outputs = rates @ params.W_out.T + params.b_out
    return Trajectory(states, rates, outputs)


@partial(jax.jit, static_argnames=("alpha", "sigma_rec", "dynamics"))
def simulate(
    params: Params,
    inputs: Array,
    key: Array | None = None,
    *,
    alpha: float,
    sigma_rec: float = 0.0,
    dynamics: Dynamics = CURRENT_TANH,
) -> Trajectory:
    """Simulate a batch of trials.

    Args:
        params: network parameters (N units).
        inputs: (B, T, I) inputs u_t.
        key: PRNG key for the recurrent noise; None (or sigma_rec = 0) runs noise-free.
        alpha: dt / tau.
        sigma_rec: standard deviation of the recurrent noise (in units of x, per sqrt(tau)).
        dynamics: update form and nonlinearity (default: the current form with tanh).

    Returns:
        Trajectory of states, rates (B, T, N) and outputs (B, T, O).
    """
    inputs_tm = jnp.swapaxes(inputs, 0, 1)
    noise = None
    if key is not None and sigma_rec > 0:
        shape = inputs_tm.shape[:2] + (params.W_rec.shape[0],)
        noise = recurrent_noise(key, shape, alpha=alpha, sigma_rec=sigma_rec)
    traj = simulate_time_major(params, inputs_tm, noise, alpha=alpha, dynamics=dynamics)
    return Trajectory(*(jnp.swapaxes(a, 0, 1) for a in traj))


@partial(jax.jit, static_argnames=("alpha", "sigma_rec", "dynamics"))
def simulate_outputs(
    params: Params,
    inputs: Array,
    key: Array | None = None,
    *,
    alpha: float,
    sigma_rec: float = 0.0,
    dynamics: Dynamics = CURRENT_TANH,
) -> Array:
    """Only the outputs (B, T, O) of `simulate` (equal up to float rounding), for evaluation.

    One scan that carries the (B, N) state and emits z_t: states, rates and the input drive are
    never stored for all steps, so memory is the noise plus the outputs (a 256-trial validation
    batch of a 200-unit network needs about 45 MB instead of 180 MB).
    """
    inputs_tm = jnp.swapaxes(inputs, 0, 1)
    batch, n = inputs_tm.shape[1], params.W_rec.shape[0]
    noise = None
    if key is not None and sigma_rec > 0:
        noise = recurrent_noise(key, inputs_tm.shape[:2] + (n,), alpha=alpha, sigma_rec=sigma_rec)

    dynamics = _checked(Dynamics(*dynamics), alpha)

    def _step(x, step_inputs):
        u_t, noise_t = step_inputs
        drive_t = _input_drive(alpha, dynamics, u_t @ params.W_in.T + params.b, noise_t)
        x = _update(alpha, dynamics, params.W_rec, x, drive_t)
        return x, rates_of(x, dynamics) @ params.W_out.T + params.b_out

    x_init = jnp.broadcast_to(params.x0, (batch, n))
    _, outputs = lax.scan(_step, x_init, (inputs_tm, noise))
    return jnp.swapaxes(outputs, 0, 1)


def simulate_reference(
    params: Params,
    inputs: Array,
    noise: Array | None = None,
    *,
    alpha: float,
    dynamics: Dynamics = CURRENT_TANH,
) -> Trajectory:
    """The same dynamics as `simulate_time_major` by repeated `step`, with plain autodiff.

    Slow; kept as the independent reference the fast path is tested against.
    """
    batch = inputs.shape[1]
    x = jnp.broadcast_to(params.x0, (batch, params.x0.shape[-1]))
    if noise is None:
        noise = jnp.zeros(inputs.shape[:2] + (params.x0.shape[-1],), inputs.dtype)

    def _step(x, inputs_t):
        u_t, noise_t = inputs_t
        x, z = step(params, x, u_t, alpha=alpha, noise=noise_t, dynamics=dynamics)
        return x, (x, z)

    _, (states, outputs) = lax.scan(_step, x, (inputs, noise))
    return Trajectory(states, rates_of(states, dynamics), outputs)


# ---------------------------------------------------------------- divergence check (after a simulation)


def first_nonfinite(values: Array | np.ndarray) -> tuple[int, int] | None:
    """(trial, step) of the earliest time step at which `values` (B, T, ...) holds NaN or inf (the
    first such trial at that step), or None if every value is finite."""
    values = np.asarray(values)
    bad = (~np.isfinite(values)).reshape(values.shape[0], values.shape[1], -1).any(axis=2)  # (B, T)
    steps = np.flatnonzero(bad.any(axis=0))
    if steps.size == 0:
        return None
    return int(np.flatnonzero(bad[:, steps[0]])[0]), int(steps[0])


def check_finite_trajectory(
    arrays: Mapping[str, Array | np.ndarray],
    *,
    dt_ms: float,
    what: str = "the network",
    trial_label: Callable[[int], str] = lambda trial: f"trial {trial}",
) -> None:
    """Raise SimulationDiverged if any of the simulated `arrays` (name -> (B, T, ...), e.g. states
    and outputs) holds NaN or inf, naming the earliest time step (ms: step * dt_ms, as the task's
    time axis) and its trial. Meant for the results of a simulation, not for traced code."""
    found = {name: where for name, array in arrays.items() if (where := first_nonfinite(array)) is not None}
    if not found:
        return
    name, (trial, step) = min(found.items(), key=lambda item: (item[1][1], item[1][0]))
    raise SimulationDiverged(
        f"the simulation of {what} diverged: its {name} are NaN or inf from time step {step} "
        f"(t = {step * dt_ms:g} ms) of {trial_label(trial)} on; the parameters are finite, but the dynamics "
        "overflow (weights far too large), so no metric is computed from it"
    )
