"""Eigenvalues of the recurrent weights and of the network linearised at a state.

The network (rnn.py) is the Euler discretisation, alpha = dt / tau, of

    tau dx/dt = -x + W_rec tanh(x) + W_in u + b.

Linearised at a state x (the input u and the bias only shift the operating point):

    continuous time   J_c = (-I + W_rec diag(1 - tanh(x)^2)) / tau      (units 1/ms)
    Euler step map    J_d = I + dt J_c = (1 - alpha) I + alpha W_rec diag(1 - tanh(x)^2)

A fixed point is stable when every eigenvalue of J_c has negative real part (equivalently, for
the Euler map with small alpha, |eig(J_d)| < 1). At x = 0 the gain is 1 and J_c = (W_rec - I) / tau,
so an eigenvalue lambda of W_rec with Re(lambda) > 1 makes the origin unstable: the line
Re(lambda) = 1 is the stability boundary in the W_rec eigenvalue plane. For the initial
W_rec ~ N(0, g^2 / N) the eigenvalues fill the disc of radius g (circular law); g = 1, the unit
circle, is the edge of chaos of the autonomous network (Sompolinsky, Crisanti & Sommers 1988).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnncondense.rnn import Params

__all__ = ["Spectrum", "Linearization", "recurrent_spectrum", "linearize"]


class Spectrum(NamedTuple):
    """Eigenvalues of W_rec (N,), sorted by decreasing modulus."""

    eigenvalues: np.ndarray  # (N,) complex128
    spectral_radius: float  # max |lambda|
    max_real: float  # max Re(lambda); > 1 means the origin is unstable


def _sorted(eigenvalues: np.ndarray) -> np.ndarray:
    order = np.lexsort((-eigenvalues.imag, -eigenvalues.real, -np.abs(eigenvalues)))
    return eigenvalues[order].astype(np.complex128)


def recurrent_spectrum(W_rec: np.ndarray) -> Spectrum:
    """Eigenvalues of the recurrent weight matrix W_rec (N, N), in float64."""
    w = np.asarray(W_rec, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"W_rec must be square, got shape {w.shape}")
    eigenvalues = _sorted(np.linalg.eigvals(w))
    return Spectrum(eigenvalues, float(np.abs(eigenvalues).max()), float(eigenvalues.real.max()))


class Linearization(NamedTuple):
    """The network linearised at one state (see the module docstring for the equations)."""

    jacobian_continuous: np.ndarray  # (N, N) J_c, 1/ms
    jacobian_discrete: np.ndarray  # (N, N) J_d of one Euler step
    eigenvalues_continuous: np.ndarray  # (N,) sorted by decreasing modulus
    eigenvalues_discrete: np.ndarray  # (N,)
    stable: bool  # every Re(eig(J_c)) < 0


def linearize(params: Params, state: np.ndarray, *, tau_ms: float, dt_ms: float) -> Linearization:
    """Jacobians of the network at `state` x (N,): J_c = (-I + W diag(1 - tanh^2 x)) / tau, J_d = I + dt J_c."""
    if not (tau_ms > 0 and dt_ms > 0):
        raise ValueError(f"tau_ms (={tau_ms}) and dt_ms (={dt_ms}) must be positive")
    w = np.asarray(params.W_rec, dtype=np.float64)
    x = np.asarray(state, dtype=np.float64)
    if x.shape != (w.shape[0],):
        raise ValueError(f"state must have shape ({w.shape[0]},), got {x.shape}")
    gain = 1.0 - np.tanh(x) ** 2
    identity = np.eye(w.shape[0])
    j_c = (-identity + w * gain[None, :]) / tau_ms
    j_d = identity + dt_ms * j_c
    eig_c = _sorted(np.linalg.eigvals(j_c))
    return Linearization(
        jacobian_continuous=j_c,
        jacobian_discrete=j_d,
        eigenvalues_continuous=eig_c,
        eigenvalues_discrete=_sorted(np.linalg.eigvals(j_d)),
        stable=bool(eig_c.real.max() < 0),
    )
