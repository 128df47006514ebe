"""The memory a run needs, estimated from its config before any work starts, and refused early.

A config can pass every field check and still need more memory than the machine has: a huge step
count once asked XLA for a 48.9 GB buffer, and 20000 units took 5 GB within 8 s, long after the
command had started. `check_memory` refuses such a config at validation time with one line naming
the buffer, its size and the memory available.

The estimate is a lower bound, so that nothing that would fit is refused. Simulating B trials of
T steps of N units (`rnn.simulate`) holds at least three float32 (B, T, N) arrays at once: the
states and rates it returns (`Trajectory`) and the input drive computed for all steps outside the
scan (its custom JVP); training needs their adjoints on top. Hessian-free may simulate its
gradient batch one minibatch at a time (`train.hf.gradient_by_minibatch`); B is then the
minibatch's. The weights need at least `WEIGHT_COPIES` (N, N) float32 matrices: parameters,
gradient, best parameters and the trainer's own (Adam's two moments; Hessian-free's CG solution,
residual, direction and curvature product).

Available memory is MemAvailable of /proc/meminfo, lowered to what the cgroup (v2 memory.max less
memory.current) still allows, where those files exist; elsewhere nothing is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rnncondense.config import RunConfig, gradient_by_minibatch
from rnncondense.errors import ConfigError

__all__ = ["Estimate", "largest_buffer", "available_bytes", "check_memory", "check_workers", "check_sweep", "check_ensemble",
           "format_bytes"]

FLOAT_BYTES = 4  # float32
TRAJECTORY_COPIES = 3  # states, rates and input drive, each (B, T, N)
WEIGHT_COPIES = {"adam": 5, "hf": 7}  # params, gradient, best; + 2 moments, or + 4 CG vectors


class Estimate(NamedTuple):
    """The largest buffer of a run: its size in bytes and what it is, e.g.
    'train.adam.batch_size 64 x 25001 steps x 200 units x 4 bytes x 3'."""

    bytes: int
    description: str


def largest_buffer(config: RunConfig) -> Estimate:
    """A lower bound of the largest set of arrays that training and validating `config` hold at once."""
    units = config.model.n_units
    if config.task.name == "arrays":  # trials from a file: its own length and validation part
        from rnncondense.tasks.arrays import load_trials, split_trials

        trials = load_trials(config.task.path)
        steps = int(trials.inputs.shape[1])
        validation = len(split_trials(trials.condition, config.task.validation_fraction, config.task.split_seed)[1])
        validation_source = "task.validation_fraction of the file's trials"
    else:
        steps = config.task.n_steps
        validation = config.task.val_trials_per_interval * len(config.task.intervals_ms)
        validation_source = "task.val_trials_per_interval x intervals"
    if config.train.trainer == "adam":
        train_field, train_batch = "train.adam.batch_size", config.train.adam.batch_size
    elif gradient_by_minibatch(config.train.hf, units):  # one curvature minibatch at a time
        train_field, train_batch = "train.hf.curvature_batch_size", config.train.hf.curvature_batch_size
    else:
        train_field, train_batch = "train.hf.gradient_batch_size", config.train.hf.gradient_batch_size
    candidates = [
        Estimate(train_batch * steps * units * FLOAT_BYTES * TRAJECTORY_COPIES,
                 f"{train_field} {train_batch} x {steps} steps x {units} units x {FLOAT_BYTES} bytes x {TRAJECTORY_COPIES}"),
        Estimate(validation * steps * units * FLOAT_BYTES * TRAJECTORY_COPIES,
                 f"{validation} validation trials ({validation_source}) x {steps} steps x "
                 f"{units} units x {FLOAT_BYTES} bytes x {TRAJECTORY_COPIES}"),
        Estimate(units * units * FLOAT_BYTES * WEIGHT_COPIES[config.train.trainer],
                 f"{units} x {units} recurrent weights x {FLOAT_BYTES} bytes x {WEIGHT_COPIES[config.train.trainer]} "
                 f"copies ({config.train.trainer})"),
    ]
    return max(candidates)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes(meminfo: str | Path = "/proc/meminfo", cgroup: str | Path = "/sys/fs/cgroup") -> int | None:
    """Bytes of memory a new allocation can still get (None where the platform does not say)."""
    available = None
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        return None
    limit, used = _read_int(Path(cgroup) / "memory.max"), _read_int(Path(cgroup) / "memory.current")
    if available is not None and limit is not None and used is not None:
        available = min(available, max(limit - used, 0))
    return available


def format_bytes(count: float) -> str:
    """1.5e10 -> '15.0 GB' (powers of 1000, as MemAvailable is commonly read)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def check_memory(config: RunConfig, *, source: str = "config", available: int | None = None) -> Estimate:
    """Refuse `config` if its largest buffer (`largest_buffer`) exceeds the memory available.

    Args:
        config: a validated run configuration.
        source: what the message names first (the config file, say).
        available: bytes available (default: `available_bytes()`; None there: nothing is refused).

    Returns:
        The estimate.

    Raises:
        ConfigError: one line with the buffer, its size and the memory available.
    """
    estimate = largest_buffer(config)
    available = available_bytes() if available is None else available
    if available is not None and estimate.bytes > available:
        raise ConfigError(
            f"{source}: needs at least {format_bytes(estimate.bytes)} for one buffer ({estimate.description}), more than "
            f"the {format_bytes(available)} of memory available; lower model.n_units, the batch size or the trial "
            "length (task.intervals_ms, task.tail_ms), or raise task.dt_ms"
        )
    return estimate


