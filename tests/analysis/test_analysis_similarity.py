"""Similarity of two networks' solutions: 1 for a network against a permuted, rotated or
embedded copy of itself, closed-form values for known geometries, and clear errors."""

import numpy as np
import pytest
import xarray as xr
from conftest import random_network, synthetic_activity
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncondense.analysis.activity import condition_activity, time_normalized
from rnncondense.analysis.similarity import HEADLINE, similarity
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError, UserError


@pytest.fixture(scope="module")
def network_activity(small_config):
    params = random_network(0, 24, g=1.5)
    return params, condition_activity(params, small_config)


def _permuted(params, order):
    return params._replace(
        W_rec=params.W_rec[order][:, order],
        W_in=params.W_in[order],
        b=params.b[order],
        W_out=params.W_out[:, order],
        x0=params.x0[order],
    )


def _with_rates(activity, rate):
    n_units = rate.shape[-1]
    out = activity.drop_vars("rate").drop_dims("unit")
    out = out.assign(rate=(("interval", "time", "unit"), rate)).assign_coords(unit=np.arange(n_units))
    return out.assign_attrs(n_units=n_units)


def _orthogonal(n, m, seed):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(n, m)))[0]


def test_headline_is_dsa():
    """The choice of benchmarks/bench_separation.py (README: the separation table)."""
    assert HEADLINE == "dsa"


def test_network_against_its_permuted_copy_is_one(small_config, network_activity):
    params, activity = network_activity
    order = np.random.default_rng(1).permutation(24)
    permuted = condition_activity(_permuted(params, order), small_config)
    np.testing.assert_allclose(permuted["rate"].values, activity["rate"].values[..., order], atol=1e-5)
    result = similarity(activity, permuted, k=3)
    assert result.procrustes == pytest.approx(1.0, abs=1e-6)
    assert result.cca == pytest.approx(1.0, abs=1e-6)
    assert result.k == 3


def test_rotated_and_embedded_copies_are_one(network_activity):
    _, activity = network_activity
    rate = activity["rate"].values.astype(np.float64)
    rotated = _with_rates(activity, rate @ _orthogonal(24, 24, 2))
    embedded = _with_rates(activity, rate @ _orthogonal(40, 24, 3).T)  # 40 units spanning the same space
    for other in (rotated, embedded):
        for k in (1, 3, 5):
            result = similarity(activity, other, k=k)
            assert result.procrustes == pytest.approx(1.0, abs=1e-6)
            assert result.cca == pytest.approx(1.0, abs=1e-6)
    # the time-normalised DataArrays give the same numbers as the Datasets
    assert similarity(time_normalized(activity), time_normalized(rotated)).procrustes == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_units=st.integers(4, 30), k=st.integers(1, 4))
def test_invariance_to_permutation_and_rotation_of_units(seed, n_units, k):
    rng = np.random.default_rng(seed)
    intervals = [500.0, 700.0, 900.0]
    time = 10.0 * np.arange(0, 101)
    frequencies, shifts = rng.uniform(1, 4, size=5), rng.uniform(0, 6, size=5)
    mix = rng.normal(size=(5, n_units))
    rate = np.stack(
        [np.tanh((np.sin(np.outer(time / i, frequencies) + shifts) + rng.normal(size=5)) @ mix) for i in intervals]
    )
    transformed = rate[..., rng.permutation(n_units)] @ _orthogonal(n_units, n_units, seed % 1000)
    a = synthetic_activity(rate, intervals_ms=intervals)
    b = synthetic_activity(transformed, intervals_ms=intervals)
    k = min(k, n_units)
    result = similarity(a, b, k=k, n_phase=20)
    assert result.procrustes == pytest.approx(1.0, abs=1e-6)
    assert result.cca == pytest.approx(1.0, abs=1e-6)


def _from_scores(scores, n_units, seed):
    """Time-normalised trajectories (3 intervals, P phases, n_units) whose PC scores are `scores`."""
    directions = _orthogonal(n_units, scores.shape[-1], seed)
    rate = (scores @ directions.T + np.random.default_rng(seed).normal(size=n_units)).reshape(3, -1, n_units)
    phase = np.linspace(0, 1, rate.shape[1])
    attrs = {"task_name": "cue_set_go", "dt_ms": 10.0, "intervals_ms": [500.0, 700.0, 900.0]}
    attrs["normalize_by"] = "produced"
    return xr.DataArray(rate, dims=("interval", "phase", "unit"), coords={"phase": phase}, attrs=attrs)


