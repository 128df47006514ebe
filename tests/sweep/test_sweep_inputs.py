"""Sweep arguments: validation messages (field, value, what is allowed), jobs, the sweep record,
the table layout and the time-left estimate; none of these start a worker."""

import socket
import time

import numpy as np
import pytest

from rnncondense import storage
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError, RunDirError
from rnncondense.runs.sweep import run_sweep
from rnncondense.sweep import Axis, make_spec, parse_axis, parse_sizes
from rnncondense.runtime import limit_threads
from rnncondense.runs.sweep import _Durations
from rnncondense.runs.sweep import check_sweep_dir, write_sweep_file
from rnncondense.runs.sweep_table import result_row, rows_to_dataset, size_summary, write_tables


@pytest.fixture(scope="module")
def config():
    return config_from_dict({"task": {"intervals_ms": [500.0, 900.0]}, "train": {"max_iters": 3, "stop_on_success": False}})


@pytest.mark.parametrize(
    "sizes, message",
    [
        ([], r"sizes \(--sizes\) = \[\] is not allowed: give at least one network size"),
        ([5, 0], r"sizes \(--sizes\) = \[5, 0\] is not allowed: every size must be an integer number of units in \[1, 20000\] \(got 0\)"),
        ([5, -3], r"\(got -3\)"),
        ([5, 2.5], r"\(got 2.5\)"),
        ([5, True], r"\(got True\)"),
        ([5, 5], r"each size may appear once \(repeated: \[5\]\)"),
        ("5,10", r"give a list of positive integers"),
    ],
)
def test_bad_sizes_are_refused_with_the_value(config, sizes, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_sweep(config, sizes=sizes, seeds=2, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seeds", [0, -1, 1.5, True, None])
def test_bad_seeds_are_refused_with_the_value(config, seeds, tmp_path):
    with pytest.raises(ConfigError, match=rf"seeds \(--seeds\) = {seeds!r} is not allowed: it must be an integer in \[1, 10000\]"):
        run_sweep(config, sizes=[5], seeds=seeds, out=tmp_path / "out")


def test_parse_sizes():
    assert parse_sizes("5,10, 20,") == [5, 10, 20]
    with pytest.raises(ConfigError, match=r"sizes \(--sizes\) = '5,x' is not allowed: give comma-separated positive integers"):
        parse_sizes("5,x")


def test_bad_worker_count_and_scheduler_with_workers(config, tmp_path):
    with pytest.raises(ConfigError, match=r"workers \(--workers\) = 0 is not allowed: it must be an integer in \[1, 1024\]"):
        run_sweep(config, sizes=[5], seeds=1, out=tmp_path / "a", n_workers=0)
    with pytest.raises(ConfigError, match=r"workers \(--workers\) = 2 is not allowed with --scheduler"):
        run_sweep(config, sizes=[5], seeds=1, out=tmp_path / "b", n_workers=2, scheduler="tcp://127.0.0.1:8786")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_scheduler_is_reported_within_10_s(config, tmp_path):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"scheduler \(--scheduler\) = '{address}' is not reachable: no Dask scheduler answered within 5 s"):
        run_sweep(config, sizes=[5], seeds=1, out=tmp_path / "out", scheduler=address)
    assert time.perf_counter() - start < 10.0
    assert not (tmp_path / "out" / "sweep.json").exists()


def test_malformed_scheduler_address_is_refused(config, tmp_path):
    with pytest.raises(ConfigError, match=r"scheduler \(--scheduler\) = 'localhost:8786' is not allowed: give a Dask scheduler address"):
        run_sweep(config, sizes=[5], seeds=1, out=tmp_path / "out", scheduler="localhost:8786")


def test_stop_on_success_is_refused(tmp_path):
    config = config_from_dict({"train": {"stop_on_success": True}})
    with pytest.raises(ConfigError, match=r"train.stop_on_success = true is not allowed in a sweep: every network must train"):
        run_sweep(config, sizes=[5], seeds=1, out=tmp_path / "out")


@pytest.mark.parametrize(
    "text, message",
    [
        ("model.g", r"axis \(--axis\) = 'model.g' is not allowed: give a config field and comma-separated values"),
        ("model.gain=1,2", r"axis \(--axis\) field 'model.gain' is not allowed: no field 'gain' in model; allowed: form, g, n_units"),
        ("model.n_units=5,10", r"field 'model.n_units' is not allowed: it is the sweep's size axis"),
        ("train.seed=1,2", r"field 'train.seed' is not allowed: it is the sweep's seed axis"),
        ("train.hf=1", r"field 'train.hf' is not allowed: it is a table"),
        ("model.g=1.0,1.0", r"each value may appear once"),
        ("model.g=1.0,-1.0", r"model.g = -1.0 is not allowed: Input should be greater than or equal to 0"),
        ("train.trainer=hf,sgd", r"train.trainer = 'sgd' is not allowed"),
    ],
)
def test_bad_axes_are_refused(config, text, message):
    with pytest.raises(ConfigError, match=message):
        make_spec(config, sizes=[5], seeds=1, axis=parse_axis(text))


def test_jobs_cover_every_size_seed_and_axis_value(config):
    spec = make_spec(config, sizes=[50, 5], seeds=2, axis=parse_axis("model.g=1.0,1.5"))
    assert spec.sizes == (5, 50)
    assert spec.axis == Axis("model.g", (1.0, 1.5))
    assert [job.name for job in spec.jobs[:4]] == ["n005_s0_g1.0", "n005_s0_g1.5", "n005_s1_g1.0", "n005_s1_g1.5"]
    assert len({job.name for job in spec.jobs}) == len(spec.jobs) == 8
    for job in spec.jobs:
        assert job.config.model.n_units == job.size and job.config.train.seed == job.seed
        assert job.config.model.g == job.axis_value
        assert job.config.train.max_iters == 3 and job.config.task == config.task
    same = make_spec(config, sizes=[50, 5], seeds=2, axis=parse_axis("model.g=1,1.5"))  # 1 is 1.0 in the config
    assert same.axis == spec.axis and [job.name for job in same.jobs] == [job.name for job in spec.jobs]
    nested = make_spec(config, sizes=[5], seeds=1, axis=parse_axis("train.hf.cg_max_iters=50,100"))
    assert [job.config.train.hf.cg_max_iters for job in nested.jobs] == [50, 100]
    assert [job.name for job in nested.jobs] == ["n005_s0_cg_max_iters50", "n005_s0_cg_max_iters100"]
    names = [job.name for job in make_spec(config, sizes=[5, 200], seeds=1).jobs]
    assert names == ["n005_s0", "n200_s0"]
    assert parse_axis("train.trainer=hf,adam").values == ("hf", "adam")


def test_sweep_dir_is_new_empty_or_the_same_sweep(config, tmp_path):
    spec = make_spec(config, sizes=[5], seeds=1)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"--out '.*busy' is not empty and holds no sweep.json"):
        run_sweep(config, sizes=[5], seeds=1, out=tmp_path / "busy")
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirError, match=r"exists and is not a directory"):
        check_sweep_dir(tmp_path / "file", spec)
    write_sweep_file(tmp_path / "sweep", spec)
    assert check_sweep_dir(tmp_path / "sweep", make_spec(config.model_copy(update={"model": config.model.model_copy(update={"n_units": 77})}), sizes=[5], seeds=1))
    other = config_from_dict({"task": {"intervals_ms": [500.0, 900.0]}, "model": {"g": 1.5}, "train": {"max_iters": 3, "stop_on_success": False}})
    with pytest.raises(RunDirError, match=r"holds a sweep that differs in config.model.g \(1.0 there, 1.5 here\)"):
        check_sweep_dir(tmp_path / "sweep", make_spec(other, sizes=[5], seeds=1))
    nested = config_from_dict({"task": {"intervals_ms": [500.0, 900.0]},
                               "train": {"max_iters": 3, "stop_on_success": False, "hf": {"cg_max_iters": 99}}})
    with pytest.raises(RunDirError, match=r"differs in config.train.hf.cg_max_iters \(250 there, 99 here\)"):
        check_sweep_dir(tmp_path / "sweep", make_spec(nested, sizes=[5], seeds=1))
    with pytest.raises(RunDirError, match=r"differs in axis \(None there"):
        check_sweep_dir(tmp_path / "sweep", make_spec(config, sizes=[5], seeds=1, axis=parse_axis("model.g=1,2")))


