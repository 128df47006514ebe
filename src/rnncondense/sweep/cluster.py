"""Where a sweep runs: a local Dask cluster (default) or an existing one given its scheduler address.

The local cluster has one single-threaded worker process per core (`available_cores`), each
started with the single-thread settings of `runtime.THREAD_ENV`, and a scheduler that retries a
network whose worker died up to ALLOWED_FAILURES times before reporting it failed. Its
`worker-saturation` is 1.0, so a worker holds only the network it is training: when a worker
dies, only that network counts the failure.

An existing cluster is reached with `connect(address, timeout_s=...)`, which first asks the server
at the address who it is (one short connection, bounded by the timeout), so a wrong or dead address
fails within the timeout with one line; the scheduler keeps its own settings (Dask's default
`allowed-failures` is 3).
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings

import dask
from distributed import Client, LocalCluster

from rnncondense.errors import ConfigError
from rnncondense.runtime import THREAD_ENV, heap_environ, limit_threads

__all__ = ["available_cores", "local_cluster", "connect", "check_workers", "ALLOWED_FAILURES", "CONNECT_TIMEOUT_S"]

ALLOWED_FAILURES = 3  # worker deaths a network may cause before it is reported failed (Dask's default)
CONNECT_TIMEOUT_S = 5.0
MAX_WORKERS = 1024


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def check_workers(n_workers: object) -> int | None:
    """Validate a worker count (None: one per core)."""
    if n_workers is None:
        return None
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or not 1 <= n_workers <= MAX_WORKERS:
        raise ConfigError(f"workers (--workers) = {n_workers!r} is not allowed: it must be an integer in [1, {MAX_WORKERS}]")
    from rnncondense.memory import check_workers as check_memory

    check_memory(n_workers)  # ~130 MB per idle worker
    return n_workers


def local_cluster(n_workers: int | None = None, *, allowed_failures: int = ALLOWED_FAILURES) -> LocalCluster:
    """A LocalCluster of `n_workers` (default: one per core) single-threaded worker processes.

    Every worker gets OMP/OpenBLAS/MKL_NUM_THREADS = 1 and XLA_FLAGS with
    --xla_cpu_multi_thread_eigen=false, and starts with the heap settings of
    `runtime.heap_environ` (one heap for all its threads), through Dask's
    distributed.nanny.pre-spawn-environ; values already in this process's environment are kept.
    Dask's nanny also sets those variables in this process's environment when it starts a worker.
    Dask's statistical profiler is off in the workers (its samples grew a worker's memory by
    about 10 MB a minute).
    """
    n_workers = check_workers(n_workers) or available_cores()
    env = limit_threads({name: os.environ[name] for name in THREAD_ENV if name in os.environ})
    settings = {
        "distributed.scheduler.allowed-failures": int(allowed_failures),
        "distributed.scheduler.worker-saturation": 1.0,
        # Dask's statistical profiler samples the task's stack every 10 ms and keeps 1000 one-second
        # profiles: in a sweep worker 45-54 MB after 373 of them, a worker's peak growing with the sweep
        "distributed.worker.profile.enabled": False,
        # before the worker's process starts: set later (steady_heap), the arena limit misses the
        # threads a worker starts first, which then keep heaps of their own
        "distributed.nanny.pre-spawn-environ": {**dask.config.get("distributed.nanny.pre-spawn-environ", {}),
                                                **heap_environ()},
    }
    env.setdefault("PYTHONWARNINGS", "ignore")  # Dask's own warnings stay off the user's terminal
    with dask.config.set(settings), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Port 8787 is already in use"
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            env=env,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # worker deaths and task errors are reported by the sweep itself
        )


def connect(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> Client:
    """A client of the scheduler at `address` (e.g. tcp://host:8786).

    Raises:
        ConfigError: the address is malformed, or no scheduler answered within `timeout_s` seconds.
    """
    if not isinstance(address, str) or "://" not in address:
        raise ConfigError(
            f"scheduler (--scheduler) = {address!r} is not allowed: give a Dask scheduler address such as tcp://host:8786"
        )
    try:
        identity = asyncio.run(_identity(address, timeout_s))
    except ValueError as error:
        raise ConfigError(
            f"scheduler (--scheduler) = {address!r} is not allowed: {error}; give an address such as tcp://host:8786"
        ) from None
    except Exception as error:  # refused, timed out, or something else that does not speak Dask's protocol
        raise ConfigError(
            f"scheduler (--scheduler) = {address!r} is not reachable: no Dask scheduler answered within {timeout_s:g} s "
            f"({_describe(error)}); check the address, or omit --scheduler to run on a local cluster"
        ) from None
    if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
        kind = identity.get("type") if isinstance(identity, dict) else type(identity).__name__
        raise ConfigError(
            f"scheduler (--scheduler) = {address!r} is not allowed: it is a Dask {kind}, not a scheduler; "
            "give the scheduler's address (e.g. dask-jobqueue's cluster.scheduler_address)"
        )
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ConfigError(
            f"scheduler (--scheduler) = {address!r} is not reachable: the scheduler did not accept a client within "
            f"{timeout_s:g} s ({error})"
        ) from None


async def _identity(address: str, timeout_s: float) -> dict:
    """The `identity` of the Dask server at `address` (a short-lived connection, bounded in time)."""
    from distributed.core import rpc

    server = rpc(address, timeout=timeout_s)
    try:
        return await asyncio.wait_for(server.identity(), timeout_s)
    finally:
        await server.close_rpc()


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
