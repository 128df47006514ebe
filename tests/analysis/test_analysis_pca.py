"""PCA: variance explained, pcs_90 and the participation ratio against hand-computed values."""

import numpy as np
import pytest

from rnncondense.analysis.pca import participation_ratio, pca, pcs_for_variance, project
from rnncondense.errors import ConfigError


def _population_with_variances(variances, n_units=20, n_samples=60, seed=0):
    """Samples whose covariance has exactly the given eigenvalues along random orthonormal directions."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_samples, len(variances)))
    latent -= latent.mean(axis=0)
    latent, _ = np.linalg.qr(latent)  # orthonormal, still centred (the columns span centred vectors)
    latent *= np.sqrt(n_samples * np.asarray(variances))  # each column now has variance lambda_i
    directions, _ = np.linalg.qr(rng.normal(size=(n_units, len(variances))))
    return latent @ directions.T + rng.normal(size=n_units), directions


def test_participation_ratio_and_variance_against_hand_values():
    samples, directions = _population_with_variances([4.0, 1.0, 1.0])
    result = pca(samples)
    np.testing.assert_allclose(result.explained_variance[:3], [4.0, 1.0, 1.0], rtol=1e-10)
    np.testing.assert_allclose(result.explained_variance_ratio[:3], [2 / 3, 1 / 6, 1 / 6], rtol=1e-10)
    assert result.participation_ratio == pytest.approx(36.0 / 18.0, rel=1e-10)  # (4+1+1)^2 / (16+1+1)
    assert result.pcs_90 == 3  # 2/3 + 1/6 = 0.83 < 0.9
    assert abs(result.components[0] @ directions[:, 0]) == pytest.approx(1.0, abs=1e-10)
    # the covariance eigenvalues of numpy give the same spectrum
    eig = np.sort(np.linalg.eigvalsh(np.cov(samples.T, bias=True)))[::-1]
    np.testing.assert_allclose(result.explained_variance[:5], eig[:5], atol=1e-10)

    nine_one = pca(_population_with_variances([9.0, 1.0])[0])
    assert nine_one.pcs_90 == 1  # exactly 90 % on the first PC
    assert nine_one.participation_ratio == pytest.approx(100.0 / 82.0, rel=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_population_from_k_latents_needs_at_most_k_pcs(k):
    rng = np.random.default_rng(k)
    phase = np.linspace(0, 1, 40)
    latents = np.stack([np.sin((j + 1) * np.pi * phase + j) for j in range(k)], axis=1)  # (40, k)
    samples = np.tanh(0.0 * phase[:, None]) + latents @ rng.normal(size=(k, 50))  # 50 units
    result = pca(samples.reshape(4, 10, 50))  # leading axes are flattened into samples
    assert result.pcs_90 <= k
    assert result.explained_variance_ratio[k:].sum() < 1e-12
    assert 1.0 <= result.participation_ratio <= k + 1e-9


def test_projection_reconstructs_and_signs_are_fixed():
    samples, _ = _population_with_variances([3.0, 2.0, 0.5], n_units=8)
    result = pca(samples)
    scores = project(result, samples)
    np.testing.assert_allclose(scores @ result.components + result.mean, samples, atol=1e-10)
    largest = np.abs(result.components).argmax(axis=1)
    assert np.all(result.components[np.arange(len(largest)), largest] > 0)
    with pytest.raises(ConfigError, match=r"k = 9 is not allowed: it must be in \[1, 8\]"):
        project(result, samples, k=9)


def test_edge_cases():
    assert pcs_for_variance(np.array([0.5, 0.3, 0.2])) == 3
    assert pcs_for_variance(np.array([0.95, 0.05])) == 1
    assert pcs_for_variance(np.zeros(3)) == 0
    assert np.isnan(participation_ratio(np.zeros(4)))
    flat = pca(np.ones((5, 3)))
    assert flat.pcs_90 == 0 and np.isnan(flat.participation_ratio)
    with pytest.raises(ConfigError, match="threshold = 1.5 is not allowed"):
        pca(np.ones((5, 3)), threshold=1.5)
