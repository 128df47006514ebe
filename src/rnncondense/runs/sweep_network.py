"""One network of a sweep, as a worker runs it: train, analyse, write DIR/networks/<name>/result.json.

The network's directory is an ordinary run directory (config.toml, checkpoint, params.safetensors,
metrics.json, history.csv, analysis/), so every other command opens it; the sweep adds two files:

    attempt.json   written when an attempt starts: attempt number, worker, pid, start time
    result.json    written (atomically) when the network is trained and analysed; its presence
                   marks the network finished, and the sweep table is assembled from these files

Retries. An attempt that finds config.toml from an earlier, interrupted attempt continues that run
from its last checkpoint (`train_run(..., resume=True)`); the training loop draws the same trials
and noise for each iteration either way, so a resumed network ends with the same parameters as an
uninterrupted one (to rounding, where thread settings change the order of sums). A directory
without config.toml (an attempt killed before training began) is cleared and started afresh, and
so is one whose checkpoint cannot be read. A network whose training diverges (`TrainingDiverged`)
is finished with status "diverged" and no analysis; a rerun does not train it again.

Analysis. `analyze_run` with noise-free trials, k = min(3, size) and the fixed points of 3 contexts
(`solution_metrics`, `analysis.dynamics`) writes analysis/activity.nc and analysis/metrics.json
into the run directory.

Memory. A worker runs one network after another; after each it drops JAX's in-process caches of
compiled programs and trims the heap (`runtime.release_memory`), so its memory does not grow with
every network it has trained (the next network of the same size loads its programs from the
persistent compilation cache, which the sweep shares between workers).

Threads. Workers are meant to run one network per core. XLA's CPU backend otherwise spreads
matrix products over all cores, so `limit_threads` sets XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
and OMP/OpenBLAS/MKL to one thread, unless already set, before JAX starts its backend in the
worker. XLA still compiles and executes on a few threads of its own beside the Python thread (a
worker training 50-unit networks averaged 1.45 cores, measured per thread from /proc), which two
workers on two cores absorb without losing throughput per CPU-second (benchmarks/bench_sweep.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any


from rnncondense import layout, storage, ties
from rnncondense.config import config_digest, config_to_dict
from rnncondense.dirlock import holding, is_lock_file
from rnncondense.errors import FileFormatError, RunDirError, TrainingDiverged
from rnncondense.runtime import limit_threads, peak_rss_mb
from rnncondense.sweep.spec import NetworkJob

__all__ = ["train_network", "read_result"]

RESULT_FORMAT = "rnncondense-sweep-network-1"
SOLUTION_K = 3
SOLUTION_FIXED_POINTS = "records"  # 3 contexts, 16 starts, programs shared between sizes (analysis.dynamics)


def read_result(run_dir: Path, job: NetworkJob) -> dict[str, Any] | None:
    """The finished result of `job` in `run_dir`, or None if the network has not finished.

    Raises:
        FileFormatError: result.json exists but is damaged, or is not this network's result of
            this sweep (it is never overwritten: delete it to train the network again).
    """
    from rnncondense.runs.sweep_table import check_result

    path = run_dir / layout.NETWORK_RESULT_FILE
    if not path.exists():
        return None
    result = ties.read_json(path)
    if result.get("format") != RESULT_FORMAT:
        raise FileFormatError(f"{path}: not a sweep network result (format {result.get('format')!r}, expected {RESULT_FORMAT!r})")
    if result.get("network") != job.name or result.get("config_sha256") != config_digest(job.config):
        raise FileFormatError(
            f"{path}: the result of network {result.get('network')!r} with another config, not of {job.name!r} of this "
            "sweep; delete the file to train the network again"
        )
    check_result(result, path)
    return result


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def _fresh_start(run_dir: Path, job: NetworkJob) -> None:
    """Clear `run_dir` (left by an attempt killed before it trained) and write the network's config."""
    if run_dir.exists():  # all but the lock this process holds on it (dirlock)
        for child in run_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            elif not is_lock_file(child):
                child.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    storage.write_toml(run_dir / layout.CONFIG_FILE, config_to_dict(job.config))


