"""Fixed points of a trained 200-unit default network: all 8 contexts (cue held, no Set), timed cold
(with compilation) and warm, wall and CPU seconds, and the slowest time constant per context.

The network: RNNCONDENSE_FP_RUN names a trained run directory; without it the default config is
trained here first (Hessian-free, about a minute on a free 2-core machine; not timed). Starts:
64 per context from the noise-free condition trajectories after cue onset, plus N(0, 0.1^2).
CPU seconds are reported beside wall seconds because on a shared machine the wall time says more
about the neighbours than about the code; run with OPENBLAS_NUM_THREADS=1 on a loaded machine
(OpenBLAS's spinning threads otherwise multiply the LAPACK calls' time by up to 30). The goal
(under 30 s on 2 cores) is checked on the cold CPU seconds: on two free cores the wall time is at
most the CPU time (and at least half of it).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from benchmarks.common import check
from rnncondense.analysis.fixed_points import context_fixed_points, held_inputs
from rnncondense.config import load_config
from rnncondense.rnn import simulate
from rnncondense.tasks import make_task
from rnncondense.runs.train import load_run, train_run

ROOT = Path(__file__).resolve().parent.parent


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def analyse(run_dir: Path) -> dict:
    config, params = load_run(run_dir)
    task = make_task(config.task)
    states = np.asarray(simulate(params, task.condition_batch().inputs, alpha=config.alpha).states)
    states = states[:, int(round(config.task.cue_onset_ms / task.dt_ms)):]
    inputs = held_inputs(task.cue_levels)
    timings = {}
    for label, seed in (("cold", 0), ("warm", 1)):
        wall, cpu = time.perf_counter(), _cpu_s()
        result = context_fixed_points(params, inputs, states, jax.random.PRNGKey(seed), alpha=config.alpha, dt_ms=task.dt_ms)
        timings[f"{label}_wall_s"], timings[f"{label}_cpu_s"] = time.perf_counter() - wall, _cpu_s() - cpu
    return {
        "n_units": int(params.W_rec.shape[0]),
        **timings,
        "load_average": os.getloadavg()[0],
        "intervals_ms": [float(i) for i in task.intervals_ms],
        "cue_levels": [float(c) for c in task.cue_levels],
        "n_points": [len(fp.q) for fp in result.per_context],
        "n_stable": result.n_stable.tolist(),
        "n_saddle": result.n_saddle.tolist(),
        "n_unstable": result.n_unstable.tolist(),
        "slow_manifold_dim": result.slow_manifold_dim.tolist(),
        "slowest_time_constant_ms": result.slowest_time_constant_ms.tolist(),
        "max_q": max(float(fp.q.max()) for fp in result.per_context if fp.q.size),
    }


def run() -> dict:
    given = os.environ.get("RNNCONDENSE_FP_RUN")
    if given:
        measured = analyse(Path(given))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            train_run(load_config(ROOT / "configs" / "default.toml"), Path(tmp) / "run")
            measured = analyse(Path(tmp) / "run")
    return {"description": __doc__.strip().splitlines()[0], "goals": {"eight_contexts_s": 30.0}, "trained": measured}


def checks(result: dict) -> list[dict]:
    trained = result["trained"]
    return [check("8 contexts, 200 units, cold CPU seconds", trained.get("cold_cpu_s"), result["goals"]["eight_contexts_s"])]