# An idle Dask worker process of a sweep (Python, JAX and distributed imported) holds about 130 MB:
# 12 idle workers took 1.6 GB. A worker count whose idle workers alone exceed the memory available
# is refused before the cluster starts.
WORKER_IDLE_BYTES = 130_000_000


def check_workers(n_workers: int, *, available: int | None = None) -> None:
    """Refuse `n_workers` local sweep workers if their idle memory exceeds the memory available.

    Raises:
        ConfigError: one line with the count, the memory per worker, the memory available and the
            largest count allowed.
    """
    available = available_bytes() if available is None else available
    if available is not None and n_workers * WORKER_IDLE_BYTES > available:
        most = max(1, available // WORKER_IDLE_BYTES)
        raise ConfigError(
            f"workers (--workers) = {n_workers} is not allowed: an idle worker takes about "
            f"{format_bytes(WORKER_IDLE_BYTES)} and {format_bytes(available)} of memory is available, enough for at "
            f"most {most} workers"
        )


def check_sweep(configs: list[RunConfig], workers: int, *, source: str = "sweep", available: int | None = None,
                ensemble_size: int = 1) -> None:
    """Refuse a sweep whose `workers` x `ensemble_size` largest networks, trained at once (the sweep
    submits the largest first; a worker trains an ensemble's members at once), and its idle workers
    need more memory than is available. Each network is checked alone first (`check_memory`), so
    that message names its own buffer.

    Raises:
        ConfigError: one line with the total, its parts and the memory available.
    """
    available = available_bytes() if available is None else available
    for config in configs:
        check_memory(config, source=source, available=available)
    if available is None or not configs:
        return
    at_once = max(workers, 1) * max(ensemble_size, 1)
    largest = sorted((largest_buffer(config).bytes for config in configs), reverse=True)[:at_once]
    total = sum(largest) + workers * WORKER_IDLE_BYTES
    if total > available:
        held = f"{workers} workers" if ensemble_size <= 1 else f"{workers} workers with ensembles of {ensemble_size}"
        raise ConfigError(
            f"{source}: {held} training the largest networks at once need at least {format_bytes(total)} "
            f"(up to {format_bytes(largest[0])} for one network's buffer, plus {format_bytes(workers * WORKER_IDLE_BYTES)} "
            f"for the workers), more than the {format_bytes(available)} of memory available; use fewer --workers, "
            f"{'a smaller --ensemble-size, ' if ensemble_size > 1 else ''}or smaller sizes"
        )


def check_ensemble(configs: list[RunConfig], *, source: str = "ensemble", available: int | None = None) -> None:
    """Refuse an ensemble whose members' largest buffers, held at once (the members are one vmapped
    program: each buffer gains a leading member axis), need more memory than is available. Each
    member is checked alone first (`check_memory`), so that message names its own buffer.

    Raises:
        ConfigError: one line with the total, the member count and the memory available.
    """
    available = available_bytes() if available is None else available
    for config in configs:
        check_memory(config, source=source, available=available)
    if available is None or not configs:
        return
    buffers = [largest_buffer(config) for config in configs]
    total = sum(b.bytes for b in buffers)
    if total > available:
        raise ConfigError(
            f"{source}: {len(configs)} members trained at once need at least {format_bytes(total)} (each member's largest "
            f"buffer, up to {format_bytes(max(b.bytes for b in buffers))}: {max(buffers).description}), more than the "
            f"{format_bytes(available)} of memory available; train fewer members together"
        )
