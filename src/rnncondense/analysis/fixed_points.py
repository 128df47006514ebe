"""Fixed and slow points of a network with its input held, and the dynamics linearised there.

Sussillo & Barak 2013 (Neural Computation 25:626); Golub & Sussillo 2018 (FixedPointFinder).
Hold the input at u (a context: the cue level on, no Set pulse) and write one Euler step of the
network (rnn.py, alpha = dt / tau) as x -> x + F(x),

    F(x) = alpha * (-x + W_rec tanh(x) + W_in u + b)          (units of x per step of dt ms)

Fixed points are the zeros of F and slow points the other local minima of the speed

    q(x) = 1/2 |F(x)|^2.

`find_fixed_points` minimises q from many starting states at once (states sampled on the
network's trajectories plus Gaussian noise) for any autonomous update F(x, args), so the same
code serves the trained networks and the circuits:

1. Adam (optax, learning rate with a cosine decay) on sum_i q(x_i), every start one row of a
   batch, `adam_steps` steps in one jitted `lax.scan`. Adam needs one F and one vector-Jacobian product per start and step, O(N^2), and
   is robust far from a minimum, where q is non-convex; near one it converges only linearly.
2. Levenberg-Marquardt polish of the distinct end points: dx = -(J^T J + mu I)^-1 J^T F with
   J = dF/dx (jax.jacfwd), mu divided by 3 on success and multiplied by 10 on failure. At a fixed point
   with an invertible J this is Newton's method (quadratic convergence, locations to machine
   precision); at a slow point (q > 0, J^T F = 0) or on a continuous attractor (J singular
   along the attractor) the damping keeps the step bounded, where plain Newton would jump.
   One step costs O(N^3), hence only after Adam and only on the distinct end points.
3. Keep the points with q <= `q_tol`, merge duplicates (greedily, lowest q first, within
   `unique_tol` in Euclidean distance) and drop outliers: points farther from the centroid of
   the starts than `outlier_scale` times the starts' mean distance from it (Golub & Sussillo's
   rule, scale 10 as theirs).

Everything runs in float64 (`jax.enable_x64`): in float32, |F| stalls near 1e-7 |x|, so q cannot
go below ~1e-13 for a 200-unit network, and locations are good to ~1e-6 at best.

Linearisation. At each kept point the Jacobian of the step map, M = I + dF/dx (jax.jacfwd), and
its eigenvalues mu (sorted by decreasing modulus). For the network M = (1 - alpha) I +
alpha W_rec diag(1 - tanh(x)^2) (spectrum.linearize gives the same matrix explicitly).
Stability of the discrete map: a mode is unstable if |mu| > 1 + `marginal_tol`, marginal if
| |mu| - 1 | <= `marginal_tol` (a continuous attractor has one marginal mode per dimension),
stable otherwise; a point is "stable" with no unstable mode, "unstable" with only unstable
and marginal modes, and a "saddle" (with `n_unstable` unstable directions) in between.

Time constants are those of the discrete map the network actually runs: a mode's amplitude
changes by |mu| per step of dt, so it decays (or grows) as exp(-t / tau) with

    tau_mode = dt / |ln |mu||   (ms),

exact for the Euler map; its first-order form dt / (1 - |mu|) and the continuous-time
-tau / Re(lambda) agree with it to O(alpha) for slow modes. A point's slowest time constant is
the largest tau_mode, a decaying or a growing one (the mode nearest the unit circle); a marginal
mode gives a very large (or infinite) value, as it should. `slow_directions` are the right
eigenvectors of the `n_slow` slowest modes.

Summaries per context (`context_fixed_points`): numbers of stable points, saddles and unstable
points, the slowest time constant over all points of the context, and `slow_manifold_dim`, the
number of principal components of the points' locations needed for 95 % of their variance
(0 for a single point, 1 for points along a line, 2 for a ring: the dimension of the linear span
of the points, not the intrinsic dimension of the manifold).

Padding. XLA compiles the search anew for every network size (about 3 CPU-seconds for 60 units,
where the search itself then takes 0.1 s), so `context_fixed_points(pad_to=M)` searches the network
with M - N inert units appended (`padded_network`: x' = -x, no weights to or from them), started
and staying at 0, and returns the N real coordinates, Jacobian blocks and their linearisation:
networks of many sizes then share the programs compiled for M.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from rnncondense.rnn import Params, step

__all__ = [
    "FixedPoints",
    "ContextFixedPoints",
    "find_fixed_points",
    "context_fixed_points",
    "network_update",
    "held_inputs",
    "padded_network",
    "sample_starts",
    "time_constants_ms",
    "classify_stability",
    "slow_manifold_dim",
]

Update = Callable[[jax.Array, Any], jax.Array]  # F(x (N,), args) -> (N,)


class FixedPoints(NamedTuple):
    """Fixed and slow points of one autonomous map x -> x + F(x), with their linearisation."""

    points: np.ndarray  # (P, N) locations, sorted by q
    q: np.ndarray  # (P,) 1/2 |F(x)|^2
    jacobians: np.ndarray  # (P, N, N) Jacobian of the step map, I + dF/dx
    eigenvalues: np.ndarray  # (P, N) complex, of the step map's Jacobian, by decreasing modulus
    n_unstable: np.ndarray  # (P,) modes with |mu| > 1 + marginal_tol
    n_marginal: np.ndarray  # (P,) modes with ||mu| - 1| <= marginal_tol
    stability: tuple[str, ...]  # (P,) "stable", "saddle" or "unstable"
    slowest_time_constant_ms: np.ndarray  # (P,) largest dt / |ln|mu|| of the point's modes
    slow_directions: np.ndarray  # (P, N, n_slow) complex right eigenvectors of the slowest modes
    n_starts: int  # starting states
    n_converged: int  # starts whose end point reached q <= q_tol (outliers included)
    n_outliers: int  # distinct points dropped as outliers


class ContextFixedPoints(NamedTuple):
    """Fixed points of a network for each held input (context) and their summaries."""

    inputs: np.ndarray  # (C, I) the held input of each context
    per_context: tuple[FixedPoints, ...]  # (C,)
    n_stable: np.ndarray  # (C,)
    n_saddle: np.ndarray  # (C,)
    n_unstable: np.ndarray  # (C,)
    slow_manifold_dim: np.ndarray  # (C,) PCs for 95 % of the variance of the points' locations
    slowest_time_constant_ms: np.ndarray  # (C,) largest over the context's points (NaN: none found)


# ---------------------------------------------------------------- the network's autonomous update


def network_update(x: jax.Array, args: tuple[Params, jax.Array, float]) -> jax.Array:
    """F(x) = x_next - x for the network's noise-free Euler step (`rnn.step`) with input u held.

    `args` = (params, u (I,), alpha).
    """
    params, u, alpha = args
    return step(params, x, u, alpha=alpha)[0] - x


def held_inputs(cue_levels: np.ndarray, n_inputs: int = 2) -> np.ndarray:
    """Inputs (C, I) of the contexts of Cue-Set-Go: the cue level in input 0, Set (input 1) off."""
    levels = np.asarray(cue_levels, dtype=np.float64).reshape(-1)
    inputs = np.zeros((levels.size, n_inputs))
    inputs[:, 0] = levels
    return inputs


def sample_starts(key: jax.Array, states: np.ndarray, n_starts: int, *, noise_std: float) -> np.ndarray:
    """`n_starts` states (n_starts, N) drawn uniformly from `states` (..., N), plus N(0, noise_std^2)."""
    pool = np.asarray(states, dtype=np.float64).reshape(-1, np.shape(states)[-1])
    picks, noise = _draw(key, pool.shape[0], n_starts=int(n_starts), n_units=pool.shape[1])
    return pool[np.asarray(picks)] + noise_std * np.asarray(noise, dtype=np.float64)


@partial(jax.jit, static_argnames=("n_starts", "n_units"))
def _draw(key: jax.Array, n_rows: int, *, n_starts: int, n_units: int) -> tuple[jax.Array, jax.Array]:
    """The random rows and noise of `sample_starts`, as one program (the same numbers as drawn op by
    op; one program to trace again after `jax.clear_caches`, where a condensation step clears them)."""
    k_pick, k_noise = jax.random.split(key)
    return jax.random.randint(k_pick, (n_starts,), 0, n_rows), jax.random.normal(k_noise, (n_starts, n_units))


# ---------------------------------------------------------------- minimisation (jitted, all starts at once)


def _q(update: Update, x: jax.Array, args: Any) -> jax.Array:
    f = update(x, args)
    return 0.5 * jnp.sum(f * f)


@partial(jax.jit, static_argnames=("update", "steps", "learning_rate"))
def _adam(update: Update, starts: jax.Array, args: Any, *, steps: int, learning_rate: float) -> jax.Array:
    """Adam on sum_i q(x_i): starts (S, N) -> end points (S, N). Rows do not interact.

    The learning rate decays from `learning_rate` to 1 % of it (cosine): on a trained 200-unit
    network (one context, 64 starts, 1000 steps) the end points reached a median q of 4e-12 and
    formed 12 groups within 1e-3, against 1e-9 and 42 groups at a constant 1e-2, and every group
    then polished to the same point; fewer groups mean fewer O(N^3) polish steps.
    """
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01))
    total_q = lambda xs: jnp.sum(jax.vmap(lambda x: _q(update, x, args))(xs))

    def _step(carry, _):
        xs, state = carry
        grads = jax.grad(total_q)(xs)
        updates, state = optimizer.update(grads, state, xs)
        return (optax.apply_updates(xs, updates), state), None

    (xs, _), _ = lax.scan(_step, (starts, optimizer.init(starts)), None, length=steps)
    return xs


@partial(jax.jit, static_argnames=("update", "steps"))
def _levenberg_marquardt(update: Update, points: jax.Array, args: Any, *, steps: int, q_stop: float) -> jax.Array:
    """Damped Gauss-Newton on q from each row of points (P, N); a step is kept only if q falls.

    The damping starts at 1e-6 of the largest diagonal entry of J^T J (Marquardt's rule for a good
    first guess, as Adam's end points are), is divided by 3 after a step that lowers q and
    multiplied by 10 after one that does not. The loop stops once every point has q <= q_stop or
    its damping has grown past 1e3 of that scale (steps no longer lower q: a minimum to rounding),
    after at most `steps` steps: near a fixed point Newton's quadratic convergence needs a handful,
    and each step costs O(N^3) per point (about 3 ms of CPU for N = 200: Jacobian, J^T J, solve).
    """
    eye = jnp.eye(points.shape[1], dtype=points.dtype)

    def _normal_equations(x):
        f = update(x, args)
        jac = jax.jacfwd(update)(x, args)
        return jac.T @ jac, jac.T @ f, 0.5 * jnp.sum(f * f)

    def _step(x, mu):
        hessian, gradient, q = _normal_equations(x)
        dx = -jnp.linalg.solve(hessian + mu * eye, gradient)
        better = _q(update, x + dx, args) < q
        return jnp.where(better, x + dx, x), jnp.where(better, mu / 3.0, mu * 10.0)

    hessians = jax.vmap(lambda x: _normal_equations(x)[0])(points)
    scale = jnp.max(jnp.diagonal(hessians, axis1=1, axis2=2), axis=1) + jnp.finfo(points.dtype).tiny
    def _done(xs, mus):
        q = jax.vmap(lambda x: _q(update, x, args))(xs)
        return jnp.all((q <= q_stop) | (mus > 1e3 * scale))

    def _cond(carry):
        xs, mus, k = carry
        return (k < steps) & ~_done(xs, mus)

    def _body(carry):
        xs, mus, k = carry
        xs, mus = jax.vmap(_step)(xs, mus)
        return xs, mus, k + 1

    xs, _, _ = lax.while_loop(_cond, _body, (points, 1e-6 * scale, 0))
    return xs


@partial(jax.jit, static_argnames=("update",))
def _q_batch(update: Update, points: jax.Array, args: Any) -> jax.Array:
    return jax.vmap(lambda x: _q(update, x, args))(points)


@partial(jax.jit, static_argnames=("update",))
def _q_and_jacobians(update: Update, points: jax.Array, args: Any) -> tuple[jax.Array, jax.Array]:
    eye = jnp.eye(points.shape[-1], dtype=points.dtype)
    q = jax.vmap(lambda x: _q(update, x, args))(points)
    jac = jax.vmap(lambda x: jax.jacfwd(update)(x, args))(points)
    return q, eye + jac


# ---------------------------------------------------------------- merging, outliers, classification


def _bucket(n: int) -> int:
    return 1 << max(0, int(n - 1).bit_length())


def _unique(points: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the points kept after merging those within `tol` of a kept one (lowest q first)."""
    kept: list[int] = []
    for i in np.argsort(q, kind="stable"):
        if not kept or np.min(np.linalg.norm(points[kept] - points[i], axis=1)) > tol:
            kept.append(int(i))
    return np.asarray(kept, dtype=int)


def time_constants_ms(eigenvalues: np.ndarray, dt_ms: float) -> np.ndarray:
    """dt / |ln |mu|| (ms) of step-map eigenvalues mu: the decay (|mu| < 1) or growth time of each mode."""
    with np.errstate(divide="ignore"):
        return dt_ms / np.abs(np.log(np.abs(eigenvalues)))


def classify_stability(eigenvalues: np.ndarray, marginal_tol: float) -> tuple[int, int, str]:
    """(n_unstable, n_marginal, class) of one point from its step-map eigenvalues (see the docstring)."""
    modulus = np.abs(eigenvalues)
    n_unstable = int(np.sum(modulus > 1.0 + marginal_tol))
    n_marginal = int(np.sum(np.abs(modulus - 1.0) <= marginal_tol))
    if n_unstable == 0:
        return n_unstable, n_marginal, "stable"
    if n_unstable + n_marginal == modulus.size:
        return n_unstable, n_marginal, "unstable"
    return n_unstable, n_marginal, "saddle"


def slow_manifold_dim(points: np.ndarray, variance: float = 0.95) -> int:
    """Principal components of the points' locations (P, N) needed for `variance` of their variance."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] < 2:
        return 0
    singular = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    explained = singular**2
    if explained.sum() <= 1e-24 * max(1.0, float(np.sum(points**2))):
        return 0
    return int(np.searchsorted(np.cumsum(explained) / explained.sum(), variance - 1e-12) + 1)


def _linearise(jacobians: np.ndarray, *, dt_ms: float, n_slow: int, marginal_tol: float):
    n_points, n = jacobians.shape[:2]
    eigenvalues = np.zeros((n_points, n), np.complex128)
    slow = np.zeros((n_points, n, min(n_slow, n)), np.complex128)
    slowest = np.full(n_points, np.nan)
    classes, unstable, marginal = [], np.zeros(n_points, int), np.zeros(n_points, int)
    for p in range(n_points):
        values, vectors = np.linalg.eig(jacobians[p])
        order = np.lexsort((-values.imag, -values.real, -np.abs(values)))
        values, vectors = values[order], vectors[:, order]
        eigenvalues[p] = values
        taus = time_constants_ms(values, dt_ms)
        by_slowness = np.argsort(-taus, kind="stable")[: slow.shape[2]]
        slow[p] = vectors[:, by_slowness]
        slowest[p] = taus.max()
        unstable[p], marginal[p], label = classify_stability(values, marginal_tol)
        classes.append(label)
    return eigenvalues, unstable, marginal, tuple(classes), slowest, slow


# ---------------------------------------------------------------- public entry points


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, (int, float, np.floating, np.integer)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} (={value!r}) must be a positive number")


def find_fixed_points(
    update: Update,
    starts: np.ndarray,
    args: Any = (),
    *,
    dt_ms: float,
    q_tol: float = 1e-12,
    unique_tol: float = 1e-3,
    outlier_scale: float = 10.0,
    adam_steps: int = 1000,
    learning_rate: float = 3e-2,
    lm_steps: int = 30,
    n_slow: int = 3,
    marginal_tol: float = 1e-6,
    polish_batch: int | None = None,
    n_real: int | None = None,
) -> FixedPoints:
    """Fixed and slow points of x -> x + update(x, args), minimising q from every start at once.

    Args:
        update: F(x (N,), args) -> (N,), traceable by JAX; a module-level function, so that jit
            caches it (its array arguments go in `args`).
        starts: starting states (S, N), for instance `sample_starts` on simulated states.
        args: a pytree of arrays (and floats) passed to `update`; cast to float64.
        dt_ms: duration of one step of the map (ms), for the time constants.
        q_tol: keep end points with 1/2 |F|^2 <= q_tol (units of x^2 per step^2).
        unique_tol: end points closer than this (Euclidean, units of x) are one point.
        outlier_scale: drop points farther from the starts' centroid than this times the starts'
            mean distance from it.
        adam_steps, learning_rate: the Adam phase; lm_steps: Levenberg-Marquardt polish steps.
        n_slow: slow directions kept per point; marginal_tol: band around |mu| = 1 called marginal.
        polish_batch: polish at least this many points at once (padded), so that every call with
            the same starts' shape compiles one program; None: a power of two of the distinct points.
        n_real: the first n_real coordinates are the system's, the others inert padding (their
            own fixed point, no effect on the rest: `context_fixed_points(pad_to=...)`); points,
            Jacobians and their linearisation are returned for the first n_real only. None: all.

    Returns:
        FixedPoints, sorted by q (possibly empty: P = 0).
    """
    for name, value in (("dt_ms", dt_ms), ("q_tol", q_tol), ("unique_tol", unique_tol),
                        ("outlier_scale", outlier_scale), ("learning_rate", learning_rate)):
        _check_positive(name, value)
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim != 2 or starts.shape[0] < 1 or not np.all(np.isfinite(starts)):
        raise ValueError(f"starts must be a finite (S, N) array with S >= 1, got shape {starts.shape}")
    with jax.enable_x64(True):
        args64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), args)
        ends = np.asarray(_adam(update, jnp.asarray(starts), args64, steps=int(adam_steps),
                                learning_rate=float(learning_rate)))
        ends = ends[np.all(np.isfinite(ends), axis=1)]
        q_ends = np.asarray(_q_batch(update, jnp.asarray(ends), args64))
        candidates = ends[_unique(ends, q_ends, unique_tol)] if ends.size else ends
        # each start is represented by the candidate nearest its end point (itself, or the one it merged into)
        represented_by = (np.argmin(np.linalg.norm(ends[:, None] - candidates[None], axis=2), axis=1)
                          if candidates.size else np.zeros(0, int))
        if candidates.shape[0]:
            # padded to a power of two (repeating the first row) so that calls compile a few shapes only,
            # and to at least `polish_batch` rows, so that they compile one
            n = candidates.shape[0]
            rows = max(_bucket(n), int(polish_batch or 0))
            padded = jnp.asarray(np.concatenate([candidates, np.repeat(candidates[:1], rows - n, axis=0)]))
            polished = _levenberg_marquardt(update, padded, args64, steps=int(lm_steps), q_stop=float(q_tol) * 1e-12)
            q, jacobians = _q_and_jacobians(update, polished, args64)
            polished, q, jacobians = np.asarray(polished)[:n], np.asarray(q)[:n], np.asarray(jacobians)[:n]
        else:
            polished, q, jacobians = candidates, np.zeros(0), np.zeros((0, starts.shape[1], starts.shape[1]))
    below = np.isfinite(q) & (q <= q_tol)
    n_converged = int(np.sum(below[represented_by]))
    polished, q, jacobians = polished[below], q[below], jacobians[below]
    kept = _unique(polished, q, unique_tol) if q.size else np.zeros(0, int)
    polished, q, jacobians = polished[kept], q[kept], jacobians[kept]
    centroid = starts.mean(axis=0)
    spread = np.mean(np.linalg.norm(starts - centroid, axis=1))
    inlier = np.linalg.norm(polished - centroid, axis=1) <= outlier_scale * max(spread, 1e-12)
    n_outliers = int(np.sum(~inlier))
    polished, q, jacobians = polished[inlier], q[inlier], jacobians[inlier]
    if n_real is not None:
        polished, jacobians = polished[:, :n_real], jacobians[:, :n_real, :n_real]
    eigenvalues, unstable, marginal, classes, slowest, slow = _linearise(
        jacobians, dt_ms=dt_ms, n_slow=n_slow, marginal_tol=marginal_tol
    )
    return FixedPoints(
        points=polished, q=q, jacobians=jacobians, eigenvalues=eigenvalues, n_unstable=unstable,
        n_marginal=marginal, stability=classes, slowest_time_constant_ms=slowest, slow_directions=slow,
        n_starts=int(starts.shape[0]), n_converged=n_converged, n_outliers=n_outliers,
    )


def padded_network(params: Params, size: int) -> Params:
    """The network with `size` - N inert units appended: no inputs, bias 0, no weights to or from
    any unit. Each obeys x' = -x, so x = 0 is its fixed point, its coordinates of the gradient
    of q vanish there, and started at 0 it stays at 0 while the real units move as without it;
    its Jacobian block is (1 - alpha) I, apart from the real units' block."""
    n = np.shape(params.W_rec)[0]
    extra = size - n
    return Params(
        W_rec=np.pad(params.W_rec, ((0, extra), (0, extra))), W_in=np.pad(params.W_in, ((0, extra), (0, 0))),
        b=np.pad(params.b, (0, extra)), W_out=np.pad(params.W_out, ((0, 0), (0, extra))), b_out=params.b_out,
        x0=np.pad(params.x0, (0, extra)),
    )


