"""Ensemble throughput: networks trained per minute at N = 10, 50, 200 for ensembles of 1, 4 and 16
members, Adam and Hessian-free, every member running the same iterations.

Each ensemble is trained by `train_ensemble` into a temporary directory (the default task and
trainer settings, `stop_on_success` off, validation every `EVAL_EVERY` iterations as in a run,
checkpoints at the end only). Its time per iteration is read from the members' histories: the
elapsed time from the end of the first validated iteration (by then the step and the validation
programs are compiled) to the last, over the iterations between (a whole number of validation
periods), so compilation is excluded and validation, host bookkeeping and the compiled step are in.
Networks per minute = members / (time per iteration x a nominal run of NOMINAL_ITERS iterations).
The ensemble of 1 is the one-network-at-a-time baseline (the same program a single run compiles,
with a member axis of length 1). The machine may be shared: the 1-minute load average is recorded.

Hessian-free's loops (CG, backtracking, line search) run until the slowest member is done: a
vmapped iteration costs the largest member's CG count, which `cg_iters_max_over_mean` reports.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python benchmarks/bench_ensemble.py`

import numpy as np  # noqa: E402

from benchmarks.common import check  # noqa: E402
from rnncondense import layout, storage  # noqa: E402
from rnncondense.config import config_from_dict  # noqa: E402

SIZES = [10, 50, 200]
MEMBERS = [1, 4, 16]
TIMED_ITERS = {"adam": 20, "hf": 3}  # measured iterations per ensemble (after the first validation)
EVAL_EVERY = {"adam": 10, "hf": 1}  # the trainers' defaults
NOMINAL_ITERS = {"adam": 300, "hf": 30}  # a network "trained": the default sweep's 30 HF iterations
GOALS = {"speedup_16_small": 4.0, "speedup_16_n200": 1.5}


def _load() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def _ensemble(trainer: str, n_units: int, members: int, timed: int) -> dict:
    from rnncondense.runs.ensemble import train_ensemble

    configs = [
        config_from_dict({"model": {"n_units": n_units},
                          "train": {"trainer": trainer, "seed": seed, "max_iters": EVAL_EVERY[trainer] + timed, "stop_on_success": False,
                                    "eval_every": EVAL_EVERY[trainer], "checkpoint_every": 10**6}})
        for seed in range(members)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [Path(tmp) / f"m{k}" for k in range(members)]
        load = _load()
        train_ensemble(configs, dirs)
        tensors, _ = storage.load_tensors(dirs[0] / layout.CHECKPOINT_FILE, kind="checkpoint")
        elapsed = tensors["history/elapsed_s"]
        cg = [storage.load_tensors(d / layout.CHECKPOINT_FILE, kind="checkpoint")[0].get("history/cg_iters") for d in dirs]
    first = EVAL_EVERY[trainer] - 1  # the row of the first validation
    per_iter_s = float(elapsed[-1] - elapsed[first]) / timed
    row = {
        "trainer": trainer,
        "n_units": n_units,
        "members": members,
        "until_first_validation_s": float(elapsed[first]),  # compilation included
        "per_iteration_s": per_iter_s,
        "networks_per_min": 60.0 * members / (per_iter_s * NOMINAL_ITERS[trainer]),
        "load_avg_1min": load,
    }
    if trainer == "hf":
        cg_iters = np.stack([c[first + 1 :] for c in cg])  # (members, timed)
        row["cg_iters_max_over_mean"] = float(np.mean(cg_iters.max(axis=0) / cg_iters.mean(axis=0)))
    return row


def run(sizes=SIZES, members=MEMBERS, trainers=("adam", "hf"), timed=TIMED_ITERS) -> dict:
    rows = []
    for trainer in trainers:
        for n in sizes:
            for s in members:
                print(f"  {trainer} N = {n}, {s} members", file=sys.stderr, flush=True)
                rows.append(_ensemble(trainer, n, s, timed[trainer]))
    base = {(r["trainer"], r["n_units"]): r["networks_per_min"] for r in rows if r["members"] == 1}
    for r in rows:
        r["speedup_vs_one_at_a_time"] = r["networks_per_min"] / base[(r["trainer"], r["n_units"])] if (r["trainer"], r["n_units"]) in base else None
    return {
        "nominal_iterations": NOMINAL_ITERS,
        "timed_iterations": dict(timed),
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "goals": GOALS,
    }


def checks(result: dict) -> list[dict]:
    """Per trainer: 16 members against 1, at the largest N <= 50 measured (goal 4x) and at N = 200 (1.5x)."""
    out = []
    for trainer in ("adam", "hf"):
        rows = {(r["n_units"], r["members"]): r for r in result["rows"] if r["trainer"] == trainer}
        for n, goal, name in ((10, "speedup_16_small", "N = 10"), (50, "speedup_16_small", "N = 50"),
                              (200, "speedup_16_n200", "N = 200")):
            row = rows.get((n, 16))
            measured = row["speedup_vs_one_at_a_time"] if row else None
            out.append(check(f"{trainer} ensemble of 16 / one at a time, {name}", measured, result["goals"][goal],
                             at_most=False))
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