@holding("run_dir")  # one writer per directory (dirlock)
def train_network(job: NetworkJob, run_dir: str | Path, *, compilation_cache: str | None = None) -> dict[str, Any]:
    """Train and analyse one network of a sweep in `run_dir`, then write its result.json.

    Meant to run on a Dask worker; safe to rerun: a finished network returns its stored result,
    an interrupted one continues from its checkpoint (see the module docstring).
    `compilation_cache`: a directory for JAX's persistent compilation cache
    (`runtime.enable_compilation_cache`), so workers reuse programs compiled for the same size;
    None leaves the worker's setting as it is.

    Returns:
        The JSON-ready result (also written to run_dir/result.json): network, size, seed, axis_value,
        status ("done" or "diverged"), task (validation metrics of the kept network), training
        (iterations, elapsed_s, ...), solution (`solution_metrics(...).numbers`), timing
        (train_s, analysis_s, wall_s and the process's CPU time cpu_s, of this attempt), attempt,
        resumed (continued an interrupted run), restarted (its checkpoint was unreadable), worker
        (address, host, pid, peak_rss_mb: the process's peak resident memory so far).
    """
    limit_threads()
    from rnncondense.runtime import prepare_worker, release_memory
    from rnncondense.runs.train import train_run

    prepare_worker(compilation_cache)
    start, cpu_start = time.perf_counter(), time.process_time()
    run_dir = Path(run_dir)
    stored = read_result(run_dir, job)
    if stored is not None:
        return stored
    attempt = _Attempt(job, run_dir)
    try:
        try:
            trained = train_run(job.config, run_dir, resume=True)
        except (FileFormatError, RunDirError):  # an unreadable checkpoint or a foreign config: start again
            attempt.restart()
            trained = train_run(job.config, run_dir, resume=True)
    except TrainingDiverged as error:
        result = attempt.finish(status="diverged", error=str(error))
    else:
        result = attempt.analyse(trained, train_s=time.perf_counter() - start)
    result = attempt.write(result, wall_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu_start)
    release_memory()  # the worker's next network starts from the memory this one started from
    return result


def train_networks(jobs: list[NetworkJob], run_dirs: list[str | Path], *,
                   compilation_cache: str | None = None) -> list[dict[str, Any]]:
    """Train the networks of `jobs` together as one ensemble (`runs.ensemble.train_ensemble`: one
    compiled program, vmap over the members), then analyse each and write its result.json exactly
    as `train_network` does; returns their results in order.

    The jobs must be able to share an ensemble (same size; configs differing only in the
    ensemble's MEMBER_FIELDS). Finished networks are skipped; interrupted ones continue from their
    own checkpoints (a member ends as the same network trained alone, to float32 rounding). A
    member that diverges is finished with status "diverged" while the others are kept. If a
    member's directory cannot be continued (an unreadable checkpoint, a foreign config), every
    unfinished network is trained alone by `train_network`, which restarts that one. Timing: each
    network's train_s and wall_s are its share (1 / members) of the ensemble's, and
    ensemble_train_s the whole.
    """
    limit_threads()
    from rnncondense.dirlock import hold
    from rnncondense.runtime import prepare_worker, release_memory
    from rnncondense.runs.ensemble import EnsembleDiverged, train_ensemble

    prepare_worker(compilation_cache)
    start, cpu_start = time.perf_counter(), time.process_time()
    run_dirs = [Path(d) for d in run_dirs]
    with contextlib.ExitStack() as held:  # one writer per directory (dirlock), every member's
        for run_dir in run_dirs:
            held.enter_context(hold(run_dir))
        results: list[dict[str, Any] | None] = [read_result(d, job) for d, job in zip(run_dirs, jobs)]
        todo = [k for k, result in enumerate(results) if result is None]
        if not todo:
            return results
        attempts = {k: _Attempt(jobs[k], run_dirs[k]) for k in todo}
        try:
            trained = train_ensemble([jobs[k].config for k in todo], [run_dirs[k] for k in todo], resume=True)
            diverged: dict[int, str] = {}
        except EnsembleDiverged as error:
            trained, diverged = error.results, error.diverged
        except (FileFormatError, RunDirError):  # one member cannot be continued: each alone, restarting that one
            held.close()
            return [results[k] if results[k] is not None else
                    train_network(jobs[k], run_dirs[k], compilation_cache=compilation_cache) for k in range(len(jobs))]
        ensemble_train_s = time.perf_counter() - start
        share = ensemble_train_s / len(todo)
        for i, k in enumerate(todo):
            analysis_start = time.perf_counter()
            if i in diverged:
                result = attempts[k].finish(status="diverged", error=diverged[i])
            else:
                result = attempts[k].analyse(trained[i], train_s=share)
            result.setdefault("timing", {})["ensemble_train_s"] = ensemble_train_s
            result["ensemble"] = [jobs[j].name for j in todo]
            results[k] = attempts[k].write(result, wall_s=share + time.perf_counter() - analysis_start,
                                           cpu_s=(time.process_time() - cpu_start) / len(todo))
    release_memory()
    return results


