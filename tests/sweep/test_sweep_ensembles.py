"""Sweeps that train networks in ensembles (`run_sweep(ensemble_size=...)`, `--ensemble-size`): how
networks are grouped, and end to end on a local Dask cluster, a worker killed (SIGKILL) in the
middle of an ensemble, whose members then resume and end as the same networks trained alone."""

import json
import os
import signal

import numpy as np
import pytest

from rnncondense import layout, storage
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError
from rnncondense.runs.sweep import check_ensemble_size, ensemble_groups, pilots, run_sweep
from rnncondense.runs.train import train_run
from rnncondense.sweep import make_spec, parse_axis

from test_sweep_run import tiny_sweep_config

SIZES = [4, 6]
SEEDS = 3
MAX_ITERS = 60


def _names(groups):
    return [[job.name for job in group] for group in groups]


def test_networks_are_grouped_by_size_largest_first_at_most_ensemble_size_each():
    jobs = make_spec(tiny_sweep_config(), sizes=[4, 6, 8], seeds=3).jobs
    assert _names(ensemble_groups(list(jobs), 2)) == [
        ["n008_s0", "n008_s1"], ["n008_s2"], ["n006_s0", "n006_s1"], ["n006_s2"], ["n004_s0", "n004_s1"], ["n004_s2"]]
    assert [len(g) for g in ensemble_groups(list(jobs), 1)] == [1] * 9
    assert _names(ensemble_groups(list(jobs), 16))[0] == ["n008_s0", "n008_s1", "n008_s2"]


def test_an_axis_that_members_may_differ_in_shares_ensembles_and_one_that_changes_the_program_does_not():
    gain = make_spec(tiny_sweep_config(), sizes=[4], seeds=2, axis=parse_axis("model.g=1.0,1.5")).jobs
    assert len(ensemble_groups(list(gain), 8)) == 1
    tau = make_spec(tiny_sweep_config(), sizes=[4], seeds=2, axis=parse_axis("model.tau_ms=50,100")).jobs
    groups = ensemble_groups(list(tau), 8)
    assert len(groups) == 2
    assert all(len({job.config.model.tau_ms for job in group}) == 1 for group in groups)


def test_one_group_of_every_program_is_a_pilot_whatever_the_seeds_and_the_ensembles():
    jobs = list(make_spec(tiny_sweep_config(), sizes=[4, 6, 8], seeds=3).jobs)
    for size in (1, 2):
        groups = ensemble_groups(jobs, size)
        chosen = [groups[i] for i in sorted(pilots(groups))]
        assert [group[0].size for group in chosen] == [8, 6, 4]  # one per size, the first, largest first
        assert all(group[0].config.train.seed == 0 for group in chosen)
    # tau_ms changes the program (alpha is static): one pilot per value; the gain does not
    tau = ensemble_groups(list(make_spec(tiny_sweep_config(), sizes=[4], seeds=2, axis=parse_axis("model.tau_ms=50,100")).jobs), 1)
    assert sorted({tau[i][0].config.model.tau_ms for i in pilots(tau)}) == [50.0, 100.0] and len(pilots(tau)) == 2
    gain = ensemble_groups(list(make_spec(tiny_sweep_config(), sizes=[4], seeds=2, axis=parse_axis("model.g=1.0,1.5")).jobs), 1)
    assert len(pilots(gain)) == 2  # g only sets the start, but counts as another program: a spare pilot costs nothing


def test_networks_that_cannot_be_members_are_trained_alone():
    config = config_from_dict({**json.loads(json.dumps({"model": {"n_units": 8, "nonlinearity": "relu"}})),
                               "train": {"max_iters": 5, "stop_on_success": False}})
    jobs = make_spec(config, sizes=[4], seeds=3).jobs
    assert [len(g) for g in ensemble_groups(list(jobs), 3)] == [1, 1, 1]


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "4", 10**6])
def test_a_bad_ensemble_size_is_refused_in_one_line(value):
    with pytest.raises(ConfigError) as error:
        check_ensemble_size(value)
    message = str(error.value)
    assert "\n" not in message and "ensemble size (--ensemble-size)" in message and repr(value) in message


def _rows(run_dir):
    path = run_dir / layout.HISTORY_FILE
    return len(list(storage.read_rows(path))) if path.is_file() else 0


@pytest.mark.slow
def test_a_killed_ensemble_resumes_and_its_members_end_as_networks_trained_alone(tmp_path):
    out = tmp_path / "out"
    state = {"killed": None, "pid": None}

    def on_progress(progress):
        if state["killed"] is not None:
            return
        networks = out / layout.NETWORKS_DIR
        for run_dir in sorted(networks.iterdir()) if networks.is_dir() else []:
            mid = (run_dir / layout.CHECKPOINT_FILE).is_file() and 0 < _rows(run_dir) < MAX_ITERS - 10
            if mid and not (run_dir / layout.NETWORK_RESULT_FILE).exists():
                pid = json.loads((run_dir / layout.NETWORK_ATTEMPT_FILE).read_text())["pid"]
                os.kill(pid, signal.SIGKILL)
                state.update(killed=run_dir.name, pid=pid)
                return

    result = run_sweep(tiny_sweep_config(), sizes=SIZES, seeds=SEEDS, out=out, n_workers=2, ensemble_size=SEEDS,
                       on_progress=on_progress, poll_s=0.1, figures=False)
    assert state["killed"] is not None, "no network was caught mid-training; the kill did not happen"
    assert result.failed == {}
    assert [row["ensemble_members"] for row in result.rows] == [SEEDS] * len(result.rows)

    size = int(state["killed"][1:4])
    members = [job for job in make_spec(tiny_sweep_config(), sizes=SIZES, seeds=SEEDS).jobs if job.size == size]
    for job in members:  # the whole ensemble was killed with its worker and trained again from checkpoints
        stored = storage.read_json(out / layout.NETWORKS_DIR / job.name / layout.NETWORK_RESULT_FILE)
        assert stored["status"] == "done" and stored["attempt"] == 2 and stored["resumed"] is True
        assert stored["worker"]["pid"] != state["pid"]
        assert stored["ensemble"] == [member.name for member in members]
        assert stored["training"]["iterations"] == MAX_ITERS
        alone = train_run(job.config, tmp_path / f"alone_{job.name}")
        swept, _ = storage.load_params(out / layout.NETWORKS_DIR / job.name / layout.PARAMS_FILE)
        for a, b in zip(alone.params, swept):  # batched products may sum in another order
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-6)
        metrics = storage.read_json(out / layout.NETWORKS_DIR / job.name / layout.METRICS_FILE)["validation"]
        assert metrics["mse"] == pytest.approx(alone.metrics.mse, rel=1e-4)
