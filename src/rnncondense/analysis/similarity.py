"""Similarity of two networks' solutions, for networks of any sizes on the same task.

Both networks' condition-averaged activity is time-normalised (`time_normalized`: each interval's
Set -> produced-Go window on a common phase grid), flattened to S = intervals * phases samples and
projected onto its own top-k PCs: A (S, k) for network a, B (S, k) for network b (centred). The
samples correspond one to one (same interval, same phase), the units need not.

Procrustes similarity. With A and B scaled to unit Frobenius norm,

    procrustes = max_{Q orthogonal} <A Q, B>_F = sum of the singular values of A^T B  in [0, 1],

the cosine of the angular Procrustes shape distance of Williams, Kunz, Kornblith & Linderman 2021
("Generalized shape metrics on neural representations"); it is 1 exactly when B = s A Q for a
scale s > 0 and a rotation/reflection Q, so it compares the shape of the trajectories, including
how variance is shared among the k dimensions.

CCA similarity: the mean canonical correlation between A and B (SVCCA: Raghu, Gilmer, Yosinski &
Sohl-Dickstein 2017; used on RNNs by Maheswaranathan et al. 2019), i.e. the mean singular value of
U_a^T U_b for orthonormal bases U_a, U_b of the columns of A and B. It is 1 when B = A M for any
invertible M: it asks whether the two sets of trajectories span the same k-dimensional subspace
(over samples) and ignores how the variance is distributed within it. PC directions with variance
below 1e-12 of the first are dropped before CCA (a network whose activity has fewer than k
dimensions would otherwise be whitened into noise).

Both are 1 for a network against itself, and unchanged by permuting or rotating its units (the PC
scores do not change, up to the sign of each PC, which Procrustes and CCA both absorb).

Dynamical similarity (`dsa`, Ostrow et al. 2023; the headline, `HEADLINE`) compares the linear
dynamics fitted to the trajectories rather than their shape; it lives in analysis/dsa.py and is
re-exported here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

from rnncondense.analysis.activity import check_same_task, task_signature, time_normalized
from rnncondense.analysis.dsa import dsa
from rnncondense.analysis.pca import pca, project
from rnncondense.errors import ConfigError, UserError

__all__ = ["Similarity", "similarity", "HEADLINE", "DSA_N_DELAYS", "DSA_RANK", "procrustes_similarity", "cca_similarity",
           "dsa"]

# The report's headline similarity, chosen by benchmarks/bench_separation.py: on 9 trained networks
# (10, 20, 40 units x 3 seeds) all three measures put every trained-against-untrained pair below every
# same-size pair, and DSA separated sizes best (ROC AUC of same-size against other-size pairs 0.73,
# against 0.60 for CCA and 0.53 for Procrustes).
HEADLINE = "dsa"
# DSA's delay embedding and operator rank wherever networks are compared (compare, the condensation
# records, the separation benchmark)
DSA_N_DELAYS, DSA_RANK = 10, 10


class Similarity(NamedTuple):
    """Similarity of two networks' time-normalised trajectories in their top-k PC spaces."""

    procrustes: float  # cosine of the angular Procrustes distance, in [0, 1]
    cca: float  # mean canonical correlation, in [0, 1]
    canonical_correlations: np.ndarray  # (<= k,) sorted, largest first
    k: int


def procrustes_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """sum sv(A^T B) / (|A|_F |B|_F) for centred score matrices A (S, k_a) and B (S, k_b)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0:
        return float("nan")
    return float(np.linalg.svd(a.T @ b, compute_uv=False).sum() / norm)


def _basis(x: np.ndarray, rtol: float = 1e-6) -> np.ndarray:
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u[:, s > rtol * s[0]] if s.size and s[0] > 0 else u[:, :0]


def cca_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean canonical correlation of centred A (S, k_a) and B (S, k_b), and the correlations."""
    ua, ub = _basis(np.asarray(a, np.float64)), _basis(np.asarray(b, np.float64))
    if ua.shape[1] == 0 or ub.shape[1] == 0:
        return float("nan"), np.zeros(0)
    rho = np.clip(np.linalg.svd(ua.T @ ub, compute_uv=False), 0.0, 1.0)
    return float(rho.mean()), rho


def _trajectories(data: xr.Dataset | xr.DataArray, n_phase: int) -> xr.DataArray:
    if isinstance(data, xr.Dataset):
        return time_normalized(data, n_phase=n_phase)
    if isinstance(data, xr.DataArray) and data.dims == ("interval", "phase", "unit"):
        return data
    raise TypeError(
        "similarity takes activity Datasets (condition_activity) or time-normalised DataArrays "
        f"(interval, phase, unit); got {type(data).__name__}"
    )


def similarity(
    a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray, *, k: int = 3, n_phase: int = 50
) -> Similarity:
    """Procrustes and CCA similarity of two networks' solutions in their top-k PC spaces.

    Args:
        a, b: activity Datasets from `condition_activity`, or their `time_normalized` DataArrays
            (for instance `solution_metrics(...).trajectories`), of networks of any sizes.
        k: PCs kept per network, 1 <= k <= the smaller network's number of units.
        n_phase: phase grid for Datasets (DataArrays keep their own grid).
    Raises:
        UserError: the two were recorded on different tasks (name, dt_ms or intervals_ms differ)
            or on different phase grids; ConfigError: k out of range.
    """
    check_same_task(task_signature(a), task_signature(b))
    ta, tb = _trajectories(a, n_phase), _trajectories(b, n_phase)
    if ta.sizes["phase"] != tb.sizes["phase"] or not np.allclose(ta["phase"], tb["phase"]):
        raise UserError(
            f"the two trajectories use different phase grids: {ta.sizes['phase']} vs {tb.sizes['phase']} phases"
        )
    by_a, by_b = ta.attrs.get("normalize_by"), tb.attrs.get("normalize_by")
    if by_a != by_b:
        raise UserError(f"the two trajectories are normalised differently: by {by_a} vs {by_b} interval")
    n_a, n_b = ta.sizes["unit"], tb.sizes["unit"]
    n_samples = ta.sizes["interval"] * ta.sizes["phase"]
    k_max = min(n_a, n_b, n_samples)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= k_max:
        raise ConfigError(
            f"k = {k!r} is not allowed: it must be an integer in [1, {k_max}] "
            f"(networks of {n_a} and {n_b} units, {n_samples} samples)"
        )
    xa, xb = ta.values.reshape(n_samples, n_a), tb.values.reshape(n_samples, n_b)
    scores_a = project(pca(xa), xa, k=int(k))
    scores_b = project(pca(xb), xb, k=int(k))
    cca, rho = cca_similarity(scores_a, scores_b)
    return Similarity(procrustes_similarity(scores_a, scores_b), cca, rho, int(k))