class _Attempt:
    """One attempt at a network: attempt.json when it starts, its result.json when it ends."""

    def __init__(self, job: NetworkJob, run_dir: Path):
        self.job, self.run_dir = job, run_dir
        previous = ties.read_json(run_dir / layout.NETWORK_ATTEMPT_FILE) if (run_dir / layout.NETWORK_ATTEMPT_FILE).is_file() else {}  # always an object
        self.attempt = int(previous.get("attempt", 0)) + 1
        self.resumed = (run_dir / layout.CONFIG_FILE).is_file()
        if self.resumed:  # temporary files of atomic writes that a killed attempt left behind
            storage.remove_stale_temporaries(run_dir, recursive=True)
        else:
            _fresh_start(run_dir, job)
        self.restarted = False
        self.worker = {"address": _worker_address(), "host": socket.gethostname(), "pid": os.getpid()}
        self._record()

    def _record(self) -> None:
        ties.write_json(self.run_dir / layout.NETWORK_ATTEMPT_FILE,
                        {"network": self.job.name, "attempt": self.attempt, "resumed": self.resumed, **self.worker,
                         "started": time.time()})

    def restart(self) -> None:
        """Its directory could not be continued: clear it and start the network afresh."""
        _fresh_start(self.run_dir, self.job)
        self.resumed, self.restarted = False, True
        self._record()

    def finish(self, **parts: Any) -> dict[str, Any]:
        return _result(self.job, **parts)

    def analyse(self, trained, *, train_s: float) -> dict[str, Any]:
        """The result of a trained network, with its analysis (`analyze_run`, see the module docstring)."""
        from rnncondense.runs.analyze import analyze_run

        analysis_start = time.perf_counter()
        analysed = analyze_run(self.run_dir, k=min(SOLUTION_K, self.job.size), noise=False, figures=False,
                               fixed_points=SOLUTION_FIXED_POINTS)
        analysed.pop("files", None)
        timing = {"train_s": train_s, "analysis_s": time.perf_counter() - analysis_start}
        return _result(self.job, status="done", task=trained.metrics.to_dict(), training=trained.summary,
                       solution=analysed, timing=timing)

    def write(self, result: dict[str, Any], *, wall_s: float, cpu_s: float) -> dict[str, Any]:
        """Write result.json (atomically, with its sidecar) and return it as read back."""
        result["timing"] = {**result.get("timing", {}), "wall_s": wall_s, "cpu_s": cpu_s}
        result.update(attempt=self.attempt, resumed=self.resumed, restarted=self.restarted, finished=time.time(),
                      worker={**self.worker, "peak_rss_mb": peak_rss_mb()})
        ties.write_json(self.run_dir / layout.NETWORK_RESULT_FILE, result)
        return ties.read_json(self.run_dir / layout.NETWORK_RESULT_FILE)


def _result(job: NetworkJob, *, status: str, **parts: Any) -> dict[str, Any]:
    return {
        "format": RESULT_FORMAT,
        "network": job.name,
        "size": job.size,
        "seed": job.seed,
        "axis_value": job.axis_value,
        "config_sha256": config_digest(job.config),
        "status": status,
        **parts,
    }

