"""Which units to merge: unit-to-unit distances and greedy pairing.

Distances between the N units of a network, from its responses R (samples x N), e.g. the
condition-averaged rates stacked over intervals and time:
    pca          || L_i - L_j || between the units' loadings on the top-k principal components,
                 L = V_k diag(s_k) / sqrt(samples) (R - mean = U S V^T), the seed study's choice;
    correlation  1 - Pearson correlation of the two responses;
    cosine       1 - cosine of the two (uncentred) responses.
Pairs are chosen greedily, closest first, each unit in at most one pair per step. In a pair the
unit with the smaller response variance is removed and merged into the other.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from rnncondense.errors import ConfigError

Similarity = Literal["pca", "correlation", "cosine"]
SIMILARITIES: tuple[str, ...] = ("pca", "correlation", "cosine")


def unit_distances(responses: np.ndarray, *, similarity: Similarity = "pca", k: int = 3) -> np.ndarray:
    """(N, N) distances between units; responses (samples, N). The diagonal is +inf."""
    responses = np.asarray(responses, dtype=np.float64)
    n_units = responses.shape[1]
    if similarity == "pca":
        if not 1 <= k <= n_units:
            raise ConfigError(f"k = {k} is not allowed: must be in [1, {n_units}] (the number of units)")
        centred = responses - responses.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        loadings = vt[:k].T * s[:k] / np.sqrt(len(responses))
        diff = loadings[:, None, :] - loadings[None, :, :]
        distance = np.sqrt((diff**2).sum(-1))
    elif similarity in ("correlation", "cosine"):
        x = responses - responses.mean(axis=0) if similarity == "correlation" else responses
        norm = np.linalg.norm(x, axis=0)
        norm = np.where(norm > 0, norm, 1.0)
        x = x / norm
        distance = 1.0 - x.T @ x
    else:
        raise ConfigError(f"similarity = {similarity!r} is not allowed: choose one of {', '.join(SIMILARITIES)}")
    distance = np.array(distance)
    np.fill_diagonal(distance, np.inf)
    return distance


class Pair(NamedTuple):
    removed: int  # the unit merged away
    kept: int  # the unit it is merged into
    distance: float


def greedy_pairs(distance: np.ndarray, n_pairs: int, *, variance: np.ndarray, alive: np.ndarray | None = None) -> list[Pair]:
    """Up to `n_pairs` disjoint pairs, closest first, among units with `alive` True.

    In each pair the unit of smaller `variance` is the one removed.
    """
    n_units = distance.shape[0]
    alive = np.ones(n_units, bool) if alive is None else np.asarray(alive, bool)
    d = np.where(alive[:, None] & alive[None, :], distance, np.inf)
    iu, ju = np.triu_indices(n_units, 1)
    order = np.argsort(d[iu, ju], kind="stable")
    used = np.zeros(n_units, bool)
    pairs: list[Pair] = []
    for index in order:
        i, j = int(iu[index]), int(ju[index])
        if len(pairs) >= n_pairs or not np.isfinite(d[i, j]):
            break
        if used[i] or used[j]:
            continue
        used[i] = used[j] = True
        removed, kept = (i, j) if variance[i] < variance[j] else (j, i)
        pairs.append(Pair(removed, kept, float(d[i, j])))
    return pairs
