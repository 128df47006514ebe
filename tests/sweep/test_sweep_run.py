"""End to end on a local Dask cluster of two workers: a tiny 2 sizes x 2 seeds sweep during which one
worker process is killed (SIGKILL) while it trains a network; then a rerun and a refused rerun."""

import json
import os
import signal
import time

import numpy as np
import pytest

from rnncondense import layout, storage
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError, RunDirError
from rnncondense.runs.sweep import run_sweep
from rnncondense.runs.sweep_table import read_table
from rnncondense.sweep import connect, local_cluster, make_spec
from rnncondense.runtime import THREAD_ENV, malloc_arenas

from rnncondense.runs.train import train_run

pytestmark = pytest.mark.slow

SIZES = [4, 6]
SEEDS = 2
MAX_ITERS = 60


def tiny_sweep_config(**train):
    return config_from_dict(
        {
            "task": {"intervals_ms": [500.0, 700.0, 900.0], "tail_ms": 100.0, "val_trials_per_interval": 4},
            "model": {"n_units": 8},
            "train": {
                "trainer": "adam",
                "max_iters": MAX_ITERS,
                "eval_every": 5,
                "checkpoint_every": 5,
                "stop_on_success": False,
                "adam": {"batch_size": 8},
                **train,
            },
        }
    )


def _training_rows(run_dir):
    path = run_dir / layout.HISTORY_FILE
    return len(list(storage.read_rows(path))) if path.is_file() else 0


