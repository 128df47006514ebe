"""Dynamical Similarity Analysis (Ostrow, Eisen, Kozachkov & Fiete 2023, NeurIPS).

Two networks are compared by the linear dynamics fitted to their trajectories, not by the shape of
the trajectories: two systems that implement the same dynamics in rotated coordinates score as
identical, two with the same geometry but other dynamics (a ring attractor against a line
attractor) as different.

1. Delay (Hankel) embedding of trials x (K, T, N) with d delays every `delay_interval` steps:
   h_t = (x_t, x_{t-s}, ..., x_{t-(d-1)s}), shape (K, T - (d-1)s, N d).
2. HAVOK / DMD (Brunton et al. 2017): the SVD H = V S U^T of all embedded samples (rows of H);
   the first r columns of V (eigen-time-delay coordinates: the samples' coordinates in the top r
   directions, whitened) give the regression v_{t+1} ~ A v_t, solved by (ridge) least squares
   over consecutive samples of each trial,

       A = [(V_-^T V_- + lambda I)^-1 V_-^T V_+]^T        (r, r), principal component regression,

   as the reference package `dsa-metric` (class DMD, `A_v`). Rotating the N coordinates
   (x -> R x for an orthogonal R) changes U only, so A is unchanged up to the signs of the columns
   of V, which step 3 absorbs; the signs are fixed anyway (largest entry of each column positive).
3. Procrustes over vector fields: the angular distance

       DSA(A, B) = min_{Q in O(r)} arccos( <A, Q B Q^T>_F / (|A|_F |B|_F) )    in [0, pi],

   computed as 2 arcsin(|A/|A| - Q B Q^T/|B|| / 2), which is the same angle and accurate near 0
   (arccos loses half the digits there). Q = R_0 cay(S), cay(S) = (I - S)^-1 (I + S) with S skew
   (the Cayley map onto the rotations without eigenvalue -1), from several restarts R_0: the
   identity, then Haar-random orthogonal matrices of alternating determinant, so both components
   of O(r) are searched. Each restart runs Adam (optax) and then Gauss-Newton on the residual
   A/|A| - Q B Q^T/|B| (quadratic convergence when the two are conjugate: the distance of a
   system to a rotated copy of itself comes out below 1e-7), all restarts at once (vmap, jit);
   the smallest distance is kept. Everything runs in float64.

The package `dsa-metric` 2.0.2 optimises the same objective with its own parameterisation
(1500 Adam steps, two starts); benchmarks/dsa_baseline.py compares the two.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

_RANK_RTOL = 1e-9  # singular values below this fraction of the largest are rounding noise

__all__ = ["DMDModel", "Procrustes", "DSAResult", "delay_embed", "havok_dmd", "procrustes_over_vector_fields", "dsa"]


class DMDModel(NamedTuple):
    """A linear operator fitted to delay-embedded trajectories (HAVOK / DMD)."""

    operator: np.ndarray  # (r, r) A in eigen-time-delay coordinates, v_{t+1} ~ A v_t
    singular_values: np.ndarray  # (min(samples, N d),) of the Hankel matrix, decreasing
    rank: int  # r
    n_delays: int
    delay_interval: int


class Procrustes(NamedTuple):
    """The angular Procrustes distance between two operators and the transform that attains it."""

    distance: float  # radians, in [0, pi]
    rotation: np.ndarray  # (r, r) orthogonal Q with A ~ Q B Q^T
    restart_distances: np.ndarray  # (restarts,) each restart's distance


class DSAResult(NamedTuple):
    """Dynamical similarity of two sets of trajectories."""

    distance: float  # angular Procrustes distance over vector fields (radians, in [0, pi])
    model_a: DMDModel
    model_b: DMDModel
    procrustes: Procrustes


# ---------------------------------------------------------------- delay embedding and HAVOK


def _as_trials(data: np.ndarray, name: str) -> np.ndarray:
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or min(data.shape) < 1 or not np.all(np.isfinite(data)):
        raise ValueError(f"{name} must be finite trajectories (T, N) or (K, T, N), got shape {np.shape(data)}")
    return data


def delay_embed(data: np.ndarray, n_delays: int, delay_interval: int = 1) -> np.ndarray:
    """Hankel embedding of (T, N) or (K, T, N) data -> (K, T - (d-1)s, N d); block j holds x_{t - j s}."""
    data = _as_trials(data, "data")
    span = (n_delays - 1) * delay_interval
    if n_delays < 1 or delay_interval < 1 or span >= data.shape[1]:
        raise ValueError(
            f"n_delays (={n_delays}) and delay_interval (={delay_interval}) must be >= 1 with "
            f"(n_delays - 1) * delay_interval < T (={data.shape[1]})"
        )
    length = data.shape[1] - span
    blocks = [data[:, span - j * delay_interval: span - j * delay_interval + length] for j in range(n_delays)]
    return np.concatenate(blocks, axis=2)


def havok_dmd(
    data: np.ndarray, *, n_delays: int, rank: int, delay_interval: int = 1, ridge: float = 0.0
) -> DMDModel:
    """Fit v_{t+1} ~ A v_t in the top-`rank` eigen-time-delay coordinates of (T, N) or (K, T, N) data."""
    hankel = delay_embed(data, n_delays, delay_interval)
    trials, length, width = hankel.shape
    if length < 2:
        raise ValueError(f"the embedded trials have {length} sample(s); at least 2 are needed for a one-step fit")
    max_rank = min(trials * length, width)
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= max_rank:
        raise ValueError(f"rank (={rank!r}) must be an integer in [1, {max_rank}] (the Hankel matrix's rank bound)")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge (={ridge!r}) must be a finite number >= 0")
    # rows of H are samples: H = V S U^T, so V holds the samples' whitened coordinates
    v, singular, _ = np.linalg.svd(hankel.reshape(trials * length, width), full_matrices=False)
    if singular[rank - 1] <= _RANK_RTOL * singular[0]:
        numerical = int(np.sum(singular > _RANK_RTOL * singular[0]))
        raise ValueError(
            f"rank (={rank}) exceeds the numerical rank ({numerical}) of the Hankel matrix (singular values "
            f"above {_RANK_RTOL:g} of the largest): the extra coordinates would be rounding noise"
        )
    v = v[:, :rank]
    v = v * np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(rank)])
    v = v.reshape(trials, length, rank)
    before, after = v[:, :-1].reshape(-1, rank), v[:, 1:].reshape(-1, rank)
    gram = before.T @ before + ridge * np.eye(rank)
    operator = np.linalg.solve(gram, before.T @ after).T
    return DMDModel(operator, singular, int(rank), int(n_delays), int(delay_interval))


# ---------------------------------------------------------------- Procrustes over vector fields


def _cayley(params: jax.Array, n: int) -> jax.Array:
    upper = jnp.zeros((n, n), params.dtype).at[jnp.triu_indices(n, 1)].set(params)
    skew = upper - upper.T
    eye = jnp.eye(n, dtype=params.dtype)
    return jnp.linalg.solve(eye - skew, eye + skew)


def _residual(params: jax.Array, start: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    q = start @ _cayley(params, a.shape[0])
    return (a - q @ b @ q.T).reshape(-1)


@partial(jax.jit, static_argnames=("adam_steps", "gauss_newton_steps", "learning_rate"))
def _optimise(starts, a, b, *, adam_steps: int, gauss_newton_steps: int, learning_rate: float):
    n = a.shape[0]
    n_params = n * (n - 1) // 2
    optimizer = optax.adam(learning_rate)

    def _one(start):
        loss = lambda p: 0.5 * jnp.sum(_residual(p, start, a, b) ** 2)

        def _adam(carry, _):
            p, state = carry
            updates, state = optimizer.update(jax.grad(loss)(p), state, p)
            return (optax.apply_updates(p, updates), state), None

        p0 = jnp.zeros(n_params, a.dtype)
        (p, _), _ = lax.scan(_adam, (p0, optimizer.init(p0)), None, length=adam_steps)

        def _gauss_newton(carry, _):
            # a step is kept only if it lowers the loss; the damping adapts as in Levenberg-Marquardt
            p, mu = carry
            r = _residual(p, start, a, b)
            jac = jax.jacfwd(_residual)(p, start, a, b)
            dp = -jnp.linalg.solve(jac.T @ jac + mu * jnp.eye(n_params, dtype=a.dtype), jac.T @ r)
            better = loss(p + dp) < 0.5 * jnp.sum(r * r)
            return (jnp.where(better, p + dp, p), jnp.where(better, mu / 3.0, mu * 2.0)), None

        (p, _), _ = lax.scan(_gauss_newton, (p, jnp.asarray(1e-6, a.dtype)), None, length=gauss_newton_steps)
        q = start @ _cayley(p, n)
        distance = 2.0 * jnp.arcsin(jnp.minimum(jnp.linalg.norm(a - q @ b @ q.T) / 2.0, 1.0))
        return distance, q

    return jax.vmap(_one)(starts)


def _haar_orthogonal(rng: np.random.Generator, n: int, determinant: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) * determinant < 0:
        q[:, 0] = -q[:, 0]
    return q


def _best_signs(a: np.ndarray, b: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Q = left diag(d) right^T with signs d in {-1, 1} chosen greedily (two sweeps) to fit A ~ Q B Q^T."""
    signs = np.ones(left.shape[1])
    fit = lambda d: np.linalg.norm(a - (left * d) @ right.T @ b @ right @ (left * d).T)
    for _ in range(2):
        for j in range(signs.size):
            flipped = signs.copy()
            flipped[j] = -flipped[j]
            if fit(flipped) < fit(signs):
                signs = flipped
    return (left * signs) @ right.T


