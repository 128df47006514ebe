"""Condensation schedules end to end on a tiny trained network, resume, alignment, bad input."""

import jax
import numpy as np
import pytest

from rnncondense import layout, storage
from rnncondense.condense.config import condense_config
from rnncondense.condense.preserve import alignment_reference, best_rotation, procrustes_to_reference
from rnncondense.runs.condense import completed_steps, condense_run, load_step
from rnncondense.errors import ConfigError, RunDirError
from rnncondense.rnn import simulate
from rnncondense.tasks import make_task
from rnncondense.runs.train import load_run


def _settings(**fields):
    base = {"retrain_iters": 15, "record_trials": 16, "clusters": [8, 4], "k": 2}
    return condense_config({**base, **fields})


def test_one_shot_merges_until_the_task_fails(tiny_run, tmp_path):
    result = condense_run(tiny_run, tmp_path / "c", _settings(method="one-shot", operator="seed"), figures=False)
    records = result.records
    assert records[0]["n_units"] == 24 and records[0]["success"]
    assert [r["n_units"] for r in records] == list(range(24, 24 - len(records), -1))  # one merge per step
    assert all(r["success"] for r in records[:-1]) and not records[-1]["success"]
    assert result.reason == f"the task failed after {len(records) - 1} merges ({records[-1]['n_units']} units)"
    assert records[-1]["scaling_index"] is not None  # solution type measured where it failed
    rows = list(storage.read_rows(tmp_path / "c" / layout.CONDENSE_SUMMARY_FILE))
    assert len(rows) == len(records)
    merged = [tuple(m) for r in records[1:] for m in r["merged"]]
    assert len({m[0] for m in merged}) == len(merged)  # each original unit removed once


def test_iterative_keeps_success_at_every_step(tiny_run, tmp_path):
    settings = _settings(method="iterative", pairs_per_step=3, target_units=16)
    result = condense_run(tiny_run, tmp_path / "c", settings)
    sizes = [r["n_units"] for r in result.records]
    assert sizes == [24, 21, 18, 16]
    assert all(r["success"] and r["retrain_success"] for r in result.records[1:])
    assert result.reason == "reached 16 units"
    final, _ = load_step(tmp_path / "c", 3)
    params, ids = final.compact()
    assert params.W_rec.shape == (16, 16) and len(set(ids.tolist())) == 16
    for name in ("metrics_vs_size", "behavior_per_step", "original_vs_final"):
        assert (tmp_path / "c" / "figures" / f"{name}.png").stat().st_size > 5000


def test_budget_retraining_always_runs_the_whole_budget(tiny_run, tmp_path):
    """retrain_until = "budget" (the seed study's fixed budget) never stops at success; "success"
    stops at the first validation that is back within the run's stop_rel_error."""
    budget = condense_run(tiny_run, tmp_path / "b", _settings(method="iterative", pairs_per_step=4, target_units=20,
                                                              retrain_iters=6, retrain_until="budget"), figures=False)
    assert [r["retrain_iterations"] for r in budget.records[1:]] == [6]
    early = condense_run(tiny_run, tmp_path / "s", _settings(method="iterative", pairs_per_step=4, target_units=20,
                                                             retrain_iters=6), figures=False)
    step = early.records[1]
    assert step["retrain_iterations"] <= 6
    if step["retrain_iterations"] < 6:  # it stopped early, so it had recovered
        assert step["retrain_success"]


def test_preserving_records_alignment(tiny_run, tmp_path):
    settings = _settings(method="preserving", pairs_per_step=4, target_units=16, preserve_weight=0.05)
    result = condense_run(tiny_run, tmp_path / "c", settings, figures=False)
    assert [r["n_units"] for r in result.records] == [24, 20, 16]
    for record in result.records[1:]:
        assert 0.0 < record["alignment"] <= 1.0 + 1e-6
        assert record["similarity_procrustes"] is not None


def test_canonical_tries_every_number_of_types(tiny_run, tmp_path):
    result = condense_run(tiny_run, tmp_path / "c", _settings(method="canonical"))
    assert [r["n_units"] for r in result.records] == [24, 8, 4]
    assert [r.get("clusters") for r in result.records[1:]] == [8, 4]
    smallest = [r["n_units"] for r in result.records[1:] if r["success"]]
    assert result.reason == (f"smallest K that keeps success: {min(smallest)}" if smallest else "no K kept success")
    assert (tmp_path / "c" / "figures" / "canonical_responses.png").exists()


