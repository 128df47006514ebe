"""Sweep throughput on a local Dask cluster with 1 and 2 workers, and the workers' peak memory.

One small fixed sweep (the default task, sizes 20 and 50, 3 seeds, 10 Hessian-free iterations per
network) is run three times, each into a fresh temporary directory and on a fresh local cluster:
  - `workers_1`, `workers_2`: one and two single-threaded workers (`sweep.local_cluster`: XLA and
    BLAS limited to one thread per worker);
  - `workers_2_xla_multithread`: two workers with XLA's multi-threaded Eigen left on (the setting
    the sweep turns off), to measure what oversubscribing the cores costs.
No persistent compilation cache is used (this process does not enable one), so every worker
compiles its programs, as on a first run. Each reports the wall time of the whole `run_sweep`
call (cluster start, compilation, training,
analysis, tables and figures), networks per minute, and the peak resident memory of every worker
process (VmHWM, recorded by the worker in each network's result.json; goal: under 1 GB).
The machine may be shared: the 1-minute load average before and after each run is recorded, and
`cores_obtained` (the workers' CPU time, all threads, over the wall time) shows how much of the
machine the workers got; `networks_per_cpu_min` is the throughput per core-minute actually used.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python benchmarks/bench_sweep.py`

from benchmarks.common import check  # noqa: E402
from rnncondense.config import config_from_dict  # noqa: E402

SIZES = [20, 50]
SEEDS = 3
MAX_ITERS = 10
GOAL_PEAK_MB = 1024.0


def _load() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def _one(n_workers: int, *, xla_multithread: bool = False) -> dict:
    from rnncondense.runs.sweep import run_sweep

    config = config_from_dict({"train": {"trainer": "hf", "max_iters": MAX_ITERS, "stop_on_success": False}})
    saved = os.environ.get("XLA_FLAGS")
    if xla_multithread:  # local_cluster keeps a setting already present in the environment
        os.environ["XLA_FLAGS"] = f"{saved or ''} --xla_cpu_multi_thread_eigen=true".strip()
    load_before = _load()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = run_sweep(config, sizes=SIZES, seeds=SEEDS, out=Path(tmp) / "sweep", n_workers=n_workers,
                               figures=True)
            wall_s = time.perf_counter() - start
    finally:
        if saved is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = saved
    if result.failed:
        raise RuntimeError(f"networks failed in the benchmark sweep: {result.failed}")
    peaks = [row["peak_rss_mb"] for row in result.rows]
    train_s = [row["train_time_s"] for row in result.rows]
    cpu_s = sum(row["cpu_time_s"] for row in result.rows)
    return {
        "workers": n_workers,
        "networks": len(result.rows),
        "wall_s": wall_s,
        "networks_per_min": 60.0 * len(result.rows) / wall_s,
        "median_train_time_s": sorted(train_s)[len(train_s) // 2],
        "worker_cpu_s": cpu_s,
        "cores_obtained": cpu_s / wall_s,  # worker CPU time over wall time: < workers when the machine is shared
        "networks_per_cpu_min": 60.0 * len(result.rows) / cpu_s,
        "peak_worker_rss_mb": max(peaks),
        "load_avg_1min_before": load_before,
        "load_avg_1min_after": _load(),
    }


def run() -> dict:
    one = _one(1)
    two = _one(2)
    oversubscribed = _one(2, xla_multithread=True)
    peak = max(one["peak_worker_rss_mb"], two["peak_worker_rss_mb"])
    return {
        "sweep": {"sizes": SIZES, "seeds": SEEDS, "trainer": "hf", "max_iters": MAX_ITERS, "task": "default"},
        "cpu_count": os.cpu_count(),
        "workers_1": one,
        "workers_2": two,
        "workers_2_xla_multithread": oversubscribed,
        "speedup_2_vs_1_workers": two["networks_per_min"] / one["networks_per_min"],
        "single_thread_gain_2_workers": two["networks_per_min"] / oversubscribed["networks_per_min"],
        "peak_worker_rss_mb": peak,
        "goal_peak_worker_rss_mb": GOAL_PEAK_MB,
        "meets_memory_goal": peak <= GOAL_PEAK_MB,
    }


def checks(result: dict) -> list[dict]:
    return [check("sweep: peak memory of a worker (MB)", result["peak_worker_rss_mb"], GOAL_PEAK_MB)]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
