"""SIGKILL during `train`, `condense` and `sweep`, as real subprocesses of the command line.

For each command a serial chain: start the command, kill it (SIGKILL) at a random moment, check
the directory with the library's own loaders (complete, or resumable: everything there loads,
and nothing that was finished before the kill changed), continue it (--resume, or the same sweep
command) and kill again, ... until it finishes; then compare with an uninterrupted run of the
same seed. A chain that finishes starts a new one on a fresh directory until KILLS kills have
happened. The moments are fractions (seeded) of the duration of the latest uninterrupted run,
so they cover start-up, compilation, the work and the file writes on a slow or a fast machine.

The subprocesses use their own JAX compilation cache (RNNCONDENSE_CACHE_DIR): the train chain
starts with it empty, so its first kills land in compilation and in JAX's own (non-atomic)
cache writes, and the user's cache never sees a truncated entry.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from rnncondense import layout, storage
from rnncondense.runs.condense import completed_steps, load_step
from rnncondense.config import load_config
from rnncondense.sweep import make_spec
from rnncondense.runs.sweep_network import read_result


pytestmark = pytest.mark.slow

KILLS = 8  # per command; the test asserts kills both before and after finished work
MAX_STARTS = 4 * KILLS  # a chain that never gets killed (or never finishes) fails the test
FINISH_TIMEOUT_S = 300
TIMING = {"elapsed_s", "time_to_success_s", "train_time_s", "analysis_time_s", "wall_s", "cpu_time_s",
          "attempt", "peak_rss_mb"}  # columns that measure this process, not the science

TRAIN_TOML = """
[task]
intervals_ms = [500.0, 700.0]
tail_ms = 100.0
val_trials_per_interval = 2
[model]
n_units = 8
[train]
max_iters = 150
eval_every = 10
checkpoint_every = 5
stop_on_success = false
[train.hf]
gradient_batch_size = 8
curvature_batch_size = 4
cg_max_iters = 10
"""

SWEEP_TOML = """
[task]
intervals_ms = [500.0, 700.0]
tail_ms = 100.0
val_trials_per_interval = 2
[train]
trainer = "adam"
max_iters = 20
eval_every = 5
checkpoint_every = 5
stop_on_success = false
[train.adam]
batch_size = 8
"""
SWEEP_ARGS = ["--sizes", "3", "--seeds", "2", "--workers", "1"]
CONDENSE_ARGS = ["--method", "iterative", "--operator", "seed", "--pairs", "2", "--target", "4",
                 "--retrain-iters", "3", "--k", "2"]


# ------------------------------------------------------------------------------ processes


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "rnncondense.cli", *map(str, args)]


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class Runner:
    """Starts the command line in its own process group with a private compilation cache."""

    def __init__(self, root: Path):
        self.root = root
        self.cache = root / "jax-cache"
        self.env = {**os.environ, "RNNCONDENSE_CACHE_DIR": str(self.cache), "MPLBACKEND": "Agg"}
        self.log = root / "last.log"

    def start(self, args: list[str]) -> subprocess.Popen:
        with open(self.log, "wb") as log:
            return subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, args: list[str]) -> float:
        """Run to the end (exit 0 required); returns its duration."""
        started = time.perf_counter()
        process = self.start(args)
        self._finish(process, FINISH_TIMEOUT_S)
        return time.perf_counter() - started

    def run_or_kill(self, args: list[str], moment_s: float, after=None) -> bool:
        """Run, and SIGKILL the command `moment_s` after its start (or, given `after`, `moment_s`
        after `after()` first holds); True if it was killed, False if it finished first (exit 0
        required). Waits until every process it started is gone."""
        process = self.start(args)
        while after is not None and process.poll() is None and not after():
            time.sleep(0.01)
        try:
            process.wait(timeout=moment_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            self._await_group(process.pid)
            return True
        self._finish(process, 0)
        return False

    def _finish(self, process: subprocess.Popen, timeout_s: float) -> None:
        try:
            code = process.wait(timeout=timeout_s)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        assert code == 0, f"{process.args[3:]} exited with {code}:\n{self.log.read_text(errors='replace')[-3000:]}"
        self._await_group(process.pid)

    def _await_group(self, pgid: int, timeout_s: float = 30.0) -> None:
        """Processes the command started (Dask workers) must stop when it dies, before anything
        else touches its directory."""
        deadline = time.monotonic() + timeout_s
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                os.killpg(pgid, signal.SIGKILL)
                pytest.fail(f"processes of the killed command were still running {timeout_s:.0f} s after it died")
            time.sleep(0.05)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows_without_timing(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in storage.read_rows(path)]


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _same_record(a: dict, b: dict, ignore: set = TIMING) -> bool:
    keys = a.keys() - ignore
    return keys == b.keys() - ignore and all(_same(a[k], b[k]) for k in keys)


# ------------------------------------------------------------------------------ the chain


class Chain:
    """Kill -> check -> continue on one directory until it finishes; then a fresh directory, until
    KILLS kills have happened. Subclasses say how to start, continue, check and compare."""

    name = ""

    def __init__(self, root: Path, runner: Runner, seed: int):
        self.root, self.runner, self.rng = root, runner, random.Random(seed)
        self.kills, self.starts, self.chains, self.moments, self.phases = 0, 0, 0, [], Counter()

    def command(self, out: Path) -> list[str]:
        raise NotImplementedError

    def check(self, out: Path, finished_before: dict) -> dict:
        """Check `out` after a kill with the library's loaders; returns what is finished now
        (name -> fingerprint) and asserts that everything in `finished_before` is unchanged."""
        raise NotImplementedError

    def compare(self, out: Path, reference: Path) -> None:
        raise NotImplementedError

    def before_chains(self) -> None:
        """Called after the reference run, before the first chain."""

    def has_finished_work(self, out: Path) -> bool:
        """Whether `out` holds a finished piece of work (a cheap look, while the command runs)."""
        raise NotImplementedError

    def run(self) -> dict:
        started = time.perf_counter()
        reference = self.root / f"{self.name}-reference"
        duration = self.runner.run(self.command(reference))
        self.before_chains()
        while self.kills < KILLS:
            self.chains += 1
            out = self.root / f"{self.name}-chain{self.chains}"
            finished: dict = {}
            while True:
                assert self.starts < MAX_STARTS, f"{self.starts} starts gave only {self.kills} kills"
                self.starts += 1
                if self.kills >= KILLS:  # enough: let it finish
                    self.runner.run(self.command(out))
                    break
                # a fresh directory is killed in the first quarter of a run (start-up,
                # compilation, the first files), a resumed one anywhere in it: start-up takes
                # most of a tiny run, so iterations, checkpoints and finished steps are reached
                # only by the later moments, and only a fresh run has no files yet
                fresh = not out.exists()
                moment = duration * self.rng.random() * (0.25 if fresh else 1.0)
                # on a loaded machine start-up can take all of the random moments; the last kill
                # then waits for finished work, so every chain also kills a run that has some
                after = None
                if self.kills == KILLS - 1 and not self.phases["with finished work"]:
                    after, moment = (lambda: self.has_finished_work(out)), moment * 0.05
                began = time.perf_counter()
                if not self.runner.run_or_kill(self.command(out), moment, after):
                    if fresh:  # an uninterrupted run from scratch: the time scale of the moments
                        duration = time.perf_counter() - began
                    break
                self.kills += 1
                self.moments.append(moment)
                finished = self.check(out, finished)
                phase = "before its first file" if not out.exists() or storage.holds_nothing(out) else \
                        "with finished work" if finished else "after its first file"
                self.phases[phase] += 1
            self.check(out, finished)
            self.compare(out, reference)
        return {"kills": self.kills, "starts": self.starts, "chains": self.chains,
                "seconds": time.perf_counter() - started, "last_duration_s": duration}


class TrainChain(Chain):
    name = "train"

    def __init__(self, root, runner, seed, config_path: Path):
        super().__init__(root, runner, seed)
        self.config_path = config_path
        self.config = load_config(config_path)

    def command(self, out):
        return _cli("train", self.config_path, "--out", out, *(["--resume"] if out.exists() else []))

    def before_chains(self):
        """The first runs compile (and write JAX's cache) again, so kills land there too."""
        shutil.rmtree(self.runner.cache, ignore_errors=True)

    def has_finished_work(self, out):
        return (out / layout.CHECKPOINT_FILE).exists()

    def check(self, out, finished_before):
        state = check_run_dir(out, self.config)
        before = finished_before.get("history")
        if state is None:
            assert before is None, "the checkpoint disappeared"
            return {}
        if before is not None:  # the checkpoint only moves forward, and keeps the finished iterations
            assert len(state.history) >= len(before), "the checkpoint went back in time"
            assert all(_same_record(a, b, ignore=set()) for a, b in zip(before, state.history)), \
                "the history of finished iterations changed"
        return {"history": state.history}

    def compare(self, out, reference):
        for run in (out, reference):
            assert (run / layout.METRICS_FILE).is_file() and not list(run.glob(".*.tmp"))
        a, _ = storage.load_tensors(out / layout.PARAMS_FILE, kind="params")
        b, _ = storage.load_tensors(reference / layout.PARAMS_FILE, kind="params")
        assert _same_tensors(a, b), "the interrupted run ended with other parameters"
        assert _rows_without_timing(out / layout.HISTORY_FILE) == _rows_without_timing(reference / layout.HISTORY_FILE)
        assert storage.read_json(out / layout.METRICS_FILE)["validation"] == storage.read_json(reference / layout.METRICS_FILE)["validation"]


def check_run_dir(run: Path, config) -> object | None:
    """A run directory after a kill: absent, empty but for temporaries, or a run whose every file
    loads (config, checkpoint, params, metrics, history). Returns the checkpoint's state, if any."""
    from rnncondense.tasks import make_task
    from rnncondense.train.loop import initial_state
    from rnncondense.runs.train import RunKeys, init_network, load_checkpoint, make_trainer

    if not run.exists() or storage.holds_nothing(run):
        return None
    assert (run / layout.CONFIG_FILE).is_file(), f"{run} holds {sorted(p.name for p in run.iterdir())} but no config"
    assert load_config(run / layout.CONFIG_FILE) == config
    state = None
    if (run / layout.CHECKPOINT_FILE).exists():
        task = make_task(config.task)
        trainer = make_trainer(config, task)
        template = initial_state(init_network(config, RunKeys.from_seed(config.train.seed).init, task), trainer)
        state = load_checkpoint(run, config, trainer, template)
    if (run / layout.PARAMS_FILE).exists():
        storage.load_params(run / layout.PARAMS_FILE)
    if (run / layout.METRICS_FILE).exists():
        storage.read_json(run / layout.METRICS_FILE)
    if (run / layout.HISTORY_FILE).exists():
        storage.read_rows(run / layout.HISTORY_FILE, required=("iteration", "loss"))
    return state


class CondenseChain(Chain):
    name = "condense"

    def __init__(self, root, runner, seed, source: Path):
        super().__init__(root, runner, seed)
        self.source = source

    def command(self, out):
        return _cli("condense", self.source, "--out", out, *CONDENSE_ARGS, *(["--resume"] if out.exists() else []))

    def has_finished_work(self, out):
        return bool(completed_steps(out))

    def check(self, out, finished_before):
        if not out.exists() or storage.holds_nothing(out):
            assert not finished_before
            return {}
        storage.read_json(out / layout.CONDENSE_SETTINGS_FILE)
        steps = completed_steps(out)
        finished = {}
        for step in steps:  # every complete step loads, and its files are final
            load_step(out, step)
            directory = out / layout.STEPS_DIR / f"step_{step:03d}"
            finished[step] = tuple(_sha(p) for p in sorted(directory.iterdir()) if not storage.is_temporary(p))
        for step, fingerprint in finished_before.items():
            assert finished.get(step) == fingerprint, f"step {step}, complete before the kill, changed"
        if (out / layout.CONDENSE_RESULT_FILE).exists():
            storage.read_json(out / layout.CONDENSE_RESULT_FILE)
        return finished

    def compare(self, out, reference):
        steps = completed_steps(reference)
        assert steps and completed_steps(out) == steps
        for step in steps:
            (state_a, record_a), (state_b, record_b) = load_step(out, step), load_step(reference, step)
            assert all(np.array_equal(a, b) for a, b in zip(state_a.params, state_b.params)), f"step {step} differs"
            assert np.array_equal(state_a.unit_ids, state_b.unit_ids) and _same_record(record_a, record_b)
        assert storage.read_json(out / layout.CONDENSE_RESULT_FILE)["reason"] == storage.read_json(reference / layout.CONDENSE_RESULT_FILE)["reason"]
        assert _rows_without_timing(out / "summary.csv") == _rows_without_timing(reference / "summary.csv")


class SweepChain(Chain):
    name = "sweep"

    def __init__(self, root, runner, seed):
        super().__init__(root, runner, seed)
        self.config_path = root / "sweep.toml"
        self.config_path.write_text(SWEEP_TOML)
        self.jobs = make_spec(load_config(self.config_path), sizes=[3], seeds=2).jobs

    def command(self, out):
        return _cli("sweep", self.config_path, "--out", out, *SWEEP_ARGS)

    def has_finished_work(self, out):
        return any((out / layout.NETWORKS_DIR).glob(f"*/{layout.NETWORK_RESULT_FILE}"))

    def check(self, out, finished_before):
        if not out.exists() or storage.holds_nothing(out):
            assert not finished_before
            return {}
        if (out / layout.SWEEP_FILE).exists():
            storage.read_json(out / layout.SWEEP_FILE)
        finished = {}
        for job in self.jobs:
            run = out / layout.NETWORKS_DIR / job.name
            result = read_result(run, job)  # parses and is this network's, or is absent
            if result is not None:
                finished[job.name] = (_sha(run / "result.json"), _sha(run / layout.PARAMS_FILE))
            else:
                check_run_dir(run, job.config)
        for name, fingerprint in finished_before.items():
            assert finished.get(name) == fingerprint, f"network {name}, finished before the kill, changed"
        return finished

    def compare(self, out, reference):
        assert _rows_without_timing(out / "results.csv") == _rows_without_timing(reference / "results.csv")
        for job in self.jobs:
            a, _ = storage.load_tensors(out / layout.NETWORKS_DIR / job.name / layout.PARAMS_FILE, kind="params")
            b, _ = storage.load_tensors(reference / layout.NETWORKS_DIR / job.name / layout.PARAMS_FILE, kind="params")
            assert _same_tensors(a, b), f"network {job.name} ended with other parameters"


# ------------------------------------------------------------------------------ tests


def _report(chain: Chain, summary: dict) -> None:
    print(f"\n{chain.name}: {summary['kills']} kills in {summary['starts']} starts over {summary['chains']} chains, "
          f"{summary['seconds']:.0f} s; killed {min(chain.moments):.2f} .. {max(chain.moments):.2f} s after the start "
          f"(a full run: {summary['last_duration_s']:.1f} s); {dict(chain.phases)}")


def _train_chain(root: Path) -> tuple[Chain, dict]:
    config = root / "train.toml"
    config.write_text(TRAIN_TOML)
    chain = TrainChain(root, Runner(root), seed=1, config_path=config)
    return chain, chain.run()


def _condense_chain(root: Path) -> tuple[Chain, dict]:
    runner = Runner(root)
    config = root / "train.toml"
    config.write_text(TRAIN_TOML)
    runner.run(_cli("train", config, "--out", root / "source"))
    chain = CondenseChain(root, runner, seed=2, source=root / "source")
    return chain, chain.run()


def _sweep_chain(root: Path) -> tuple[Chain, dict]:
    chain = SweepChain(root, Runner(root), seed=3)
    return chain, chain.run()


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    """The three chains, run side by side (each mostly waits for its own subprocess)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(function, tmp_path_factory.mktemp(name))
                   for name, function in (("train", _train_chain), ("condense", _condense_chain),
                                          ("sweep", _sweep_chain))}
        yield futures


@pytest.mark.parametrize("command", ["train", "condense", "sweep"])
def test_command_survives_sigkill_at_random_moments(chains, command):
    chain, summary = chains[command].result()
    _report(chain, summary)
    assert summary["kills"] >= KILLS
    assert chain.phases["with finished work"] >= 1 and len(chain.phases) >= 2, chain.phases