class _Stop(Exception):
    pass


def test_interrupted_condensation_resumes_to_the_same_result(tiny_run, tmp_path):
    settings = _settings(method="iterative", pairs_per_step=2, target_units=18)
    full = condense_run(tiny_run, tmp_path / "full", settings, figures=False)

    def stop_after_two(record):
        if record["step"] == 2:
            raise _Stop

    with pytest.raises(_Stop):
        condense_run(tiny_run, tmp_path / "cut", settings, on_step=stop_after_two, figures=False)
    assert completed_steps(tmp_path / "cut") == [0, 1, 2]
    resumed = condense_run(tiny_run, tmp_path / "cut", settings, resume=True, figures=False)
    assert [r["n_units"] for r in resumed.records] == [r["n_units"] for r in full.records]
    for step in range(len(full.records)):
        a, _ = load_step(tmp_path / "full", step)
        b, _ = load_step(tmp_path / "cut", step)
        for x, y in zip(a.params, b.params):
            np.testing.assert_array_equal(x, y)
    assert storage.read_json(tmp_path / "cut" / layout.CONDENSE_RESULT_FILE)["reason"] == full.reason
    with pytest.raises(RunDirError, match=r"differs in settings.pairs_per_step \(2 there, 3 here\)"):
        condense_run(tiny_run, tmp_path / "cut", _settings(method="iterative", pairs_per_step=3, target_units=18),
                     resume=True)


def test_alignment_reference_against_numpy(tiny_run):
    """The original scores sqrt(fraction of its variance in its top k PCs); rotations are optimal."""
    config, params = load_run(tiny_run)
    task = make_task(config.task)
    reference = alignment_reference(params, task, alpha=config.alpha, k=2)
    batch = task.condition_batch()
    rates = np.asarray(simulate(params, batch.inputs, alpha=config.alpha).rates, dtype=np.float64)
    x = np.einsum("cpt,ctn->cpn", np.asarray(reference.resample, np.float64), rates).reshape(-1, rates.shape[-1])
    x -= x.mean(axis=0)
    s = np.linalg.svd(x, compute_uv=False)
    expected = np.sqrt((s[:2] ** 2).sum() / (s**2).sum())
    assert procrustes_to_reference(params, reference, alpha=config.alpha) == pytest.approx(expected, rel=1e-4)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 6)), rng.normal(size=(30, 2))
    rotation = np.asarray(best_rotation(jax.numpy.asarray(a), jax.numpy.asarray(b)))
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(2), atol=1e-5)
    best = np.trace(rotation.T @ a.T @ b)
    for _ in range(20):  # no other orthonormal R does better
        q, _ = np.linalg.qr(rng.normal(size=(6, 2)))
        assert np.trace(q.T @ a.T @ b) <= best + 1e-6


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"method": "iterative", "target_units": 24}, "target_units = 24 is not allowed: it must be below the network's 24 units"),
        ({"method": "iterative", "target_units": 30}, "target_units = 30 is not allowed"),
        ({"k": 0}, "condense: k = 0 is not allowed: Input should be greater than or equal to 1"),
        ({"method": "shrink"}, "condense: method = 'shrink' is not allowed: Input should be 'one-shot', 'iterative', 'preserving' or 'canonical'"),
        ({"operator": "average"}, "operator = 'average' is not allowed: Input should be 'seed', 'affine' or 'least-squares'"),
        ({"clusters": [4, 8]}, "clusters = [4, 8] is not allowed: must be strictly decreasing"),
        ({"retrain_until": "forever"}, "retrain_until = 'forever' is not allowed: Input should be 'success' or 'budget'"),
    ],
)
def test_bad_settings(tiny_run, tmp_path, fields, message):
    with pytest.raises(ConfigError) as info:
        condense_run(tiny_run, tmp_path / "c", condense_config({"retrain_iters": 5, **fields}, source="condense"))
    assert message in str(info.value)
    assert not (tmp_path / "c").exists()


def test_a_run_without_a_trained_network(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text("")
    with pytest.raises(RunDirError, match="holds no trained network"):
        condense_run(tmp_path / "run", tmp_path / "c", _settings())
