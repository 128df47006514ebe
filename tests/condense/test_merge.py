"""Merge operators: exact where the rate estimate is exact, with property tests over random networks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncondense import rnn
from rnncondense.condense.merge import compact, fit_least_squares, merge_units
from rnncondense.condense.pairing import greedy_pairs, unit_distances
from rnncondense.errors import ConfigError

ALPHA = 0.1


def _network(seed: int, n: int, *, n_in: int = 2, n_out: int = 2) -> rnn.Params:
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    return rnn.Params(
        W_rec=1.2 * jax.random.normal(k[0], (n, n)) / np.sqrt(n),
        W_in=jax.random.normal(k[1], (n, n_in)),
        b=0.2 * jax.random.normal(k[2], (n,)),
        W_out=jax.random.normal(k[3], (n_out, n)),
        b_out=jax.random.normal(k[4], (n_out,)),
        x0=0.3 * jax.random.normal(k[5], (n,)),
    )


def _make_copies(params: rnn.Params, copies: list[tuple[int, int, float]]) -> rnn.Params:
    """Make unit `copy` follow x_copy = sign * x_source exactly, for each (copy, source, sign).

    Its row of W_rec, W_in, b and x0 become sign times the source's: then the two units receive
    sign-related inputs at every step (whatever the other units do) and start sign-related. The
    copy keeps its own, random, outgoing weights.
    """
    w, w_in, b, x0 = (np.array(a) for a in (params.W_rec, params.W_in, params.b, params.x0))
    for copy, source, sign in copies:
        w[copy], w_in[copy], b[copy], x0[copy] = sign * w[source], sign * w_in[source], sign * b[source], sign * x0[source]
    return params._replace(W_rec=jnp.asarray(w), W_in=jnp.asarray(w_in), b=jnp.asarray(b), x0=jnp.asarray(x0))


def _run(params, inputs):
    return rnn.simulate(params, inputs, alpha=ALPHA)


def _inputs(seed=7, batch=3, steps=60):
    return jax.random.normal(jax.random.PRNGKey(seed), (batch, steps, 2))


def _rates(params, inputs):
    return np.asarray(_run(params, inputs).rates).reshape(-1, params.W_rec.shape[0])


@pytest.mark.parametrize("operator", ["seed", "affine", "least-squares"])
def test_merging_a_unit_into_its_exact_duplicate_leaves_the_outputs_unchanged(operator):
    params = _make_copies(_network(0, 10), [(9, 4, 1.0)])
    inputs = _inputs()
    before = _run(params, inputs)
    np.testing.assert_allclose(before.states[..., 9], before.states[..., 4], atol=1e-6)  # a true duplicate
    merged, alive = merge_units(params, _rates(params, inputs), [(9, 4)], operator=operator, ridge=1e-9)
    after_full = _run(merged, inputs)
    after = _run(compact(merged, alive), inputs)
    np.testing.assert_allclose(after.outputs, before.outputs, atol=1e-5 if operator == "least-squares" else 1e-6)
    np.testing.assert_allclose(after_full.outputs, after.outputs, atol=1e-6)  # the masked form is the same network
    assert compact(merged, alive).W_rec.shape == (9, 9)


def test_affine_merge_is_exact_for_an_affinely_related_pair():
    """A negated copy: x_j = -x_i, so r_j = -r_i exactly (a = -1, c = 0); the fit finds it."""
    params = _make_copies(_network(2, 9), [(8, 3, -1.0)])
    inputs = _inputs(8)
    before = _run(params, inputs)
    np.testing.assert_allclose(before.rates[..., 8], -before.rates[..., 3], atol=1e-6)
    merged, alive = merge_units(params, _rates(params, inputs), [(8, 3)], operator="affine")
    np.testing.assert_allclose(_run(compact(merged, alive), inputs).outputs, before.outputs, atol=1e-5)
    # the seed operator ignores the sign and is wrong here
    seed, alive = merge_units(params, _rates(params, inputs), [(8, 3)], operator="seed")
    assert np.abs(np.asarray(_run(compact(seed, alive), inputs).outputs - before.outputs)).max() > 1e-2


def test_affine_operator_folds_the_offset_into_the_biases():
    """Open-loop algebra: with r_j = a r_i + c on the samples, every unit's input is unchanged."""
    rng = np.random.default_rng(0)
    params = _network(4, 6)
    rates = rng.uniform(-0.9, 0.9, size=(50, 6))
    rates[:, 5] = 0.4 * rates[:, 1] - 0.25
    merged, alive = merge_units(params, rates, [(5, 1)], operator="affine")
    before = rates @ np.asarray(params.W_rec).T + np.asarray(params.b)
    after = rates[:, alive] @ np.asarray(merged.W_rec)[:, alive].T + np.asarray(merged.b)
    np.testing.assert_allclose(after, before, atol=1e-5)
    readout_before = rates @ np.asarray(params.W_out).T + np.asarray(params.b_out)
    readout_after = rates[:, alive] @ np.asarray(merged.W_out)[:, alive].T + np.asarray(merged.b_out)
    np.testing.assert_allclose(readout_after, readout_before, atol=1e-5)