@pytest.fixture(scope="module")
def killed_sweep(tmp_path_factory):
    """Run the sweep; as soon as one network is finished, SIGKILL the worker training another one."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    state = {"killed": None, "pid": None, "finished_before": {}, "progress": []}

    def on_progress(progress):
        state["progress"].append(progress)
        if state["killed"] is not None or progress.done < 1:
            return
        networks = out / layout.NETWORKS_DIR
        for run_dir in sorted(networks.iterdir()):
            mid_training = (run_dir / layout.CHECKPOINT_FILE).is_file() and 0 < _training_rows(run_dir) < MAX_ITERS - 10
            if (run_dir / "result.json").exists() or not mid_training:
                continue
            pid = json.loads((run_dir / "attempt.json").read_text())["pid"]
            state["finished_before"] = {
                d.name: (d / "result.json").stat().st_mtime_ns for d in networks.iterdir() if (d / "result.json").exists()
            }
            os.kill(pid, signal.SIGKILL)
            state.update(killed=run_dir.name, pid=pid)
            return

    start = time.perf_counter()
    result = run_sweep(tiny_sweep_config(), sizes=SIZES, seeds=SEEDS, out=out, n_workers=2, on_progress=on_progress,
                       poll_s=0.1)
    state["wall_s"] = time.perf_counter() - start
    return out, result, state


def test_a_worker_was_killed_while_it_trained_a_network(killed_sweep):
    _, result, state = killed_sweep
    assert state["killed"] is not None, "no network was caught mid-training; the kill did not happen"
    assert result.failed == {}


def test_the_killed_network_was_retried_and_finished(killed_sweep):
    out, _, state = killed_sweep
    result = storage.read_json(out / layout.NETWORKS_DIR / state["killed"] / "result.json")
    assert result["status"] == "done"
    assert result["attempt"] == 2 and result["resumed"] is True
    assert result["worker"]["pid"] != state["pid"]
    assert result["training"]["iterations"] == MAX_ITERS


def test_results_finished_before_the_kill_are_kept_untouched(killed_sweep):
    out, _, state = killed_sweep
    assert state["finished_before"], "no network had finished before the kill"
    for name, mtime_ns in state["finished_before"].items():
        path = out / layout.NETWORKS_DIR / name / "result.json"
        assert path.stat().st_mtime_ns == mtime_ns
        assert storage.read_json(path)["attempt"] == 1


def test_the_retried_network_equals_an_uninterrupted_run(killed_sweep, tmp_path):
    out, _, state = killed_sweep
    job = next(job for job in make_spec(tiny_sweep_config(), sizes=SIZES, seeds=SEEDS).jobs if job.name == state["killed"])
    fresh = train_run(job.config, tmp_path / "fresh")
    swept, _ = storage.load_params(out / layout.NETWORKS_DIR / job.name / layout.PARAMS_FILE)
    for a, b in zip(fresh.params, swept):  # the worker runs XLA single-threaded: allow summation-order noise
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_the_table_has_exactly_one_row_per_size_and_seed(killed_sweep):
    out, result, _ = killed_sweep
    rows = list(storage.read_rows(out / "results.csv"))
    pairs = [(int(r["size"]), int(r["seed"])) for r in rows]
    assert sorted(pairs) == [(size, seed) for size in SIZES for seed in range(SEEDS)]
    assert all(r["status"] == "done" for r in rows)
    table = read_table(out)
    assert dict(table.sizes) == {"size": len(SIZES), "seed": SEEDS}
    assert list(table["size"].values) == SIZES and list(table["seed"].values) == list(range(SEEDS))
    for r in rows:  # the NetCDF table holds the same numbers as the CSV
        cell = table.sel(size=int(r["size"]), seed=int(r["seed"]))
        assert float(cell["mse"]) == pytest.approx(float(r["mse"]), rel=1e-12)
        assert float(cell["iterations"]) == MAX_ITERS
        assert 1 <= float(cell["pcs_90"]) <= int(r["size"])
        assert str(cell["network"].values) == r["network"]


def test_every_network_is_a_normal_run_directory(killed_sweep):
    out, _, _ = killed_sweep
    for run_dir in sorted((out / layout.NETWORKS_DIR).iterdir()):
        for name in (layout.CONFIG_FILE, layout.PARAMS_FILE, layout.METRICS_FILE, layout.HISTORY_FILE, "analysis/activity.nc",
                     "analysis/metrics.json", "result.json"):
            assert (run_dir / name).is_file(), f"{run_dir.name}: no {name}"
        result = storage.read_json(run_dir / "result.json")
        assert result["solution"]["settings"]["noise"] == "none"
        assert result["solution"]["settings"]["k"] == 3
        assert result["training"]["stopped"] == "max_iters"


def test_progress_reports_done_running_failed_and_eta(killed_sweep):
    _, _, state = killed_sweep
    progress = state["progress"]
    total = len(SIZES) * SEEDS
    assert progress[0].done == 0 and progress[0].eta_s is None and progress[0].total == total
    assert progress[-1].done == total and progress[-1].failed == 0 and progress[-1].eta_s == 0.0
    assert all(0 <= p.running <= 2 for p in progress)
    assert max(p.running for p in progress) == 2
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    after_first = [p for p in progress if 0 < p.done < total]
    assert after_first and all(p.eta_s is not None and p.eta_s >= 0 for p in after_first)


def test_figures_are_written(killed_sweep):
    out, result, _ = killed_sweep
    for name in ("task_vs_size.png", "solution_vs_size.png", "unit_responses_by_size.png"):
        path = out / "figures" / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path in result.files


def test_rerun_skips_finished_networks(killed_sweep):
    out, _, _ = killed_sweep
    networks = sorted((out / layout.NETWORKS_DIR).iterdir())
    watched = [d / name for d in networks for name in ("result.json", "attempt.json", layout.PARAMS_FILE, layout.CHECKPOINT_FILE)]
    watched.append(out / "sweep.json")
    before = {path: path.stat().st_mtime_ns for path in watched}
    seen = []
    result = run_sweep(tiny_sweep_config(), sizes=SIZES, seeds=SEEDS, out=out, n_workers=2, on_progress=seen.append)
    assert {path: path.stat().st_mtime_ns for path in watched} == before
    assert result.trained == 0 and result.skipped == len(networks)
    assert seen[-1].skipped == seen[-1].done == len(networks)
    assert len(list(storage.read_rows(out / "results.csv"))) == len(networks)


def test_rerun_with_other_arguments_is_refused(killed_sweep):
    out, _, _ = killed_sweep
    with pytest.raises(RunDirError, match=r"holds a sweep that differs in sizes \(\[4, 6\] there, \[4, 8\] here\)"):
        run_sweep(tiny_sweep_config(), sizes=[4, 8], seeds=SEEDS, out=out)
    with pytest.raises(RunDirError, match=r"differs in seeds \(2 there, 3 here\)"):
        run_sweep(tiny_sweep_config(), sizes=SIZES, seeds=3, out=out)
    with pytest.raises(RunDirError, match=r"differs in config.train.max_iters \(60 there, 61 here\)"):
        run_sweep(tiny_sweep_config(max_iters=61), sizes=SIZES, seeds=SEEDS, out=out)


def test_an_existing_cluster_is_used_through_its_scheduler_address(tmp_path):
    """local_cluster's workers are single-threaded, with one heap and no profiler; a sweep runs on
    a cluster given by its address; a worker's address is refused."""
    cluster = local_cluster(1)
    try:
        with connect(cluster.scheduler_address) as client:
            env = next(iter(client.run(lambda: {k: os.environ.get(k) for k in THREAD_ENV}).values()))
            threads = sum(client.nthreads().values())
            profiling = set(client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks).values())
            worker_address = next(iter(client.nthreads()))
        with pytest.raises(ConfigError, match=r"is not allowed: it is a Dask Worker, not a scheduler"):
            connect(worker_address)
        result = run_sweep(tiny_sweep_config(max_iters=5), sizes=[3], seeds=1, out=tmp_path / "out",
                           scheduler=cluster.scheduler_address, figures=False)
        with connect(cluster.scheduler_address) as client:  # after a network: its threads have all allocated
            arenas = set(client.run(malloc_arenas).values())
    finally:
        cluster.close()
    assert profiling == {False}  # Dask's profiler, whose samples grow a worker's memory, is off
    assert arenas == {1}  # started with runtime.heap_environ: one heap for all of a worker's threads
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["OMP_NUM_THREADS"] == "1"
    assert threads == 1
    assert result.trained == 1 and result.failed == {}
    assert storage.read_json(tmp_path / "out" / layout.NETWORKS_DIR / "n003_s0" / "result.json")["solution"]["n_units"] == 3