def _spectral_starts(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Rotations mapping eigenvectors of symmetric matrices built from B onto those built from A.

    If A = Q B Q^T, then P(A) = Q P(B) Q^T for P(M) = c1 (M + M^T) + c2 M M^T + c3 M^T M
    + c4 (M^2 + M^2^T), so with distinct eigenvalues the start E_A diag(d) E_B^T is Q up to the
    signs d of the eigenvectors (chosen greedily). Random weights c break near-degeneracies that a
    single such matrix (say the symmetric part of a rotation-invariant ring) would leave.
    """
    parts = lambda m: (m + m.T, m @ m.T, m.T @ m, m @ m + (m @ m).T)
    parts_a, parts_b = parts(a), parts(b)
    starts = []
    for k in range(count):
        weights = np.eye(4)[k] if k < 4 else rng.normal(size=4)
        _, vectors_a = np.linalg.eigh(sum(w * p for w, p in zip(weights, parts_a)))
        _, vectors_b = np.linalg.eigh(sum(w * p for w, p in zip(weights, parts_b)))
        starts.append(_best_signs(a, b, vectors_a, vectors_b))
    return starts


def procrustes_over_vector_fields(
    a: np.ndarray,
    b: np.ndarray,
    *,
    seed: int = 0,
    restarts: int = 16,
    spectral_starts: int = 8,
    adam_steps: int = 500,
    gauss_newton_steps: int = 30,
    learning_rate: float = 0.05,
) -> Procrustes:
    """min over orthogonal Q of the angle between A and Q B Q^T (Ostrow et al. 2023), see the docstring.

    Args:
        a, b: square operators of the same size (r, r), e.g. `havok_dmd(...).operator`.
        seed: seed of the random restarts (numpy; the result does not depend on anything else).
        restarts: number of Haar-random starting rotations (>= 1), of alternating determinant,
            besides the identity and `spectral_starts` eigenvector-matching ones (`_spectral_starts`).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != b.shape:
        raise ValueError(f"the two operators must be square and of one size, got shapes {a.shape} and {b.shape}")
    if isinstance(restarts, bool) or not isinstance(restarts, (int, np.integer)) or restarts < 1:
        raise ValueError(f"restarts (={restarts!r}) must be an integer >= 1")
    norm_a, norm_b = np.linalg.norm(a), np.linalg.norm(b)
    if norm_a == 0 or norm_b == 0 or not (np.isfinite(norm_a) and np.isfinite(norm_b)):
        raise ValueError("an operator is zero or not finite: the angle between the two is undefined")
    n = a.shape[0]
    rng = np.random.default_rng(seed)
    spectral = _spectral_starts(a / norm_a, b / norm_b, rng, spectral_starts)
    starts = [np.eye(n)] + spectral + [_haar_orthogonal(rng, n, (-1) ** k) for k in range(restarts)]
    if n == 1:  # O(1) = {1, -1}: both, no free parameter
        q = np.array([[1.0]])
        return Procrustes(float(2.0 * np.arcsin(min(np.linalg.norm(a / norm_a - b / norm_b) / 2.0, 1.0))), q, np.zeros(1))
    with jax.enable_x64(True):
        distances, rotations = _optimise(
            jnp.asarray(np.stack(starts)), jnp.asarray(a / norm_a), jnp.asarray(b / norm_b),
            adam_steps=int(adam_steps), gauss_newton_steps=int(gauss_newton_steps), learning_rate=float(learning_rate),
        )
        distances, rotations = np.asarray(distances), np.asarray(rotations)
    best = int(np.argmin(distances))
    return Procrustes(float(distances[best]), rotations[best], distances)


def dsa(
    data_a: np.ndarray,
    data_b: np.ndarray,
    *,
    n_delays: int,
    rank: int,
    delay_interval: int = 1,
    ridge: float = 0.0,
    seed: int = 0,
    restarts: int = 16,
    spectral_starts: int = 8,
    adam_steps: int = 500,
    gauss_newton_steps: int = 30,
) -> DSAResult:
    """Dynamical similarity of two sets of trajectories (T, N) or (K, T, N); N may differ, r may not.

    Returns the angular Procrustes distance over vector fields (0: the same dynamics up to an
    orthogonal change of coordinates) with both fitted models and the optimal transform.
    """
    model_a = havok_dmd(data_a, n_delays=n_delays, rank=rank, delay_interval=delay_interval, ridge=ridge)
    model_b = havok_dmd(data_b, n_delays=n_delays, rank=rank, delay_interval=delay_interval, ridge=ridge)
    result = procrustes_over_vector_fields(
        model_a.operator, model_b.operator, seed=seed, restarts=restarts, spectral_starts=spectral_starts, adam_steps=adam_steps,
        gauss_newton_steps=gauss_newton_steps,
    )
    return DSAResult(result.distance, model_a, model_b, result)