def test_table_with_an_axis_has_one_cell_per_network(config, tmp_path):
    spec = make_spec(config, sizes=[5, 10], seeds=2, axis=parse_axis("model.g=1.0,1.5"))
    rows = [result_row(spec, job, None, error="boom" if job.seed else None) for job in spec.jobs]
    table, files = write_tables(tmp_path, spec, rows)
    assert dict(table.sizes) == {"size": 2, "seed": 2, "model.g": 2}
    assert set(np.unique(table["status"].values)) == {"missing", "failed"}
    assert (table["status"].sel(seed=1) == "failed").all() and (table["error"].sel(seed=1) == "boom").all()
    csv_rows = list(storage.read_rows(tmp_path / "results.csv"))
    assert len(csv_rows) == 8 and list(csv_rows[0])[:3] == ["size", "seed", "model.g"]
    assert {(r["size"], r["seed"], r["model.g"]) for r in csv_rows} == {
        (str(n), str(s), str(g)) for n in (5, 10) for s in (0, 1) for g in (1.0, 1.5)
    }


def test_time_left_estimate_follows_a_power_law_in_size():
    durations = _Durations()
    assert durations.estimate(10) is None
    durations.add(10, 1.0)
    assert durations.estimate(10) == 1.0
    assert durations.estimate(100) == pytest.approx(10.0)  # one size known: t ~ n
    durations.add(100, 100.0)
    durations.add(100, 100.0)
    assert durations.estimate(100) == pytest.approx(100.0)
    assert durations.estimate(1000) == pytest.approx(10_000.0, rel=1e-9)  # t ~ n^2
    durations.add(200, float("nan"))  # ignored
    assert 200 not in durations.by_size


