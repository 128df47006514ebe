"""Merge operators: remove unit j and hand its outgoing influence to the units that remain.

Unit j reaches the rest of the network only through its rate r_j, in the recurrent input
W_rec[:, j] r_j of every unit and the readout W_out[:, j] r_j. An operator replaces r_j by an
estimate built from kept units, fitted on recorded rates, and folds it into their weights:
    seed           r_j ~ r_i                 W[:, i] += W[:, j]
    affine         r_j ~ a r_i + c           W[:, i] += a W[:, j],  bias += c W[:, j]
    least-squares  r_j ~ R_K beta + c        W[:, K] += W[:, j] beta^T,  bias += c W[:, j]
for W = W_rec (bias b) and W = W_out (bias b_out), K the units that stay. Where the estimate is
exact on the network's trajectories, the merged network reproduces them exactly. Least squares
uses a ridge per sample, min_beta mean((r_j - R_K beta - c)^2) + ridge |beta|^2: the recorded
rates are nearly collinear, and an unregularised fit amplifies noise.

Networks are kept at full size with a mask `alive`: a removed unit's outgoing columns are zero,
so it no longer affects anything, and `compact` deletes it. Merging in place keeps every array
shape, so a sequence of merges needs no recompilation.
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp
import numpy as np

from rnncondense.errors import ConfigError
from rnncondense.rnn import Params

Operator = Literal["seed", "affine", "least-squares"]
OPERATORS: tuple[str, ...] = ("seed", "affine", "least-squares")


def _as_numpy(params: Params) -> dict[str, np.ndarray]:
    return {name: np.array(value, dtype=np.float64) for name, value in params._asdict().items()}


def _as_params(arrays: dict[str, np.ndarray], dtype) -> Params:
    return Params(**{name: jnp.asarray(value, dtype) for name, value in arrays.items()})


def fit_affine(target: np.ndarray, source: np.ndarray) -> tuple[float, float]:
    """Least-squares a, c with target ~ a * source + c."""
    source_centred = source - source.mean()
    variance = float(source_centred @ source_centred)
    a = float(source_centred @ (target - target.mean())) / variance if variance > 0 else 0.0
    return a, float(target.mean() - a * source.mean())


def fit_least_squares(target: np.ndarray, sources: np.ndarray, *, ridge: float) -> tuple[np.ndarray, float]:
    """beta, c minimising mean((target - sources beta - c)^2) + ridge |beta|^2; sources (samples, K)."""
    mean_s, mean_t = sources.mean(axis=0), target.mean()
    centred = sources - mean_s
    n = len(target)
    gram = centred.T @ centred / n + ridge * np.eye(sources.shape[1])
    beta = np.linalg.solve(gram, centred.T @ (target - mean_t) / n)
    return beta, float(mean_t - mean_s @ beta)


def merge_units(
    params: Params,
    rates: np.ndarray,
    pairs: list[tuple[int, int]],
    *,
    operator: Operator,
    alive: np.ndarray | None = None,
    ridge: float = 1e-4,
) -> tuple[Params, np.ndarray]:
    """Merge each (removed, kept) pair at once; returns the new params and alive mask.

    Args:
        params: the network, full size (N units).
        rates: (samples, N) rates recorded from this network, for the fits.
        pairs: (removed, kept) unit indices; each unit is removed at most once, and a kept unit
            may absorb several.
        operator: seed, affine or least-squares (which ignores `kept` and regresses on every
            unit that stays alive).
        alive: (N,) units still in the network (default: all).
        ridge: least-squares ridge per sample.
    """
    if operator not in OPERATORS:
        raise ConfigError(f"operator = {operator!r} is not allowed: choose one of {', '.join(OPERATORS)}")
    n_units = params.W_rec.shape[0]
    alive = np.ones(n_units, bool) if alive is None else np.array(alive, bool)
    removed = [j for j, _ in pairs]
    kept = {i for _, i in pairs}
    if (
        len(set(removed)) != len(removed)
        or kept & set(removed)
        or any(not 0 <= u < n_units or not alive[u] for pair in pairs for u in pair)
    ):
        raise ValueError(f"pairs {pairs} must remove distinct living units into living units that stay")
    p = _as_numpy(params)
    rates = np.asarray(rates, dtype=np.float64)
    stays = alive.copy()
    stays[removed] = False
    kept_units = np.flatnonzero(stays)
    for j, i in pairs:
        out_rec, out_read = p["W_rec"][:, j].copy(), p["W_out"][:, j].copy()
        if operator == "seed":
            p["W_rec"][:, i] += out_rec
            p["W_out"][:, i] += out_read
        elif operator == "affine":
            a, c = fit_affine(rates[:, j], rates[:, i])
            p["W_rec"][:, i] += a * out_rec
            p["W_out"][:, i] += a * out_read
            p["b"] += c * out_rec
            p["b_out"] += c * out_read
        else:
            beta, c = fit_least_squares(rates[:, j], rates[:, kept_units], ridge=ridge)
            p["W_rec"][:, kept_units] += np.outer(out_rec, beta)
            p["W_out"][:, kept_units] += np.outer(out_read, beta)
            p["b"] += c * out_rec
            p["b_out"] += c * out_read
        p["W_rec"][:, j] = 0.0
        p["W_out"][:, j] = 0.0
    return _as_params(p, params.W_rec.dtype), stays


def compact(params: Params, alive: np.ndarray) -> Params:
    """The network of the living units only (removed units must have zero outgoing weights)."""
    keep = np.flatnonzero(np.asarray(alive, bool))
    return Params(
        W_rec=params.W_rec[keep][:, keep],
        W_in=params.W_in[keep],
        b=params.b[keep],
        W_out=params.W_out[:, keep],
        b_out=params.b_out,
        x0=params.x0[keep],
    )
