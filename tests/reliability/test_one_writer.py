"""One writer per directory (`dirlock`): a second writer is refused at once with one line naming the
directory and the holder's pid, a stale lock is taken over and said so, and a refused command
changes no file outside its own directory. The end-to-end cases are the ones that failed before:
two sweeps into one --out (different and same configs), `train` with a concurrent `train --resume`,
and two fresh trains into one new directory."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rnncondense import dirlock, layout, storage
from rnncondense.dirlock import LOCK_FILE, DirectoryBusy, hold
from untouched import stats_below

HOLDER = "import sys, time\nfrom rnncondense.dirlock import hold\nwith hold(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n"


def _env():
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _start_holder(directory):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], stdout=subprocess.PIPE, text=True, env=_env())
    assert proc.stdout.readline().strip() == "held"
    return proc


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ---------------------------------------------------------------------------------------- the lock


def test_a_second_process_is_refused_at_once_with_the_holders_pid(tmp_path):
    directory = tmp_path / "out"
    holder = _start_holder(directory)
    try:
        with pytest.raises(DirectoryBusy) as caught:
            with hold(directory):
                pytest.fail("entered a directory held by another process")
        message = str(caught.value)
        assert "\n" not in message and str(directory) in message and f"pid {holder.pid} " in message
        assert (directory / LOCK_FILE).read_text().split()[0] == str(holder.pid)  # the holder's lock is untouched
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_and_said_so(tmp_path):
    directory = tmp_path / "out"
    directory.mkdir()
    dead = _dead_pid()
    (directory / LOCK_FILE).write_text(f"{dead} somehost 0\n")
    notes = []
    with hold(directory, say=notes.append):
        assert (directory / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    assert len(notes) == 1 and "stale" in notes[0] and f"pid {dead} " in notes[0] and str(directory) in notes[0]
    assert not (directory / LOCK_FILE).exists() and directory.is_dir()  # it existed before: kept


def test_a_killed_holder_leaves_a_stale_lock_that_is_taken_over(tmp_path):
    directory = tmp_path / "out"
    holder = _start_holder(directory)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    notes = []
    with hold(directory, say=notes.append):
        pass
    assert len(notes) == 1 and f"pid {holder.pid} " in notes[0]


def test_a_directory_the_lock_created_is_removed_when_nothing_was_written(tmp_path):
    with pytest.raises(ValueError):
        with hold(tmp_path / "a" / "b"):
            raise ValueError("refused before any write")
    assert list(tmp_path.iterdir()) == []
    with hold(tmp_path / "c") as directory:
        (directory / "file").write_text("x")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["file"]


def test_a_file_is_refused_and_a_missing_directory_is_not_created_without_create(tmp_path):
    (tmp_path / "f").write_text("user")
    with pytest.raises(storage.RunDirError, match="exists and is not a directory"):
        with hold(tmp_path / "f"):
            pass
    with hold(tmp_path / "missing", create=False):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_reentrant_in_one_thread_refused_in_another(tmp_path):
    outcome = {}
    with hold(tmp_path / "d"):
        with hold(tmp_path / "d"):  # a study holds its directory and writes its report there
            pass
        assert (tmp_path / "d" / LOCK_FILE).exists()

        def other():
            try:
                with hold(tmp_path / "d"):
                    outcome["entered"] = True
            except DirectoryBusy as error:
                outcome["refused"] = str(error)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert "entered" not in outcome and "another thread" in outcome["refused"]
    assert not (tmp_path / "d").exists()


def test_many_processes_racing_for_one_new_directory_give_one_winner(tmp_path):
    """Start 6 processes that each try to hold one new directory while writing a file into it."""
    script = (
        "import sys, time\nfrom rnncondense.dirlock import hold, DirectoryBusy\n"
        "try:\n    with hold(sys.argv[1]):\n        time.sleep(1.0)\n        print('won')\n"
        "except DirectoryBusy:\n    print('refused')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "new")], stdout=subprocess.PIPE, text=True,
                              env=_env()) for _ in range(6)]
    outcomes = sorted(proc.communicate(timeout=120)[0].strip() for proc in procs)
    # processes that start after the winner released may win too, one after another, never together
    assert outcomes.count("won") >= 1 and all(o in ("won", "refused") for o in outcomes)


def test_storage_treats_the_lock_file_as_nothing(tmp_path):
    with hold(tmp_path / "run") as run:
        assert storage.holds_nothing(run)
        assert storage.prepare_new_run_dir(run) == run
    assert dirlock.is_lock_file(tmp_path / "x" / LOCK_FILE)


# ------------------------------------------------------------------------- directories inside directories

DELEGATING = ("import sys, time\nfrom rnncondense.dirlock import hold\n"
              "with hold(sys.argv[1], delegate=('networks',)):\n    print('held', flush=True)\n    time.sleep(60)\n")


def test_a_directory_inside_a_held_one_is_refused_before_anything_is_created(tmp_path):
    outer = tmp_path / "run"
    holder = _start_holder(outer)
    try:
        before = stats_below(tmp_path)
        for inner in (outer / "sub", outer / "sub" / "deeper", outer):
            with pytest.raises(DirectoryBusy) as refused:
                with hold(inner):
                    pass
            assert f"'{outer}'" in str(refused.value) and f"pid {holder.pid} " in str(refused.value)
        assert stats_below(tmp_path) == before and not (outer / "sub").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_directory_containing_a_held_one_is_refused(tmp_path):
    study = tmp_path / "study"
    inner = study / "condense" / "iterative"
    holder = _start_holder(inner)
    try:
        before = stats_below(tmp_path)
        for outer in (study, study / "condense"):
            with pytest.raises(DirectoryBusy, match=f"contains '{inner}', which is in use .*pid {holder.pid} "):
                with hold(outer):
                    pass
        with hold(study / "base"):  # a sibling is free
            pass
        assert stats_below(tmp_path) == before and not (study / LOCK_FILE).exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_subtree_handed_to_workers_may_be_held_by_them_and_nothing_else(tmp_path):
    sweep = tmp_path / "study" / "sweep"
    holder = subprocess.Popen([sys.executable, "-c", DELEGATING, str(sweep)], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        assert "delegate networks" in (sweep / LOCK_FILE).read_text()
        with hold(sweep / "networks" / "n003_s0"):  # what a sweep's worker does
            with pytest.raises(DirectoryBusy, match="is inside"):
                with hold(sweep / "figures"):
                    pass
        for refused in (sweep, tmp_path / "study"):
            with pytest.raises(DirectoryBusy):
                with hold(refused):
                    pass
    finally:
        holder.kill()
        holder.wait()


def test_nesting_in_one_thread_and_stale_locks_around_are_allowed(tmp_path):
    with hold(tmp_path / "study"):  # a study holds its directory, then trains and condenses inside it
        with hold(tmp_path / "study" / "base"):
            pass
    with hold(tmp_path / "a" / "b"):
        with hold(tmp_path / "a"):
            pass
    for directory in (tmp_path / "p", tmp_path / "p" / "q" / "r"):  # locks whose processes are gone
        directory.mkdir(parents=True, exist_ok=True)
        (directory / LOCK_FILE).write_text(f"{_dead_pid()} host 0\n")
    with hold(tmp_path / "p" / "q", say=lambda text: None):
        pass


def test_commands_refuse_a_directory_inside_or_around_one_in_use(tiny_run, tmp_path):
    """`condense RUN --out RUN/sub` while another command holds RUN, and `train --out STUDY/base`
    while a study holds STUDY: one line naming the held directory and its holder, exit status 2,
    no file changed."""
    import shutil

    from typer.testing import CliRunner

    from rnncondense.cli import app

    run = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    study = tmp_path / "study"
    (tmp_path / "tiny.toml").write_text(TRAIN.format(g=1.0, iters=1))
    commands = [
        (run, ["condense", run, "--out", run / "sub", "--method", "one-shot", "--max-merges", "1"]),
        (study, ["train", tmp_path / "tiny.toml", "--out", study / "base"]),
    ]
    for held, args in commands:
        holder = _start_holder(held)
        try:
            before = stats_below(tmp_path)
            result = CliRunner().invoke(app, [str(a) for a in args])
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            assert result.exit_code == 2 and len(lines) == 1 and "Traceback" not in result.output, result.output
            assert f"is inside '{held}'" in lines[0] and f"pid {holder.pid} " in lines[0], lines[0]
            assert stats_below(tmp_path) == before
        finally:
            holder.kill()
            holder.wait()


# ---------------------------------------------------------------------------------------- commands

TRAIN = """
[task]
intervals_ms = [500.0, 700.0]
tail_ms = 100.0
val_trials_per_interval = 2
[model]
n_units = 8
g = {g}
[train]
trainer = "adam"
max_iters = {iters}
eval_every = 50
checkpoint_every = 50
stop_on_success = false
[train.adam]
batch_size = 4
"""


def _cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "rnncondense.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=_env())


def _clis(*commands, timeout=180):
    """Run the commands at the same time (each a tuple of arguments); their CompletedProcess-like results."""
    procs = [subprocess.Popen([sys.executable, "-m", "rnncondense.cli", *map(str, args)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env()) for args in commands]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


def _wait_for_lock(directory, proc, timeout=120):
    lock = directory / LOCK_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lock.is_file() and lock.read_text().split()[:1] == [str(proc.pid)]:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pytest.fail(f"{directory} was never locked by pid {proc.pid}")


def _refused(proc, directory, holder_pid):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(directory) in lines[0] and f"pid {holder_pid} " in lines[0] and "in use" in lines[0]


@pytest.mark.slow
def test_train_with_a_concurrent_resume_and_a_second_fresh_train(tmp_path):
    (tmp_path / "a.toml").write_text(TRAIN.format(g=1.0, iters=100000))
    (tmp_path / "b.toml").write_text(TRAIN.format(g=1.0, iters=1))
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "rnncondense.cli", "train", str(tmp_path / "a.toml"), "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait_for_lock(out, first)
        outside = stats_below(tmp_path, skip=out)
        resume, fresh = _clis(("train", tmp_path / "a.toml", "--out", out, "--resume"),
                              ("train", tmp_path / "a.toml", "--out", out))  # two fresh trains into one new directory
        _refused(resume, out, first.pid)
        _refused(fresh, out, first.pid)
        assert first.poll() is None, "the first train ended before the second writers were tried"
        assert stats_below(tmp_path, skip=out) == outside
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the killed writer's lock is stale: a resume (the config differs only in max_iters) takes it over
    resumed = _cli("train", tmp_path / "b.toml", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"stale lock of '{out}' (pid {first.pid} " in resumed.stderr
    assert (out / layout.PARAMS_FILE).is_file() and not (out / LOCK_FILE).exists()




@pytest.mark.slow
def test_two_sweeps_into_one_out_cannot_mix(tmp_path):
    (tmp_path / "a.toml").write_text(TRAIN.format(g=1.0, iters=300))
    (tmp_path / "b.toml").write_text(TRAIN.format(g=1.2, iters=300))
    out = tmp_path / "sweep"
    args = ["--out", out, "--sizes", "4", "--seeds", "1", "--workers", "1"]
    first = subprocess.Popen([sys.executable, "-m", "rnncondense.cli", "sweep", tmp_path / "a.toml", *map(str, args)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait_for_lock(out, first)
        outside = stats_below(tmp_path, skip=out)
        other, same = _clis(("sweep", tmp_path / "b.toml", *args), ("sweep", tmp_path / "a.toml", *args))
        _refused(other, out, first.pid)  # a different config
        _refused(same, out, first.pid)  # the same config
        assert stats_below(tmp_path, skip=out) == outside
        _, stderr = first.communicate(timeout=300)
        assert first.returncode == 0, stderr
        # Dask's own logs and warnings stay off the terminal
        assert "distributed." not in stderr and "Port 8787" not in stderr and "Traceback" not in stderr, stderr
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    configs = list((out / "networks").glob("*/config.toml"))
    assert len(configs) == 1 and "g = 1.0\n" in configs[0].read_text()
    assert not list(out.rglob(LOCK_FILE))
