"""`run_sweep`: train and analyse every network of a sweep on a Dask cluster, then tabulate and plot.

The client (this process) validates everything, skips finished networks, submits the others to the
cluster (largest networks first, so the long jobs start early and the short ones fill the gaps;
but first one network of every size, the pilots, so that one worker compiles each size's programs
and the others load them from this process's persistent compilation cache, if it has one, instead
of compiling the same programs side by side), reports progress, and finally assembles the table
from the networks' result.json files and draws the figures. The workers do the science
(`sweep_network.train_network`; with `ensemble_size` > 1, several networks of one size as one
ensemble, `ensemble_groups` and `sweep_network.train_networks`) and write each network's result
into its own directory as soon as it is done, so nothing finished is lost if the client, a worker
or the whole cluster stops; running the same sweep again continues it.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import xarray as xr

from rnncondense import layout, storage, ties
from rnncondense.config import RunConfig, config_digest
from rnncondense.dirlock import holding
from rnncondense.errors import ConfigError, RunDirError, UserError
from rnncondense.plots.sweep import SOLUTION_METRICS, TASK_METRICS, example_networks, metrics_against_size, unit_responses_by_size
from rnncondense.metrics import DYNAMICS_METRICS
from rnncondense.runs.analyze import read_activity
from rnncondense.runs.claim import claim
from rnncondense.runs.figures import save_figures
from rnncondense.runs.ensemble import ensemble_key
from rnncondense.runs.sweep_network import read_result, train_network, train_networks
from rnncondense.runs.sweep_table import result_row, write_tables
from rnncondense.sweep import cluster as clusters
from rnncondense.sweep.spec import SWEEP_FORMAT, Axis, NetworkJob, SweepSpec, make_spec
from rnncondense.runtime import compilation_cache_in_use

__all__ = ["run_sweep", "SweepProgress", "SweepResult"]

POLL_S = 1.0
# Networks per compiled program (`--ensemble-size`). One: on a 2-core CPU the default sweep took
# 637 s with each network alone and 742 s with each size's 5 seeds as one ensemble, whose 200-unit
# members took a worker to 1.7 GB (benchmarks/bench_default_sweep.py, README "Ensembles"): on a CPU
# each network is its own program, one per core. Larger ensembles are for accelerators.
ENSEMBLE_SIZE = 1
MAX_ENSEMBLE_SIZE = 1024


class SweepProgress(NamedTuple):
    """What a progress display needs; sent when the sweep starts, on every change and every poll."""

    total: int  # networks in the sweep
    done: int  # finished, including those skipped because an earlier run finished them
    running: int  # being trained now
    failed: int  # gave an error or lost their worker more often than the scheduler allows
    skipped: int  # finished before this call
    elapsed_s: float  # since this call started
    eta_s: float | None  # estimated seconds to the end; None until a network has finished
    last: str | None  # name of the network that finished (or failed) most recently


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep call: its directory, table, rows, failures and cost."""

    out: Path
    table: xr.Dataset  # results.nc: dims (size, seed[, axis field])
    rows: list[dict[str, Any]]  # results.csv, one row per network
    failed: dict[str, str]  # network name -> error, for the networks without a result
    trained: int  # networks finished by this call
    skipped: int  # networks finished before this call
    wall_s: float
    files: list[Path]  # tables and figures written


class _Durations:
    """Seconds per network, to estimate the time left: the median of finished networks of the same
    size, else a power law t = a n^b fitted to the per-size medians (0 <= b <= 3; b = 1 while only
    one size has finished: an HF iteration costs about n^1.3 from 20 to 200 units, plus a fixed
    compilation time)."""

    def __init__(self) -> None:
        self.by_size: dict[int, list[float]] = {}

    def add(self, size: int, seconds: float | None) -> None:
        if seconds is not None and math.isfinite(seconds) and seconds > 0:
            self.by_size.setdefault(size, []).append(seconds)

    def estimate(self, size: int) -> float | None:
        if size in self.by_size:
            return float(np.median(self.by_size[size]))
        if not self.by_size:
            return None
        sizes = np.array(sorted(self.by_size), dtype=float)
        medians = np.array([np.median(self.by_size[int(n)]) for n in sizes])
        slope = 1.0
        if len(sizes) > 1:
            slope = float(np.clip(np.polyfit(np.log(sizes), np.log(medians), 1)[0], 0.0, 3.0))
        intercept = float(np.mean(np.log(medians) - slope * np.log(sizes)))
        return float(np.exp(intercept + slope * np.log(size)))


