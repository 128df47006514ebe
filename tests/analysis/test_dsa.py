"""Dynamical similarity (Ostrow et al. 2023) against independent truth: an explicit Hankel matrix,
the eigenvalues of a known linear system, a brute-force search over O(2), and the invariances
the method promises (rotated copies identical, ring and line attractors different)."""

import numpy as np
import pytest

from rnncondense.analysis.dsa import delay_embed, dsa, havok_dmd, procrustes_over_vector_fields
from rnncondense.analysis.similarity import dsa as dsa_from_similarity

RANK = 6  # one rank for every comparison here: the optimiser compiles once


def _starts(seed, trials):
    """States spread over the disc of radius 2: uniform angle, uniform radius in [0.1, 2]."""
    rng = np.random.default_rng(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, trials), rng.uniform(0.1, 2.0, trials)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def _euler(field, seed, trials=50, steps=60, dt=0.05):
    x, out = _starts(seed, trials), []
    for _ in range(steps):
        out.append(x)
        x = x + dt * field(x)
    return np.stack(out, axis=1)  # (trials, steps, 2)


def ring_attractor(seed):
    """x' = x (1 - |x|^2) in the plane: every state relaxes onto the unit circle."""
    return _euler(lambda x: x * (1.0 - np.sum(x**2, axis=1, keepdims=True)), seed)


def line_attractor(seed):
    """x' = -x y^2, y' = -2 y (1 + y^2): every state relaxes onto the x axis (a line of fixed points)
    and stays where it lands (nonlinear, so that its delay embedding has more than 2 dimensions)."""
    return _euler(lambda x: np.stack([-x[:, 0] * x[:, 1] ** 2, -2.0 * x[:, 1] * (1.0 + x[:, 1] ** 2)], axis=1), seed)


def test_the_delay_embedding_stacks_lagged_copies():
    data = np.random.default_rng(0).normal(size=(2, 9, 3))
    hankel = delay_embed(data, 3, 2)
    assert hankel.shape == (2, 5, 9)
    for k in range(2):
        for t in range(5):
            expected = np.concatenate([data[k, t + 4], data[k, t + 2], data[k, t]])
            np.testing.assert_array_equal(hankel[k, t], expected)


def test_dmd_of_a_linear_system_recovers_its_eigenvalues():
    rng = np.random.default_rng(1)
    matrix = 0.9 * np.linalg.qr(rng.normal(size=(4, 4)))[0] @ np.diag([1.0, 0.9, 0.7, 0.5])
    x = rng.normal(size=(5, 4))
    trials = np.stack([x @ np.linalg.matrix_power(matrix, t).T for t in range(30)], axis=1)
    model = havok_dmd(trials, n_delays=1, rank=4)
    fitted = np.sort_complex(np.linalg.eigvals(model.operator))
    np.testing.assert_allclose(fitted, np.sort_complex(np.linalg.eigvals(matrix)), atol=1e-8)


def test_procrustes_of_2x2_operators_matches_a_brute_force_search_over_o2():
    rng = np.random.default_rng(2)
    angles = np.linspace(0, 2 * np.pi, 20001)
    for _ in range(3):
        a, b = rng.normal(size=(2, 2)), rng.normal(size=(2, 2))
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        best = np.inf
        for reflect in (1.0, -1.0):
            c, s = np.cos(angles), np.sin(angles)
            q = np.stack([np.stack([c, -s], -1), np.stack([reflect * s, reflect * c], -1)], -2)  # (M, 2, 2)
            cosine = np.einsum("ij,mik,kl,mjl->m", a, q, b, q)
            best = min(best, np.arccos(np.clip(cosine.max(), -1, 1)))
        assert procrustes_over_vector_fields(a, b).distance == pytest.approx(best, abs=1e-6)


def test_an_operator_and_its_orthogonal_conjugate_are_at_distance_zero():
    rng = np.random.default_rng(3)
    a = havok_dmd(ring_attractor(1), n_delays=5, rank=RANK).operator
    for determinant in (1, -1):
        q = np.linalg.qr(rng.normal(size=(RANK, RANK)))[0]
        if np.linalg.det(q) * determinant < 0:
            q[:, 0] = -q[:, 0]
        result = procrustes_over_vector_fields(a, q @ a @ q.T)
        assert result.distance < 1e-6
        rotation = result.rotation
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(RANK), atol=1e-10)
        np.testing.assert_allclose(a, rotation @ (q @ a @ q.T) @ rotation.T, atol=1e-6)


def test_a_rotated_copy_scores_identical_and_a_ring_differs_from_a_line():
    rng = np.random.default_rng(4)
    embedding = np.linalg.qr(rng.normal(size=(10, 10)))[0][:, :2]  # the plane, rotated into 10 dimensions
    ring_a, ring_b, line_a, line_b = ring_attractor(1), ring_attractor(2), line_attractor(1), line_attractor(2)
    options = {"n_delays": 5, "rank": RANK}
    assert dsa(ring_a, ring_a @ embedding.T, **options).distance < 1e-6
    assert dsa(line_a, line_a @ embedding.T, **options).distance < 1e-6
    same_ring = dsa(ring_a, ring_b, **options).distance
    same_line = dsa(line_a, line_b, **options).distance
    ring_line = dsa(ring_a, line_a, **options).distance
    # measured: same_ring 0.022, same_line 0.041 (other samples of one system), ring_line 0.40
    assert ring_line > 5.0 * max(same_ring, same_line)
    assert dsa(line_a, ring_a, **options).distance == pytest.approx(ring_line, abs=1e-6)
    assert 0.0 <= ring_line <= np.pi
    assert dsa_from_similarity is dsa


def test_bad_arguments_are_named():
    data = np.zeros((2, 10, 3))
    with pytest.raises(ValueError, match=r"rank \(=99\) must be an integer in \[1, 6\]"):
        havok_dmd(np.random.default_rng(0).normal(size=(2, 10, 3)), n_delays=2, rank=99)
    linear = np.stack([np.ones((10, 3)) * 0.9**t for t in range(10)], axis=1)  # rank 1
    with pytest.raises(ValueError, match=r"rank \(=2\) exceeds the numerical rank \(1\)"):
        havok_dmd(linear, n_delays=1, rank=2)
    with pytest.raises(ValueError, match=r"n_delays \(=20\)"):
        delay_embed(data, 20)
    with pytest.raises(ValueError, match="must be square and of one size"):
        procrustes_over_vector_fields(np.eye(2), np.eye(3))
