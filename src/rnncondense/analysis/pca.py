"""Principal component analysis of condition-averaged population activity.

The samples are the rows of activity with the units as the last axis, e.g. the time-normalised
trajectories (interval, phase, unit) flattened to (interval * phase, unit). With the sample
covariance eigenvalues lambda_1 >= lambda_2 >= ... (the variance along each PC),

    explained_variance_ratio_i = lambda_i / sum_j lambda_j
    pcs_90                     = smallest K with sum_{i <= K} ratio_i >= 0.9
    participation_ratio        = (sum_i lambda_i)^2 / sum_i lambda_i^2

(participation ratio: Gao & Ganguli 2015; Recanatesi et al. 2022). PC directions are signed so that
each component's largest-magnitude loading is positive, which makes them reproducible.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rnncondense.errors import ConfigError

__all__ = ["PCA", "pca", "project", "pcs_for_variance", "participation_ratio"]


class PCA(NamedTuple):
    """PCs of S samples of N units; K = min(S, N) components, largest variance first."""

    mean: np.ndarray  # (N,) mean over samples
    components: np.ndarray  # (K, N) orthonormal rows: the PC directions in unit space
    explained_variance: np.ndarray  # (K,) lambda_i, variance along each PC (1/S normalisation)
    explained_variance_ratio: np.ndarray  # (K,) lambda_i / sum lambda
    pcs_90: int  # PCs needed for `threshold` (default 90 %) of the variance
    participation_ratio: float  # (sum lambda)^2 / sum lambda^2


def pcs_for_variance(ratio: np.ndarray, threshold: float = 0.9) -> int:
    """Smallest K whose first K variance ratios add up to at least `threshold` (0 for no variance)."""
    ratio = np.asarray(ratio, dtype=np.float64)
    if ratio.size == 0 or not np.isfinite(ratio).all() or ratio.sum() <= 0:
        return 0
    cumulative = np.cumsum(ratio)
    return int(min(np.searchsorted(cumulative, threshold - 1e-12) + 1, ratio.size))


def participation_ratio(eigenvalues: np.ndarray) -> float:
    """(sum lambda)^2 / sum lambda^2 of covariance eigenvalues; NaN when all are zero."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    denominator = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / denominator) if denominator > 0 else float("nan")


def pca(samples: np.ndarray, *, threshold: float = 0.9) -> PCA:
    """PCA of `samples` (..., N): every leading index is one sample of the N units.

    Args:
        samples: activity with the units last, e.g. (interval, phase, unit).
        threshold: the variance fraction for `pcs_90`, in (0, 1].
    Returns:
        PCA with mean (N,), components (K, N), variances (K,), pcs_90 and participation_ratio.
    """
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold = {threshold!r} is not allowed: it must be in (0, 1]")
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"samples must have a sample axis and a unit axis, got shape {x.shape}")
    x = x.reshape(-1, x.shape[-1])
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or inf")
    mean = x.mean(axis=0)
    centred = x - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2 / x.shape[0]
    # sign convention: the largest-magnitude loading of each PC is positive
    largest = np.argmax(np.abs(vt), axis=1)
    vt = vt * np.sign(vt[np.arange(vt.shape[0]), largest])[:, None]
    total = variance.sum()
    ratio = variance / total if total > 0 else np.zeros_like(variance)
    return PCA(
        mean=mean,
        components=vt,
        explained_variance=variance,
        explained_variance_ratio=ratio,
        pcs_90=pcs_for_variance(ratio, threshold),
        participation_ratio=participation_ratio(variance),
    )


def project(result: PCA, data: np.ndarray, *, k: int | None = None) -> np.ndarray:
    """Scores of `data` (..., N) on the first `k` PCs (all by default): (data - mean) @ components[:k].T."""
    n_components = result.components.shape[0]
    k = n_components if k is None else k
    if not 1 <= k <= n_components:
        raise ConfigError(f"k = {k!r} is not allowed: it must be in [1, {n_components}] (the number of PCs)")
    return (np.asarray(data, dtype=np.float64) - result.mean) @ result.components[:k].T