def _task_key(out: Path, spec: SweepSpec, group: tuple[NetworkJob, ...]) -> str:
    """A Dask key unique to this sweep directory and group of networks (two sweeps can share a scheduler)."""
    token = hashlib.sha256(f"{out.resolve()}|{spec.record()}".encode()).hexdigest()[:10]
    return f"rnncondense-sweep-{token}-{'+'.join(job.name for job in group)}"


def check_ensemble_size(ensemble_size: object) -> int:
    """The validated `--ensemble-size` (ConfigError: one line naming the value and what is allowed)."""
    if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int) or not 1 <= ensemble_size <= MAX_ENSEMBLE_SIZE:
        raise ConfigError(
            f"ensemble size (--ensemble-size) = {ensemble_size!r} is not allowed: it must be an integer in "
            f"[1, {MAX_ENSEMBLE_SIZE}] (networks trained together in one compiled program; 1: each alone)"
        )
    return ensemble_size


def ensemble_groups(jobs: list[NetworkJob], ensemble_size: int) -> list[tuple[NetworkJob, ...]]:
    """`jobs` in groups trained as one ensemble each: networks of one size whose configs differ only
    in fields an ensemble may vary (`runs.ensemble.ensemble_key`), at most `ensemble_size` per group,
    largest networks first. A network that cannot be an ensemble member is a group of its own."""
    by_key: dict[tuple, list[NetworkJob]] = {}
    for job in sorted(jobs, key=lambda job: -job.size):
        key = ensemble_key(job.config) if ensemble_size > 1 else None
        by_key.setdefault((job.size, key if key is not None else job.name), []).append(job)
    groups = [tuple(members[i:i + ensemble_size]) for members in by_key.values()
              for i in range(0, len(members), ensemble_size)]
    return sorted(groups, key=lambda group: -group[0].size)  # stable: within a size, as the jobs came


PILOT_PRIORITY = 10**6  # above any size: the pilots go before every other network


def pilots(groups: list[tuple[NetworkJob, ...]]) -> set[int]:
    """Indices of the first group of every program (networks whose configs differ only in the seed
    share their compiled programs): each is submitted before all other groups, so one worker
    compiles those programs and later workers load them from the compilation cache."""
    first: dict[str, int] = {}
    for index, group in enumerate(groups):
        config = group[0].config
        unseeded = config.model_copy(update={"train": config.train.model_copy(update={"seed": 0})})
        first.setdefault(config_digest(unseeded), index)
    return set(first.values())


def _started_s(run_dir: Path, since: float) -> float | None:
    """When the running attempt of a network started (epoch s), if it started after `since`."""
    try:
        started = float(ties.read_json(run_dir / layout.NETWORK_ATTEMPT_FILE)["started"])
    except (UserError, KeyError, TypeError, ValueError):
        return None
    return started if started >= since else None


def _describe_error(error: BaseException | None) -> str:
    if error is None:
        return "cancelled"
    name = type(error).__name__
    if name == "KilledWorker":
        return f"KilledWorker: its worker died more often than the scheduler allows (allowed-failures); {error}"
    return f"{name}: {error}"