def test_known_geometries_give_closed_form_values():
    # six mutually orthogonal, centred signals over the 3 x 20 samples
    basis = _orthogonal(60, 6, 7)
    basis -= basis.mean(axis=0)
    basis = np.linalg.qr(basis)[0]
    sigma, tau = np.array([3.0, 2.0, 1.0]), np.array([2.5, 1.5, 0.5])
    a = _from_scores(basis[:, :3] * sigma, 12, 1)
    disjoint = _from_scores(basis[:, 3:] * tau, 9, 2)  # scores orthogonal to all of a's
    result = similarity(a, disjoint, k=3)
    assert result.procrustes == pytest.approx(0.0, abs=1e-9)
    assert result.cca == pytest.approx(0.0, abs=1e-9)
    # sharing only the first PC: procrustes = sigma_1 tau_1 / (|sigma| |tau|), canonical correlations (1, 0, 0)
    shared = _from_scores(np.column_stack([basis[:, 0] * tau[0], basis[:, 4] * tau[1], basis[:, 5] * tau[2]]), 9, 3)
    result = similarity(a, shared, k=3)
    expected = sigma[0] * tau[0] / (np.linalg.norm(sigma) * np.linalg.norm(tau))
    assert result.procrustes == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(result.canonical_correlations, [1.0, 0.0, 0.0], atol=1e-9)
    assert result.cca == pytest.approx(1 / 3, abs=1e-9)


def test_random_network_is_far_from_a_scaling_solution(small_config):
    """An ideal time-scaling population (profiles of t / interval) against a random network (g = 1): 0.22."""
    activity = condition_activity(random_network(0, 30), small_config)
    time, intervals = activity["time"].values, activity["interval"].values
    mix = np.random.default_rng(0).normal(size=(3, 30))

    def scaling_population(interval):
        phase = np.clip(time / interval, 0, 1.3)
        return np.tanh(np.stack([phase, np.sin(np.pi * phase), np.cos(2 * np.pi * phase)], -1) @ mix)

    rate = np.stack([scaling_population(i) for i in intervals])
    ideal = synthetic_activity(rate, intervals_ms=intervals, before_set_ms=200.0)
    result = similarity(activity, ideal, k=3)
    assert result.procrustes == pytest.approx(0.2235, abs=1e-3)
    assert similarity(ideal, ideal).procrustes == pytest.approx(1.0, abs=1e-9)


def test_k_out_of_range_is_refused(network_activity):
    _, activity = network_activity
    smaller = _with_rates(activity, activity["rate"].values[..., :10])
    message = r"^k = 11 is not allowed: it must be an integer in \[1, 10\] \(networks of 24 and 10 units"
    with pytest.raises(ConfigError, match=message):
        similarity(activity, smaller, k=11)
    with pytest.raises(ConfigError, match=r"k = 0 is not allowed"):
        similarity(activity, activity, k=0)


def test_different_tasks_are_refused(small_config, network_activity):
    params, activity = network_activity
    other_task = {"intervals_ms": [500.0, 700.0, 1000.0], "tail_ms": 100.0}
    other_intervals = config_from_dict({"task": other_task, "model": {"n_units": 24}})
    other = condition_activity(params, other_intervals)
    message = r"^the two networks were run on different tasks: intervals_ms \[500, 700, 900\] vs \[500, 700, 1000\]$"
    with pytest.raises(UserError, match=message):
        similarity(activity, other)
    finer = activity.assign_attrs(dt_ms=5.0)
    with pytest.raises(UserError, match=r"different tasks: dt_ms 10 vs 5$"):
        similarity(activity, finer)
    renamed = activity.assign_attrs(task_name="ready_set_go")
    with pytest.raises(UserError, match=r"different tasks: task name 'cue_set_go' vs 'ready_set_go'$"):
        similarity(activity, renamed)
    with pytest.raises(UserError, match=r"different phase grids: 50 vs 20 phases"):
        similarity(time_normalized(activity), time_normalized(activity, n_phase=20))
