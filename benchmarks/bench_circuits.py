"""Benchmarks of the circuit models.

* respiratory: 10 s of model time with `solve_ivp` (LSODA) against the fixed-step Python-loop
  baseline (forward Euler at the config's `loop_dt_ms`, 0.05 ms); goal: >= 20x faster. The loop at
  a 10x coarser step (0.5 ms), which the CPG still tolerates, is reported for context, with the
  period each integrator measures.
* ring: 100 units x 1,000 steps after compilation; goal: < 20 ms (median). Both the public
  `simulate_ring` call and the bare jitted scan are timed.

`run()` returns JSON-ready numbers, medians over repeats measured in this one run.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import check

from rnncondense.circuits.respiratory import (
    RespiratoryConfig,
    measure_rhythm,
    simulate_respiratory,
    simulate_respiratory_loop,
)
from rnncondense.circuits.ring import RingConfig, _scan, preferred_deg, ring_weights, simulate_ring

RESPIRATORY_MS = 10_000.0
RING_UNITS, RING_STEPS = 100, 1_000


def _median_seconds(work: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, value


def bench_respiratory(*, ivp_repeats: int = 7, loop_repeats: int = 3) -> dict[str, Any]:
    config = RespiratoryConfig(duration_ms=RESPIRATORY_MS, transient_ms=2000.0)
    ivp_s, ivp_all, ivp = _median_seconds(lambda: simulate_respiratory(config), ivp_repeats)
    loop_s, loop_all, loop = _median_seconds(lambda: simulate_respiratory_loop(config), loop_repeats)
    coarse_dt = 10.0 * config.loop_dt_ms
    coarse_s, coarse_all, coarse = _median_seconds(
        lambda: simulate_respiratory_loop(config, dt_ms=coarse_dt), loop_repeats
    )

    def period(result) -> float:
        return measure_rhythm(result, transient_ms=config.transient_ms).period_ms

    return {
        "model_time_ms": RESPIRATORY_MS,
        "solve_ivp": {"method": config.method, "rtol": config.rtol, "median_s": ivp_s, "runs_s": ivp_all,
                      "rhs_evaluations": ivp.n_rhs, "period_ms": period(ivp)},
        "python_loop": {"dt_ms": config.loop_dt_ms, "median_s": loop_s, "runs_s": loop_all,
                        "steps": loop.n_rhs, "period_ms": period(loop)},
        "python_loop_coarse": {"dt_ms": coarse_dt, "median_s": coarse_s, "runs_s": coarse_all,
                               "period_ms": period(coarse)},
        "speedup": loop_s / ivp_s,
        "speedup_vs_coarse_loop": coarse_s / ivp_s,
        "goal_speedup": 20.0,
        "goal_met": loop_s / ivp_s >= 20.0,
    }


def bench_ring(*, repeats: int = 30) -> dict[str, Any]:
    config = RingConfig(n_units=RING_UNITS, dt_ms=0.1, duration_ms=RING_STEPS * 0.1, settle_ms=1.0)
    simulate_ring(config, speed_deg_per_s=30.0)  # compile
    public_s, public_all, _ = _median_seconds(lambda: simulate_ring(config, speed_deg_per_s=30.0), repeats)
    with jax.enable_x64(True):
        args = (
            jnp.asarray(ring_weights(config)),
            jnp.asarray(np.deg2rad(2.0 * preferred_deg(RING_UNITS))),
            jnp.full(RING_UNITS, 0.1),
            jnp.float64(1.0),
            jnp.float64(0.1),
            jnp.float64(0.0),
            jnp.float64(1e-3),
            jnp.float64(0.01),
            jnp.float64(0.1),
        )
        _scan(*args, n_steps=RING_STEPS).block_until_ready()  # compile
        scan_s, scan_all, _ = _median_seconds(lambda: _scan(*args, n_steps=RING_STEPS).block_until_ready(), repeats)
    return {
        "units": RING_UNITS,
        "steps": RING_STEPS,
        "simulate_ring_median_ms": 1000.0 * public_s,
        "simulate_ring_runs_ms": [1000.0 * t for t in public_all],
        "scan_median_ms": 1000.0 * scan_s,
        "goal_ms": 20.0,
        "goal_met": 1000.0 * public_s <= 20.0,
    }


def run() -> dict[str, Any]:
    """All circuit benchmarks; JSON-ready."""
    return {
        "benchmark": "circuits",
        "machine": {"python": platform.python_version(), "jax": jax.__version__, "backend": jax.default_backend()},
        "respiratory": bench_respiratory(),
        "ring": bench_ring(),
    }


def checks(result: dict[str, Any]) -> list[dict]:
    respiratory, ring = result["respiratory"], result["ring"]
    return [
        check("respiratory: solve_ivp speedup over the Euler loop", respiratory["speedup"], respiratory["goal_speedup"],
              at_most=False),
        check(f"ring: {ring['units']} units x {ring['steps']} steps (ms)", ring["simulate_ring_median_ms"], ring["goal_ms"]),
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