@holding("out", delegate=(layout.NETWORKS_DIR,))  # one writer per directory (dirlock); workers hold networks/<name>
def run_sweep(
    config: RunConfig,
    *,
    sizes: list[int],
    seeds: int,
    out: str | Path,
    scheduler: str | None = None,
    n_workers: int | None = None,
    axis: Axis | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    connect_timeout_s: float = clusters.CONNECT_TIMEOUT_S,
    figures: bool = True,
    poll_s: float = POLL_S,
    ensemble_size: int = ENSEMBLE_SIZE,
) -> SweepResult:
    """Train every (size, seed[, axis value]) network from scratch with the same budget, analyse it,
    and write DIR/results.csv, DIR/results.nc and DIR/figures.

    Every network trains for exactly `train.max_iters` iterations (the config must set
    `train.stop_on_success = false`), keeps its best validated network (`train_run`), and is
    analysed with `solution_metrics` on noise-free trials with k = 3 (k = size below 3 units).

    Args:
        config: the base run configuration; its model.n_units and train.seed are set per network.
        sizes: network sizes (units), distinct positive integers.
        seeds: networks per size; seeds 0, ..., seeds - 1 of train.seed.
        out: the sweep directory DIR (new, empty, or holding this same sweep, which is continued).
        scheduler: address of an existing Dask scheduler (tcp://host:port); None starts a local
            cluster of `n_workers` single-threaded worker processes (default: one per core).
        n_workers: workers of the local cluster; not allowed with `scheduler`.
        axis: an optional extra axis over any config field (`spec.parse_axis("model.g=1.0,1.5")`).
        on_progress: called with a SweepProgress at the start, on every change and every `poll_s` s.
        connect_timeout_s: how long to wait for `scheduler` to answer (s).
        figures: draw DIR/figures.
        ensemble_size: at most this many networks of one size train together as one ensemble
            (one compiled program, `runs.ensemble`; see `ensemble_groups`); 1 (ENSEMBLE_SIZE, the
            default measured on CPUs): each network alone. It does not change the sweep's identity:
            a sweep continued with another ensemble size gives the same networks, to float32 rounding.

    Returns:
        SweepResult; networks that failed (an error, or a worker lost more often than the
        scheduler allows) have rows with status "failed" and are retried by the next call.

    Raises:
        ConfigError: a bad size list, seed count, axis, worker count or scheduler address, or an
            unreachable scheduler (one line naming the value and what is allowed).
        RunDirError: `out` holds something else, or a sweep with other arguments.
    """
    start = time.perf_counter()
    session_start = time.time()
    spec = make_spec(config, sizes=sizes, seeds=seeds, axis=axis)
    ensemble_size = check_ensemble_size(ensemble_size)
    n_workers = clusters.check_workers(n_workers)
    if isinstance(connect_timeout_s, bool) or not isinstance(connect_timeout_s, (int, float)) or not connect_timeout_s > 0:
        raise ConfigError(f"connect_timeout_s = {connect_timeout_s!r} is not allowed: it must be a positive number of seconds")
    if scheduler is not None and n_workers is not None:
        raise ConfigError(
            f"workers (--workers) = {n_workers} is not allowed with --scheduler: an existing cluster has the workers "
            "it was started with (e.g. dask-jobqueue's cluster.scale(jobs=...))"
        )
    out = check_sweep_dir(out, spec)
    for directory in (out, out / layout.FIGURES_DIR):  # what a killed client left half-written (its own files)
        storage.remove_stale_temporaries(directory)
    networks = Path(out) / layout.NETWORKS_DIR
    stored = {job.name: read_result(networks / job.name, job) for job in spec.jobs}
    pending = [job for job in spec.jobs if stored[job.name] is None]
    durations = _Durations()
    for job in spec.jobs:
        if stored[job.name] is not None:
            durations.add(job.size, (stored[job.name].get("timing") or {}).get("wall_s"))
    skipped = len(spec.jobs) - len(pending)
    failed: dict[str, str] = {}

    def report(done: int, running: int, eta_s: float | None, last: str | None) -> None:
        if on_progress is not None:
            on_progress(SweepProgress(len(spec.jobs), done, running, len(failed), skipped,
                                      time.perf_counter() - start, eta_s, last))

    if pending:
        client, local = _open_client(scheduler, n_workers, connect_timeout_s)
        try:
            write_sweep_file(out, spec)
            _run_jobs(client, out, spec, ensemble_groups(pending, ensemble_size), stored, failed, durations, report,
                      skipped, poll_s, session_start)
        finally:
            client.close()
            if local is not None:
                local.close()
    else:
        write_sweep_file(out, spec)
        report(skipped, 0, 0.0, None)

    rows = [result_row(spec, job, stored[job.name], error=failed.get(job.name)) for job in spec.jobs]
    table, files = write_tables(out, spec, rows)
    if figures:
        files += plot_sweep(out, table)
    return SweepResult(Path(out), table, rows, failed, len(pending) - len(failed), skipped,
                       time.perf_counter() - start, files)


