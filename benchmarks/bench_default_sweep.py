"""The default sweep: its wall time and workers' memory, and its floor, the CPU time its networks
need once their programs are compiled.

For every size of the default sweep (`configs/sweep.toml`: 5, 10, 20, 50, 100, 200 units, 30
Hessian-free iterations), one process trains and analyses a network exactly as a sweep worker does
(the worker's settings, `runtime.prepare_worker`; `train_run`, then `analyze_run` with the sweep's
fixed-point preset; then `runtime.release_memory`, which drops the process's compiled programs)
with seed 0, which compiles its programs into a fresh persistent compilation cache, then again
with seed 1, which loads them from that cache as a sweep worker does; the second's CPU time (all
threads of the process) is a network's cost. XLA runs single-threaded, as in a sweep worker.

No schedule can finish the sweep's networks on C cores in less than

    floor_s = seeds x sum over sizes of cpu_s(size) / C

(compilation, cluster start-up, idle cores and the table excluded), whatever it batches: an
ensemble does the same arithmetic (`bench_batching_floor`, `bench_ensemble`). The checks compare
that floor with the goals for a sweep of 5 and of 20 seeds per size on this machine's cores: a goal
below the floor cannot be met by any scheduling or batching, only by doing less work per network.

Then the default sweep itself (6 sizes x 5 seeds) runs with `run_sweep` on a local cluster of one
worker per core, once for each of ENSEMBLE_SIZES (1: every network alone; 5: each size's seeds as
one ensemble), each into a fresh directory with a fresh, empty compilation cache (a first run on a
machine): its wall time, the ratio of that to the floor, and the workers' peak memory (VmHWM, from
each network's result.json).

`python benchmarks/bench_default_sweep.py --sweep-seeds 20` runs one such sweep alone (every
network alone, 20 seeds per size, about 28 minutes on 2 cores) and prints its row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python benchmarks/bench_sweep_floor.py`

from benchmarks.common import check  # noqa: E402

SIZES = [5, 10, 20, 50, 100, 200]
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "sweep.toml"
GOALS_S = {5: 300.0, 20: 900.0}  # seeds per size: the wall-time goals of the default sweep and of 20 seeds
SWEEP_SEEDS = 5
ENSEMBLE_SIZES = [1, 5]
GOAL_WALL_OVER_FLOOR = 1.25  # the goal the floor leaves: the sweep within 25 % of it, compilation included
GOAL_PEAK_MB = 1024.0


def _network(config, run_dir: Path) -> dict:
    from rnncondense.runs.analyze import analyze_run
    from rnncondense.runs.sweep_network import SOLUTION_FIXED_POINTS, SOLUTION_K
    from rnncondense.runs.train import train_run
    from rnncondense.runtime import release_memory

    start, cpu = time.perf_counter(), time.process_time()
    train_run(config, run_dir)
    train_s, train_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    analyze_run(run_dir, k=min(SOLUTION_K, config.model.n_units), noise=False, figures=False,
                fixed_points=SOLUTION_FIXED_POINTS)
    release_memory()
    return {"train_s": train_s, "train_cpu_s": train_cpu_s, "analysis_s": time.perf_counter() - start - train_s,
            "cpu_s": time.process_time() - cpu}


def _size(base: dict, n: int, tmp: Path) -> dict:
    from rnncondense.config import config_from_dict

    row: dict = {"n_units": n}
    for seed, label in ((0, "compiling"), (1, "compiled")):
        data = json.loads(json.dumps(base))
        data["model"]["n_units"], data["train"]["seed"] = n, seed
        print(f"  N = {n}, seed {seed} ({label})", file=sys.stderr, flush=True)
        row[label] = _network(config_from_dict(data), tmp / f"n{n}_s{seed}")
    return row


def _measure(sizes: list[int]) -> list[dict]:
    """In this process (started by `run`, with the worker's thread settings): the rows."""
    import jax

    from rnncondense.config import config_to_dict, load_config
    from rnncondense.runtime import enable_compilation_cache, prepare_worker

    prepare_worker(None)  # as a sweep worker compiles and allocates
    base = config_to_dict(load_config(CONFIG))
    with tempfile.TemporaryDirectory() as tmp:
        enable_compilation_cache(Path(tmp) / "compilation-cache")  # empty: seed 0 compiles, seed 1 loads
        rows = [_size(base, n, Path(tmp)) for n in sizes]
        jax.config.update("jax_compilation_cache_dir", None)
    return rows


def _sweep(sizes: list[int], ensemble_size: int, seeds: int = SWEEP_SEEDS) -> dict:
    """The default sweep (or the same sizes with more seeds) on a fresh local cluster, with a fresh
    compilation cache."""
    from rnncondense.config import load_config
    from rnncondense.runs.sweep import run_sweep
    from rnncondense.runtime import compilation_cache_in_use, enable_compilation_cache

    import jax

    saved = compilation_cache_in_use()
    with tempfile.TemporaryDirectory() as tmp:
        enable_compilation_cache(Path(tmp) / "compilation-cache")
        try:
            start = time.perf_counter()
            result = run_sweep(load_config(CONFIG), sizes=sizes, seeds=seeds, out=Path(tmp) / "sweep",
                               ensemble_size=ensemble_size)
            wall_s = time.perf_counter() - start
        finally:
            jax.config.update("jax_compilation_cache_dir", saved)
    if result.failed:
        raise RuntimeError(f"networks failed in the benchmark sweep: {result.failed}")
    return {"ensemble_size": ensemble_size, "seeds": seeds, "networks": len(result.rows), "wall_s": wall_s,
            "worker_cpu_s": sum(row["cpu_time_s"] for row in result.rows),
            "peak_worker_rss_mb": max(row["peak_rss_mb"] for row in result.rows),
            "success_fraction": sum(row["success"] == 1.0 for row in result.rows) / len(result.rows)}


def run(sizes=SIZES, ensemble_sizes=ENSEMBLE_SIZES) -> dict:
    """Measure in a fresh process with a sweep worker's thread settings (`runtime.limit_threads`):
    XLA's settings are fixed when its backend starts, which in `make bench` an earlier benchmark did."""
    from rnncondense.runtime import limit_threads

    env = limit_threads(dict(os.environ))
    child = subprocess.run([sys.executable, __file__, "--measure", ",".join(map(str, sizes))], env=env,
                           stdout=subprocess.PIPE, check=True, text=True)
    rows = json.loads(child.stdout.strip().splitlines()[-1])
    base_iters = tomllib.loads(CONFIG.read_text())["train"]["max_iters"]
    cores = len(os.sched_getaffinity(0))
    per_seed_cpu_s = sum(r["compiled"]["cpu_s"] for r in rows)
    sweeps = []
    for ensemble_size in ensemble_sizes:
        print(f"  the default sweep, ensembles of {ensemble_size}", file=sys.stderr, flush=True)
        sweeps.append(_sweep(sizes, ensemble_size))
    floor_s = SWEEP_SEEDS * per_seed_cpu_s / cores
    for row in sweeps:
        row["wall_over_floor"] = row["wall_s"] / floor_s
    return {
        "config": CONFIG.name,
        "max_iters": base_iters,
        "xla_flags": env.get("XLA_FLAGS", ""),
        "cores": cores,
        "rows": rows,
        "cpu_s_per_seed_over_sizes": per_seed_cpu_s,
        "floor_s": {str(seeds): seeds * per_seed_cpu_s / cores for seeds in GOALS_S},
        "compile_cpu_s": sum(r["compiling"]["cpu_s"] - r["compiled"]["cpu_s"] for r in rows),
        "goals_s": {str(k): v for k, v in GOALS_S.items()},
        "sweeps": sweeps,
        "goal_wall_over_floor": GOAL_WALL_OVER_FLOOR,
        "goal_peak_worker_rss_mb": GOAL_PEAK_MB,
    }


def checks(result: dict) -> list[dict]:
    """The floor of a 6-size sweep of 5 and of 20 seeds against its wall-time goal on these cores;
    each default sweep run: its wall time against the goal, against the floor, and its memory."""
    out = [check(f"default sweep floor, {seeds} seeds x 6 sizes, {result['cores']} cores (s)",
                 result["floor_s"][seeds], result["goals_s"][seeds]) for seeds in result["goals_s"]]
    for row in result.get("sweeps", []):
        name = f"default sweep, ensembles of {row['ensemble_size']}"
        out += [check(f"{name}: wall time (s)", row["wall_s"], result["goals_s"][str(SWEEP_SEEDS)]),
                check(f"{name}: wall time / floor", row["wall_over_floor"], result["goal_wall_over_floor"]),
                check(f"{name}: peak memory of a worker (MB)", row["peak_worker_rss_mb"], result["goal_peak_worker_rss_mb"])]
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(_measure([int(n) for n in sys.argv[2].split(",")])))
    elif len(sys.argv) == 3 and sys.argv[1] == "--sweep-seeds":  # one sweep alone (20 seeds: about 28 min)
        print(json.dumps(_sweep(SIZES, 1, seeds=int(sys.argv[2])), indent=2))
    elif len(sys.argv) == 1:
        print(json.dumps(run(), indent=2))
    else:
        sys.exit(f"usage: {sys.argv[0]} [--sweep-seeds SEEDS]  (no argument: the whole benchmark, about 20 min)")
