"""Retraining that keeps the solution type: align the condensed network's trajectories with the
original's top-k principal components.

Both networks run the noise-free condition trials (one per interval). Each trial's rates from Set
to Set + interval are resampled onto P phases (time normalised by the target interval), stacked
over intervals and centred: X (C P, N) for the condensed network, and the original's top-k PC
scores Y (C P, k). With tilde marking division by the Frobenius norm, the Procrustes similarity of
the two is ||X~^T Y~||_* (Williams et al. 2021), 1 when X~ is Y~ rotated. The retraining adds

    weight * || X~ R - Y~ ||^2,   R = U V^T  for  X~^T Y~ = U S V^T,

to the task loss, with R, the best rotation of the current network, recomputed at every
iteration and held fixed within it. The term equals ||X~ R||^2 + 1 - 2 ||X~^T Y~||_*: it raises
the Procrustes similarity and draws the network's variance into the aligned subspace, and it is a
squared error of an output of the network, as Hessian-free's Gauss-Newton curvature requires.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnncondense.rnn import CURRENT_TANH, Dynamics, Params, simulate
from rnncondense.tasks.cue_set_go import CueSetGo, TrialBatch
from rnncondense.analysis.behavior import masked_mse
from rnncondense.train.trainers import Objective, trial_slice

N_PHASE = 50


class AlignmentReference(NamedTuple):
    """What the condensed network is aligned to, fixed for a whole condensation."""

    inputs: jax.Array  # (C, T, I) the noise-free condition trials
    resample: jax.Array  # (C, P, T) linear-interpolation weights onto the phase grid
    target: jax.Array  # (C P, k) the original's centred top-k PC scores, unit Frobenius norm


class PreservingBatch(NamedTuple):
    task: TrialBatch
    reference: AlignmentReference
    rotation: jax.Array  # (N, k) R of the current network

    @property
    def mask(self) -> jax.Array:  # the task trials carry the structural damping
        return self.task.mask


def phase_resampling(task: CueSetGo, batch: TrialBatch, n_phase: int = N_PHASE) -> np.ndarray:
    """(C, P, T) weights w with sum_t w[c, p, t] r[c, t] = r_c at Set + phase_p * interval_c."""
    n_trials, n_steps = batch.inputs.shape[:2]
    weights = np.zeros((n_trials, n_phase, n_steps))
    phases = np.linspace(0.0, 1.0, n_phase)
    for c in range(n_trials):
        position = (float(batch.set_time_ms[c]) + phases * float(batch.interval_ms[c])) / task.dt_ms
        position = np.clip(position, 0, n_steps - 1)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, n_steps - 1)
        frac = position - low
        weights[c, np.arange(n_phase), low] += 1.0 - frac
        weights[c, np.arange(n_phase), high] += frac
    return weights


def _normalised_trajectories(rates: jax.Array, resample: jax.Array) -> jax.Array:
    """Rates (C, T, N) -> X~ (C P, N): resampled, centred, unit Frobenius norm."""
    x = jnp.einsum("cpt,ctn->cpn", resample, rates).reshape(-1, rates.shape[-1])
    x = x - x.mean(axis=0)
    return x / jnp.sqrt(jnp.sum(x**2) + 1e-12)


def alignment_reference(
    params: Params, task: CueSetGo, *, alpha: float, k: int, n_phase: int = N_PHASE, dynamics: Dynamics = CURRENT_TANH
) -> AlignmentReference:
    """The original network's top-k PC trajectories, to align condensed networks to."""
    batch = task.condition_batch()
    resample = jnp.asarray(phase_resampling(task, batch, n_phase), jnp.float32)
    x = _normalised_trajectories(simulate(params, batch.inputs, alpha=alpha, dynamics=dynamics).rates, resample)
    _, s, vt = jnp.linalg.svd(x, full_matrices=False)
    scores = x @ vt[:k].T
    return AlignmentReference(batch.inputs, resample, scores / jnp.linalg.norm(scores))


def best_rotation(x: jax.Array, target: jax.Array) -> jax.Array:
    """R (N, k) with orthonormal columns maximising tr(R^T x^T target)."""
    u, _, vt = jnp.linalg.svd(x.T @ target, full_matrices=False)
    return u @ vt


def procrustes_to_reference(
    params: Params, reference: AlignmentReference, *, alpha: float, dynamics: Dynamics = CURRENT_TANH
) -> float:
    """||X~^T Y~||_* of a network against the reference (1: a rotation of the original's top-k PCs)."""
    x = _normalised_trajectories(simulate(params, reference.inputs, alpha=alpha, dynamics=dynamics).rates, reference.resample)
    return float(jnp.sum(jnp.linalg.svd(x.T @ reference.target, compute_uv=False)))


def preserving_objective(
    task: CueSetGo, reference: AlignmentReference, *, alpha: float, sigma_rec: float, weight: float,
    dynamics: Dynamics = CURRENT_TANH,
) -> Objective:
    """Task loss plus `weight` times the alignment term of the module docstring."""

    def aligned(params: Params) -> jax.Array:
        rates = simulate(params, reference.inputs, alpha=alpha, dynamics=dynamics).rates
        return _normalised_trajectories(rates, reference.resample)

    def sample(params: Params, key: jax.Array, n_trials: int) -> PreservingBatch:
        rotation = best_rotation(jax.lax.stop_gradient(aligned(params)), reference.target)
        return PreservingBatch(task.sample(key, n_trials), reference, rotation)

    def model(params: Params, batch: PreservingBatch, key: jax.Array):
        traj = simulate(params, batch.task.inputs, key, alpha=alpha, sigma_rec=sigma_rec, dynamics=dynamics)
        return {"task": traj.outputs, "align": aligned(params) @ batch.rotation}, traj.rates

    def loss(outputs: dict, batch: PreservingBatch) -> jax.Array:
        task_loss = masked_mse(outputs["task"], batch.task.targets, batch.task.mask)
        return task_loss + weight * jnp.sum((outputs["align"] - batch.reference.target) ** 2)

    def minibatch(batch: PreservingBatch, start: int, size: int) -> PreservingBatch:
        return batch._replace(task=trial_slice(batch.task, start, size))

    def trial_weight(batch: PreservingBatch) -> jax.Array:
        return jnp.sum(batch.task.mask)  # the alignment term is the same in every part of the batch

    return Objective(sample, model, loss, minibatch, trial_weight)
