"""Timing helpers shared by the benchmarks: medians over repeats, measured in one process."""

from __future__ import annotations

import math
import platform
import statistics
import time
from typing import Callable

import jax


def median_ms(fn: Callable[[], object], *, repeats: int = 15, warmup: int = 2) -> float:
    """Median wall time of `fn()` in ms; results are blocked on, compilation excluded by warm-up."""
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def machine() -> dict:
    import os

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def check(goal: str, measured: float | None, limit: float, *, at_most: bool = True) -> dict:
    """One goal of a benchmark: `measured` against `limit`, an upper bound or (at_most=False) a lower
    one. A value that was not measured (None, NaN) does not meet its goal."""
    met = measured is not None and math.isfinite(measured) and (measured <= limit if at_most else measured >= limit)
    return {"goal": goal, "measured": measured, "limit": f"{'<=' if at_most else '>='} {limit:g}", "met": bool(met)}