def test_limit_threads_keeps_existing_settings():
    env = limit_threads({"XLA_FLAGS": "--xla_dump_to=/tmp/x", "OMP_NUM_THREADS": "4"})
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"
    assert env["OMP_NUM_THREADS"] == "4" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert limit_threads(dict(env)) == env  # idempotent


def test_size_summary_gives_medians_and_quartiles_of_finished_networks(config):
    spec = make_spec(config, sizes=[5, 10], seeds=4)
    rows = []
    for job in spec.jobs:
        row = result_row(spec, job, None)
        if not (job.size == 10 and job.seed == 3):  # one network of size 10 has no result
            row.update(status="done", success=job.seed < 2, scaling_index=job.size + job.seed, pcs_90=3)
        rows.append(row)
    summary = {row["size"]: row for row in size_summary(rows_to_dataset(spec, rows), ("scaling_index", "pcs_90", "mse"))}
    assert summary[5]["networks"] == 4 and summary[5]["finished"] == 4 and summary[10]["finished"] == 3
    assert summary[5]["success_fraction"] == 0.5 and summary[10]["success_fraction"] == pytest.approx(2 / 3)
    assert summary[5]["scaling_index"] == np.median([5, 6, 7, 8]) and summary[5]["scaling_index_q25"] == 5.75
    assert summary[10]["scaling_index"] == 11.0 and summary[10]["scaling_index_q75"] == 11.5
    assert summary[10]["pcs_90"] == 3.0 and summary[5]["mse"] is None