def test_least_squares_is_exact_when_a_unit_is_a_linear_combination_of_others():
    """Units 8 = copy of 2 and 9 = negated copy of 5: each is exactly a linear combination of the
    units that stay, and the closed-loop network keeps its outputs when both are replaced."""
    params = _make_copies(_network(5, 10), [(8, 2, 1.0), (9, 5, -1.0)])
    inputs = _inputs(9)
    before = _run(params, inputs)
    rates = _rates(params, inputs)
    # one step removes both copies; each is regressed on the 8 units that stay
    merged, alive = merge_units(params, rates, [(8, 2), (9, 5)], operator="least-squares", ridge=1e-10)
    np.testing.assert_allclose(_run(compact(merged, alive), inputs).outputs, before.outputs, atol=1e-4)
    beta, c = fit_least_squares(rates[:, 9], rates[:, :8], ridge=1e-10)
    np.testing.assert_allclose(beta, np.eye(8)[5] * -1.0, atol=1e-3)
    assert abs(c) < 1e-4


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(3, 12),
    n_pairs=st.integers(1, 4),
    operator=st.sampled_from(["seed", "affine", "least-squares"]),
    similarity=st.sampled_from(["pca", "correlation", "cosine"]),
    seed=st.integers(0, 10_000),
)
def test_merging_random_networks_keeps_shapes_and_removed_units_silent(n, n_pairs, operator, similarity, seed):
    params = _network(seed, n, n_out=1)
    inputs = _inputs(seed % 97, batch=2, steps=20)
    rates = _rates(params, inputs)
    distance = unit_distances(rates, similarity=similarity, k=min(2, n))
    pairs = greedy_pairs(distance, n_pairs, variance=rates.var(axis=0))
    assert len(pairs) == min(n_pairs, n // 2)
    flat = [u for p in pairs for u in p[:2]]
    assert len(set(flat)) == len(flat)  # each unit at most once per step
    merged, alive = merge_units(params, rates, [(p.removed, p.kept) for p in pairs], operator=operator)
    assert alive.sum() == n - len(pairs)
    dead = ~alive
    assert not np.any(np.asarray(merged.W_rec)[:, dead]) and not np.any(np.asarray(merged.W_out)[:, dead])
    small = compact(merged, alive)
    m = n - len(pairs)
    assert small.W_rec.shape == (m, m) and small.W_in.shape == (m, 2) and small.W_out.shape == (1, m)
    np.testing.assert_allclose(_run(small, inputs).outputs, _run(merged, inputs).outputs, atol=1e-5)


def test_bad_operator_and_k():
    params = _network(0, 4)
    with pytest.raises(ConfigError, match="operator = 'magic' is not allowed: choose one of seed, affine, least-squares"):
        merge_units(params, np.zeros((5, 4)), [(0, 1)], operator="magic")
    with pytest.raises(ConfigError, match=r"k = 5 is not allowed: must be in \[1, 4\]"):
        unit_distances(np.random.default_rng(0).normal(size=(10, 4)), similarity="pca", k=5)