def context_fixed_points(
    params: Params,
    inputs: np.ndarray,
    states: np.ndarray,
    key: jax.Array,
    *,
    alpha: float,
    dt_ms: float,
    n_starts: int = 64,
    noise_std: float = 0.1,
    pad_to: int | None = None,
    **options: Any,
) -> ContextFixedPoints:
    """Fixed points of the network for each held input (context), with per-context summaries.

    Args:
        params: the network.
        inputs: (C, I) held inputs, e.g. `held_inputs(task.cue_levels)` for Cue-Set-Go.
        states: (..., N) states to start from, e.g. simulated trajectories of all conditions
            after cue onset; each context draws its own `n_starts` from them (key folded in with
            the context index) plus N(0, noise_std^2) noise.
        key: PRNG key for the starts.
        alpha, dt_ms: the network's dt / tau and dt (ms).
        pad_to: search in the network padded with inert units up to this size (`padded_network`),
            so that networks of different sizes share one compiled program: XLA compiles each
            shape anew, about 3 s of CPU for a 60-unit network, where the search itself then takes
            0.1 s. The results are the N real units' (exactly: the inert units stay at 0), from
            other random starts than unpadded (the noise is drawn for all pad_to coordinates).
        options: passed to `find_fixed_points` (q_tol, unique_tol, adam_steps, ...).
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    if inputs.ndim != 2 or inputs.shape[1] != np.shape(params.W_in)[1]:
        raise ValueError(f"inputs must be (C, {np.shape(params.W_in)[1]}), got shape {inputs.shape}")
    if isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise ValueError(f"n_starts (={n_starts!r}) must be a positive integer")
    n_units = np.shape(params.W_rec)[0]
    params64 = Params(*(np.asarray(a, np.float64) for a in params))
    size = n_units if pad_to is None else int(pad_to)
    if size < n_units:
        raise ValueError(f"pad_to (={pad_to!r}) must be at least the network's {n_units} units")
    if size > n_units:
        params64 = padded_network(params64, size)
        options = {**options, "n_real": n_units}
    # padded: the noise is drawn for all `size` coordinates (one random program for every N) and the
    # inert units' coordinates set to 0, their fixed point
    pool = np.asarray(states, dtype=np.float64).reshape(-1, n_units)
    pool = np.pad(pool, ((0, 0), (0, size - n_units)))
    results = []
    for c, u in enumerate(inputs):
        starts = sample_starts(jax.random.fold_in(key, c), pool, int(n_starts), noise_std=noise_std)
        starts[:, n_units:] = 0.0
        results.append(find_fixed_points(network_update, starts, (params64, u, float(alpha)), dt_ms=dt_ms, **options))
    count = lambda label: np.asarray([fp.stability.count(label) for fp in results], dtype=int)
    return ContextFixedPoints(
        inputs=inputs,
        per_context=tuple(results),
        n_stable=count("stable"),
        n_saddle=count("saddle"),
        n_unstable=count("unstable"),
        slow_manifold_dim=np.asarray([slow_manifold_dim(fp.points) for fp in results], dtype=int),
        slowest_time_constant_ms=np.asarray(
            [fp.slowest_time_constant_ms.max() if fp.q.size else np.nan for fp in results]
        ),
    )