# ------------------------------------------------------------------------------ records tied by their sidecars


def _edit_one_byte(path):
    data = bytearray(path.read_bytes())
    at = max(i for i, byte in enumerate(data) if chr(byte).isdigit())
    data[at] = ord("1") if data[at] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


def _tree(root):
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["sweep.json", "results.csv", "results.nc", "networks/*/result.json"])
def test_an_edited_sweep_record_is_refused_by_name(killed_sweep, tmp_path, name):
    """One byte of a record changed by hand: the command that reads it back (a rerun of the sweep, the
    study's report, the table reader) refuses it with one line naming it, exit status 2, nothing written."""
    import shutil

    from typer.testing import CliRunner

    from rnncondense import ties
    from rnncondense.cli import app
    from rnncondense.config import config_to_dict
    from rnncondense.errors import FileFormatError

    out, _, _ = killed_sweep
    study = tmp_path / "study"
    sweep = shutil.copytree(out, study / layout.STUDY_SWEEP_DIR)
    path = sorted(sweep.glob(name))[0]
    assert ties.sidecar(path).is_file()
    _edit_one_byte(path)
    config = tmp_path / "sweep.toml"
    storage.write_toml(config, config_to_dict(tiny_sweep_config()))
    before = _tree(tmp_path)
    if name == "results.nc":
        with pytest.raises(FileFormatError, match=r"results\.nc: changed after it was written"):
            read_table(sweep)
    else:
        command = (["report", study] if name == "results.csv" else
                   ["sweep", config, "--out", sweep, "--sizes", ",".join(map(str, SIZES)), "--seeds", SEEDS, "--workers", 1])
        result = CliRunner().invoke(app, [str(a) for a in command])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert str(path) in lines[0] and "changed after it was written" in lines[0], lines[0]
    assert _tree(tmp_path) == before