def _open_client(scheduler: str | None, n_workers: int | None, timeout_s: float):
    """(client, local cluster or None)."""
    if scheduler is not None:
        return clusters.connect(scheduler, timeout_s=timeout_s), None
    from distributed import Client

    local = clusters.local_cluster(n_workers)
    try:
        return Client(local, set_as_default=False), local
    except BaseException:
        local.close()
        raise


def _run_jobs(client, out: Path, spec: SweepSpec, groups: list[tuple[NetworkJob, ...]], stored: dict, failed: dict,
              durations: _Durations, report: Callable, skipped: int, poll_s: float, session_start: float) -> None:
    """Submit every group (one network, or an ensemble), poll until every future is finished or
    failed; fill `stored` and `failed`."""
    networks = out / layout.NETWORKS_DIR
    changes = threading.Event()
    cache = compilation_cache_in_use()
    futures = {}
    first = pilots(groups)
    # submitted one by one, the pilots first, then the others, largest first within each: an idle
    # worker takes a task as soon as it arrives, so the order matters as much as the priority
    for index in sorted(range(len(groups)), key=lambda i: i not in first):
        group = groups[index]
        key, priority = _task_key(out, spec, group), group[0].size + (PILOT_PRIORITY if index in first else 0)
        if len(group) == 1:
            future = client.submit(train_network, group[0], str(networks / group[0].name), compilation_cache=cache,
                                   key=key, priority=priority, retries=0)
        else:
            future = client.submit(train_networks, list(group), [str(networks / job.name) for job in group],
                                   compilation_cache=cache, key=key, priority=priority, retries=0)
        futures[future] = group
    keys = {future.key: group for future, group in futures.items()}
    for future in futures:
        future.add_done_callback(lambda _: changes.set())
    done, last = skipped, None
    report(done, 0, None, None)
    while futures:
        changes.wait(poll_s)
        changes.clear()
        changed = False
        for future, group in list(futures.items()):
            if future.status not in ("finished", "error", "cancelled", "lost"):
                continue
            for job in group:
                # the table is built from the file the worker wrote, not from the future's copy
                result = read_result(networks / job.name, job)
                if result is not None:
                    stored[job.name] = result
                    durations.add(job.size, (result.get("timing") or {}).get("wall_s"))
                    done += 1
                else:
                    failed[job.name] = _describe_error(future.exception() if future.status == "error" else None)
                last, changed = job.name, True
            del futures[future]
            future.release()
        if client.status not in ("running", "connecting"):
            raise UserError(
                f"lost the Dask scheduler (client {client.status}); {done} of {len(spec.jobs)} networks are finished "
                "and kept: rerun the same command to continue"
            )
        running, threads = _running(client, keys, futures)
        eta_s = _eta(running, threads, futures, durations, networks, session_start)
        report(done, sum(len(group) for group in running), eta_s, last if changed else None)


def _running(client, keys: dict[str, tuple[NetworkJob, ...]], futures: dict) -> tuple[list[tuple[NetworkJob, ...]], int]:
    """Groups being trained (our keys in the scheduler's processing sets, at most one per thread)
    and the cluster's number of threads."""
    try:
        processing = client.processing()
        threads = sum(client.nthreads().values())
    except (OSError, TimeoutError):
        return [], 1
    outstanding = {future.key for future in futures}
    running = [keys[k] for ks in processing.values() for k in ks if k in keys and k in outstanding]
    return running[:threads], max(threads, 1)


