"""Merging acts on the outgoing weights of rates, which every update form has: merging a unit into
its exact duplicate leaves the outputs unchanged in the current, rate and discrete forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnncondense import rnn
from rnncondense.condense.merge import compact, merge_units

CASES = [("current", "tanh", 0.1), ("current", "relu", 0.1), ("rate", "relu", 0.2), ("rate", "softplus", 0.2),
         ("discrete", "tanh", 1.0), ("discrete", "relu", 1.0)]


def _network_with_duplicates(seed, n=9, copies=((7, 2), (8, 5))):
    """A random network in which unit `copy` receives exactly what `source` receives and starts where
    it starts (rows of W_rec, W_in, b and x0 copied), so their states agree at every step in every
    form; each copy keeps its own random outgoing weights."""
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    w = np.array(1.1 * jax.random.normal(k[0], (n, n), jnp.float64) / np.sqrt(n))
    w_in = np.array(jax.random.normal(k[1], (n, 2), jnp.float64))
    b = np.array(0.3 * jax.random.normal(k[2], (n,), jnp.float64))
    x0 = np.array(0.5 * jax.random.normal(k[5], (n,), jnp.float64))
    for copy, source in copies:
        w[copy], w_in[copy], b[copy], x0[copy] = w[source], w_in[source], b[source], x0[source]
    return rnn.Params(
        W_rec=jnp.asarray(w), W_in=jnp.asarray(w_in), b=jnp.asarray(b),
        W_out=jax.random.normal(k[3], (3, n), jnp.float64), b_out=jax.random.normal(k[4], (3,), jnp.float64),
        x0=jnp.asarray(x0),
    )


@pytest.mark.parametrize("form,name,alpha", CASES)
@pytest.mark.parametrize("operator", ["seed", "affine"])
def test_merging_duplicated_units_keeps_the_outputs(form, name, alpha, operator):
    with jax.enable_x64(True):
        dynamics = rnn.Dynamics(form, name)
        params = _network_with_duplicates(3)
        inputs = jax.random.normal(jax.random.PRNGKey(4), (4, 25, 2), jnp.float64)
        before = rnn.simulate(params, inputs, alpha=alpha, dynamics=dynamics)
        rates = np.asarray(before.rates).reshape(-1, 9)
        np.testing.assert_array_equal(rates[:, 7], rates[:, 2])  # the duplicates really are
        assert np.std(rates[:, 7]) > 1e-3
        merged, alive = merge_units(params, rates, [(7, 2), (8, 5)], operator=operator)
        after = rnn.simulate(merged, inputs, alpha=alpha, dynamics=dynamics)
        np.testing.assert_allclose(after.outputs, before.outputs, atol=1e-10)
        small = rnn.simulate(compact(merged, alive), inputs, alpha=alpha, dynamics=dynamics)
        np.testing.assert_allclose(small.outputs, before.outputs, atol=1e-10)
        assert small.states.shape[-1] == 7


def test_merging_distinct_units_changes_the_outputs_in_the_rate_form():
    """The check above can fail: merging two units that are not duplicates changes the outputs."""
    with jax.enable_x64(True):
        dynamics = rnn.Dynamics("rate", "relu")
        params = _network_with_duplicates(3)
        inputs = jax.random.normal(jax.random.PRNGKey(4), (4, 25, 2), jnp.float64)
        before = rnn.simulate(params, inputs, alpha=0.2, dynamics=dynamics)
        merged, _ = merge_units(params, np.asarray(before.rates).reshape(-1, 9), [(6, 1)], operator="seed")
        after = rnn.simulate(merged, inputs, alpha=0.2, dynamics=dynamics)
        assert np.abs(np.asarray(after.outputs - before.outputs)).max() > 1e-3
