"""Fixed-point summaries wired through: solution_metrics, a condensation step's record and the sweep
table report the fixed points of networks whose answer is known on paper.

- No recurrence (W_rec = 0): x' = -x + W_in u + b has one fixed point per context, x* = W_in u + b,
  where the step map's Jacobian is (1 - alpha) I: stable, every mode's time constant
  dt / |ln(1 - alpha)|, a slow manifold of dimension 0.
- Two self-exciting units (W_rec = 2 I, no input): each unit has the zeros 0 and +-s of
  -x + 2 tanh(x) (s = 2 tanh(s), brentq), so 9 fixed points per context: 4 stable corners, 4 saddles
  with one unstable direction, the origin unstable in both; they fill a plane (dimension 2). The
  slowest mode is a stable corner's, mu = 1 - alpha + 2 alpha (1 - tanh(s)^2).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SMALL_TASK
from scipy.optimize import brentq

from rnncondense.analysis.dynamics import QUICK, RECORDS, FixedPointSettings, network_fixed_points
from rnncondense.analysis.fixed_points import (
    context_fixed_points,
    find_fixed_points,
    held_inputs,
    network_update,
    padded_network,
)
from rnncondense.analysis.summary import solution_metrics
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError
from rnncondense.metrics import DYNAMICS_METRICS, metric
from rnncondense.rnn import Params, init_params


@pytest.fixture(scope="module")
def config():
    return config_from_dict({"task": SMALL_TASK, "model": {"n_units": 6}})


def _network(w_rec, w_in, b):
    n = w_rec.shape[0]
    return Params(W_rec=jnp.asarray(w_rec), W_in=jnp.asarray(w_in), b=jnp.asarray(b),
                  W_out=jnp.ones((1, n)) / n, b_out=jnp.zeros(1), x0=jnp.zeros(n))


def _no_recurrence(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return _network(np.zeros((n, n)), rng.uniform(-1, 1, (n, 2)), 0.3 * rng.normal(size=n))


def test_a_network_without_recurrence_has_one_stable_point_per_context_where_numpy_puts_it(config):
    params = _no_recurrence()
    metrics = solution_metrics(params, config, k=2, fixed_points=RECORDS)
    numbers = metrics.numbers
    tau = config.task.dt_ms / abs(np.log(1 - config.alpha))
    assert numbers["n_fixed_points"] == numbers["n_stable_points"] == 1.0
    assert numbers["n_saddles"] == 0.0 and numbers["slow_manifold_dim"] == 0
    assert numbers["slowest_time_constant_ms"] == pytest.approx(tau, rel=1e-9)
    per_context = numbers["fixed_points"]
    assert per_context["interval_ms"] == [500.0, 700.0, 900.0]  # 3 intervals: every one of them
    assert per_context["n_stable"] == [1, 1, 1] and per_context["n_unstable"] == [0, 0, 0]
    result = metrics.dynamics.result
    np.testing.assert_allclose(result.inputs[:, 1], 0.0)  # Set off
    assert np.all(np.diff(result.inputs[:, 0]) > 0)  # the cue level grows with the interval
    for u, fp in zip(result.inputs, result.per_context):
        np.testing.assert_allclose(fp.points[0], np.asarray(params.W_in) @ u + np.asarray(params.b), atol=1e-6)
    # not asked for: the same keys, all None
    plain = solution_metrics(params, config, k=2).numbers
    assert all(plain[name] is None for name in DYNAMICS_METRICS) and plain["fixed_points"] == {"skipped": "not asked for"}


def test_two_self_exciting_units_have_four_stable_points_four_saddles_and_an_unstable_origin(config):
    s = brentq(lambda x: -x + 2 * np.tanh(x), 0.5, 3.0)
    params = _network(2 * np.eye(2), np.zeros((2, 2)), np.zeros(2))
    settings = FixedPointSettings(contexts=1, n_starts=64, adam_steps=200, noise_std=2.0, shared_programs=True)
    found = network_fixed_points(params, config, settings)
    (fp,) = found.result.per_context
    assert sorted(map(tuple, np.round(np.abs(fp.points), 6))) == sorted(
        [(0.0, 0.0)] + [(round(s, 6), 0.0), (0.0, round(s, 6))] * 2 + [(round(s, 6), round(s, 6))] * 4)
    assert sorted(fp.stability) == ["saddle"] * 4 + ["stable"] * 4 + ["unstable"]
    numbers = found.numbers
    assert (numbers["n_fixed_points"], numbers["n_stable_points"], numbers["n_saddles"]) == (9.0, 4.0, 4.0)
    assert numbers["fixed_points"]["n_unstable"] == [1] and numbers["slow_manifold_dim"] == 2
    mu = 1 - config.alpha + 2 * config.alpha * (1 - np.tanh(s) ** 2)
    assert numbers["slowest_time_constant_ms"] == pytest.approx(config.task.dt_ms / abs(np.log(mu)), rel=1e-6)


def test_padding_with_inert_units_changes_no_point_eigenvalue_or_class():
    """The same starts (inert coordinates at 0) reach the same points, Jacobians and classes as
    without the padding; and through context_fixed_points (other random starts) a network with a
    single fixed point (g = 0.5) gives the same point."""
    params = Params(*(np.asarray(a, np.float64) for a in init_params(jax.random.PRNGKey(4), 12, g=1.6)))
    u = np.array([0.3, 0.0])
    starts = np.random.default_rng(0).normal(size=(16, 12))
    same = {"dt_ms": 10.0, "adam_steps": 200, "polish_batch": 16}  # the programs of RECORDS, compiled once
    plain = find_fixed_points(network_update, starts, (params, u, 0.1), **same)
    padded = find_fixed_points(network_update, np.pad(starts, ((0, 0), (0, 52))), (padded_network(params, 64), u, 0.1),
                               n_real=12, **same)
    assert plain.q.size >= 1 and padded.stability == plain.stability and padded.jacobians.shape[1:] == (12, 12)
    np.testing.assert_allclose(padded.points, plain.points, atol=1e-8)
    np.testing.assert_allclose(padded.eigenvalues, plain.eigenvalues, atol=1e-8)
    np.testing.assert_allclose(padded.slowest_time_constant_ms, plain.slowest_time_constant_ms, rtol=1e-6)
    calm = init_params(jax.random.PRNGKey(5), 12, g=0.5)
    states = np.random.default_rng(1).normal(size=(40, 12))
    one = [context_fixed_points(calm, held_inputs([0.3]), states, jax.random.PRNGKey(0), alpha=0.1, n_starts=16,
                                **same, **pad).per_context[0] for pad in ({}, {"pad_to": 64})]
    assert one[0].q.size == one[1].q.size == 1 and one[0].stability == one[1].stability == ("stable",)
    np.testing.assert_allclose(one[1].points, one[0].points, atol=1e-8)
    with pytest.raises(ValueError, match=r"pad_to \(=8\) must be at least the network's 12 units"):
        context_fixed_points(calm, held_inputs([0.3]), states, jax.random.PRNGKey(0), alpha=0.1, dt_ms=10.0, pad_to=8)


def test_a_condensed_network_is_searched_without_its_removed_units(config):
    """A removed unit (no outgoing weights; condense.merge) is left out: the numbers are those of the
    network of the living units, here one without recurrence."""
    params = _no_recurrence(n=7)
    w_rec = np.zeros((7, 7))
    w_rec[:, 6] = 0.0
    w_rec[6, :] = 5.0  # the removed unit listens to the others but nobody listens to it
    params = params._replace(W_rec=jnp.asarray(w_rec), W_out=params.W_out.at[0, 6].set(0.0))
    alive = np.arange(7) < 6
    numbers = solution_metrics(params, config, k=2, alive=alive, fixed_points=QUICK).numbers
    tau = config.task.dt_ms / abs(np.log(1 - config.alpha))
    assert numbers["n_units"] == 6 and numbers["n_stable_points"] == 1.0
    assert numbers["slowest_time_constant_ms"] == pytest.approx(tau, rel=1e-9)


def test_the_fixed_point_numbers_are_registered_and_a_bad_preset_is_named(config):
    for name in DYNAMICS_METRICS:
        assert metric(name).description
    assert metric("slowest_time_constant_ms").unit == "ms"
    with pytest.raises(ConfigError, match=r"fixed_points \(--fixed-points\) = 'fast' is not allowed: choose one of full, quick, records or none"):
        solution_metrics(_no_recurrence(), config, k=2, fixed_points="fast")


def test_the_known_answer_reaches_a_condensation_record_and_the_sweep_table(config):
    """The network without recurrence, condensed by one removed unit (a step's State with an alive
    mask), measured as every condensation step is (`measure_solution`), and its solution numbers
    put in a sweep table row as a result.json's solution: one stable point per context, no saddle, tau = dt / |ln(1 - alpha)|."""
    from rnncondense.condense.config import condense_config
    from rnncondense.condense.schedules import Context, State, measure_solution
    from rnncondense.runs.condense import COLUMNS
    from rnncondense.runs.sweep_table import COLUMNS as TABLE_COLUMNS, result_row, rows_to_dataset
    from rnncondense.sweep import make_spec

    params = _no_recurrence(n=7)
    params = params._replace(W_rec=params.W_rec.at[6, :].set(5.0), W_out=params.W_out.at[0, 6].set(0.0))
    context = Context.create(config, condense_config({"k": 2}, source="test"), params)
    record = measure_solution(State(1, params, np.arange(7) < 6, np.arange(7)), context)
    tau = config.task.dt_ms / abs(np.log(1 - config.alpha))
    assert set(DYNAMICS_METRICS) <= set(record) and set(DYNAMICS_METRICS) <= set(COLUMNS)
    assert (record["n_fixed_points"], record["n_stable_points"], record["n_saddles"], record["slow_manifold_dim"]) == (1.0, 1.0, 0.0, 0)
    assert record["slowest_time_constant_ms"] == pytest.approx(tau, rel=1e-9)
    assert record["fixed_points"]["interval_ms"] == [500.0, 700.0, 900.0]
    assert record["dsa_distance"] > 0  # unit 6's rates are gone
    unchanged = measure_solution(State(1, params, np.ones(7, bool), np.arange(7)), context)
    assert unchanged["dsa_distance"] < 1e-6 and unchanged["similarity_procrustes"] == pytest.approx(1.0)

    sweep_config = config.model_copy(update={"train": config.train.model_copy(update={"stop_on_success": False})})
    spec = make_spec(sweep_config, sizes=[6], seeds=1)
    row = result_row(spec, spec.jobs[0], {"status": "done", "task": {}, "training": {}, "solution": record})
    table = rows_to_dataset(spec, [row])
    assert set(DYNAMICS_METRICS) <= set(TABLE_COLUMNS)
    assert float(table["n_stable_points"].sel(size=6, seed=0)) == 1.0
    assert float(table["n_saddles"].sel(size=6, seed=0)) == 0.0
    assert float(table["slowest_time_constant_ms"].sel(size=6, seed=0)) == pytest.approx(tau, rel=1e-9)
    assert table["slowest_time_constant_ms"].attrs["units"] == "ms"