def _eta(running: list[tuple[NetworkJob, ...]], threads: int, futures: dict, durations: _Durations, networks: Path,
         session_start: float) -> float | None:
    """Estimated seconds left: the work of the unfinished networks (less what the running ones have
    done) spread over the cluster's threads, and at least the longest remaining running group.
    A network's duration is its share of its group's (an ensemble of k takes k shares)."""
    estimates = {job.name: durations.estimate(job.size) for group in futures.values() for job in group}
    if any(value is None for value in estimates.values()):
        return None
    now = time.time()
    left = dict(estimates)
    for group in running:
        for job in group:
            started = _started_s(networks / job.name, session_start)
            if started is not None:
                left[job.name] = max(estimates[job.name] - (now - started) / len(group), 0.0)
    longest = max((sum(left[job.name] for job in group) for group in running), default=0.0)
    return max(sum(left.values()) / threads, longest)


def plot_sweep(out: str | Path, table: xr.Dataset) -> list[Path]:
    """Write DIR/figures/{task_vs_size, solution_vs_size, fixed_points_vs_size, unit_responses_by_size}.png."""
    out = Path(out)
    figures = storage.safe_child(out, layout.FIGURES_DIR)
    drawn = {
        "task_vs_size": metrics_against_size(table, TASK_METRICS, title="task performance against size (same budget)"),
        "solution_vs_size": metrics_against_size(table, SOLUTION_METRICS, title="solution type against size"),
        "fixed_points_vs_size": metrics_against_size(
            table, DYNAMICS_METRICS, title="fixed points against size (3 contexts: shortest, middle, longest interval)"),
    }
    examples = example_networks(table)
    activities = {}
    for size, name in examples.items():
        path = storage.safe_child(out / layout.NETWORKS_DIR, f"{name}/{layout.ANALYSIS_DIR}/{layout.ACTIVITY_FILE}")  # names can come from a file
        if path.is_file():
            activity = read_activity(path)
            if "interval" not in activity.dims:  # trials from a file: no Set-aligned responses to compare
                continue
            cells = np.asarray(table["network"]).astype(str) == name
            did = bool(np.any(np.asarray(table["success"], dtype=float)[cells] == 1.0))
            activities[f"N = {size}, {'success' if did else 'failed'}\n({name})"] = activity
    if activities:
        drawn["unit_responses_by_size"] = unit_responses_by_size(activities)
    return save_figures(figures, drawn)


# ------------------------------------------------------------------------------ the sweep directory


def check_sweep_dir(out: str | Path, spec: SweepSpec) -> Path:
    """Check that `out` is new, empty, or holds this very sweep (then it is continued).

    Raises:
        RunDirError: `out` is a file, a non-empty directory that is not a sweep, or holds a sweep
            with other arguments (the message names the first difference).
    """
    out = Path(out)
    record_path = out / layout.SWEEP_FILE
    if record_path.is_file() and ties.read_json(record_path).get("format") != SWEEP_FORMAT:
        raise RunDirError(f"{record_path}: not an rnncondense sweep record")
    claim(out, layout.SWEEP_FILE, spec.record(), what="a sweep", write=False)
    return out


def write_sweep_file(out: Path, spec: SweepSpec) -> Path:
    """Create DIR/networks and write DIR/sweep.json (atomically) unless it is there (`check_sweep_dir`
    has then found it equal to this sweep's record)."""
    (out / layout.NETWORKS_DIR).mkdir(parents=True, exist_ok=True)
    if not (out / layout.SWEEP_FILE).is_file():
        ties.write_json(out / layout.SWEEP_FILE, spec.record())  # with a sidecar (ties)
    return out / layout.SWEEP_FILE
