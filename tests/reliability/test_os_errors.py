"""Operating-system errors and memory exhaustion end a command with one line naming the path and the
cause and exit status 2 (`failures`, `cli.user_errors`), keep what was finished, and change no file
outside the command's directory. A full disk and a read-only directory are real (a small tmpfs,
mounted where the test may mount; skipped elsewhere) and also injected (always run)."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnncondense import failures, layout, storage
from rnncondense.cli import app
from rnncondense.dirlock import LOCK_FILE
from untouched import stats_below

runner = CliRunner()

TINY = """
[task]
intervals_ms = [500.0, 700.0]
tail_ms = 100.0
val_trials_per_interval = 2
[model]
n_units = 8
[train]
trainer = "adam"
max_iters = 6
eval_every = 3
checkpoint_every = 3
[train.adam]
batch_size = 4
"""


def _one_line(result, *expected, status=2, progress=False):
    """The command failed with exactly one line on stderr (`progress`: after its progress bar)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == status, result.output
    if progress:
        lines = [line for line in lines if not line.startswith("train ")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("oserr")
    (root / "tiny.toml").write_text(TINY)
    result = runner.invoke(app, ["train", str(root / "tiny.toml"), "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs at tmp_path/disk (options as asked); skip where mounting is not allowed."""
    mounted = []

    def mount(options):
        target = tmp_path / "disk"
        target.mkdir(exist_ok=True)
        command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)]
        if shutil.which("mount") is None or subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("this machine does not let the test mount a tmpfs")
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _fail_writes_of(name, code, monkeypatch):
    """Make fsync fail with `code` for the temporary file of `name` (Linux: /proc/self/fd)."""
    real = os.fsync

    def fsync(fd):
        if f".{name}." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        return real(fd)

    monkeypatch.setattr(storage.os, "fsync", fsync)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_a_full_disk_is_one_line_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    (tmp_path / "tiny.toml").write_text(TINY)
    _fail_writes_of(layout.PARAMS_FILE, errno.ENOSPC, monkeypatch)
    out = tmp_path / "run"
    outside = stats_below(tmp_path, skip=out)
    result = runner.invoke(app, ["train", str(tmp_path / "tiny.toml"), "--out", str(out)])
    _one_line(result, str(out / layout.PARAMS_FILE), "disk is full", "[ENOSPC]", progress=True)
    assert stats_below(tmp_path, skip=out) == outside
    storage.load_tensors(out / layout.CHECKPOINT_FILE, kind="checkpoint")  # finished work is kept, intact
    assert not (out / layout.PARAMS_FILE).exists() and not (out / LOCK_FILE).exists()
    assert not [p for p in out.iterdir() if storage.is_temporary(p)]
    monkeypatch.undo()
    result = runner.invoke(app, ["train", str(tmp_path / "tiny.toml"), "--out", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert (out / layout.PARAMS_FILE).is_file()


def test_a_real_full_disk(tmp_path, tmpfs):
    disk = tmpfs("size=12k")
    (tmp_path / "tiny.toml").write_text(TINY)
    outside = stats_below(tmp_path, skip=disk)
    result = runner.invoke(app, ["train", str(tmp_path / "tiny.toml"), "--out", str(disk / "run")])
    _one_line(result, str(disk / "run"), "disk is full", "[ENOSPC]", progress=True)
    assert stats_below(tmp_path, skip=disk) == outside


def test_a_real_read_only_directory_is_refused_before_any_work(trained, tmp_path, tmpfs):
    disk = tmpfs("size=4m")
    shutil.copytree(trained / "run", disk / "run")
    before = stats_below(disk)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    for command in (["evaluate", str(disk / "run")], ["analyze", str(disk / "run")], ["plot", str(disk / "run")]):
        result = runner.invoke(app, command)
        _one_line(result, str(disk / "run" / LOCK_FILE), "read-only", "[EROFS]")
    assert stats_below(disk) == before


def test_an_injected_read_only_directory_is_one_line(trained, monkeypatch):
    run = trained / "run"
    before = stats_below(trained)
    real = os.open

    def read_only(path, *args, **kwargs):
        if str(path).endswith(LOCK_FILE):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr("rnncondense.dirlock.os.open", read_only)
    result = runner.invoke(app, ["evaluate", str(run)])
    _one_line(result, str(run / LOCK_FILE), "read-only", "[EROFS]")
    assert stats_below(trained) == before


def test_a_name_too_long_is_one_line_and_creates_nothing(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    before = stats_below(tmp_path)
    result = runner.invoke(app, ["train", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / ("r" * 300))])
    _one_line(result, "file name is too long", "[ENAMETOOLONG]")
    assert stats_below(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]


@pytest.mark.parametrize("error", [MemoryError(), "RESOURCE_EXHAUSTED"])
def test_memory_exhaustion_is_one_line(tmp_path, monkeypatch, error):
    import jax

    if error == "RESOURCE_EXHAUSTED":
        error = jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory allocating 48900000000 bytes.")

    def exhausted(*args, **kwargs):
        raise error

    monkeypatch.setattr("rnncondense.runs.train.run_loop", exhausted)
    (tmp_path / "tiny.toml").write_text(TINY)
    result = runner.invoke(app, ["train", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "run")])
    _one_line(result, "out of memory", progress=True)


def test_other_runtime_errors_are_not_hidden():
    assert not failures.is_failure(RuntimeError("a bug"))
    assert failures.is_failure(OSError(errno.ENOSPC, "No space left on device"))
    text = failures.describe(OSError(errno.ENAMETOOLONG, "File name too long", "/x/" + "y" * 1000))
    assert "\n" not in text and len(text) < 400 and "[ENAMETOOLONG]" in text


def test_evaluate_with_a_seed_beyond_32_bits_is_one_line(trained):
    result = runner.invoke(app, ["evaluate", str(trained / "run"), "--seed", "99999999999999999999"])
    _one_line(result, "--seed = 99999999999999999999 is not allowed", "4294967295")


def test_a_sweep_with_failed_networks_exits_non_zero_and_says_how_many(tmp_path, monkeypatch):
    """The command's exit path (run_sweep itself counts failures in tests/sweep/test_sweep_run.py)."""
    import numpy as np
    import xarray as xr

    from rnncondense.runs.sweep import SweepResult

    def sweep(*args, out, **kwargs):
        rows = [{"size": 4, "seed": s, "network": f"n4_s{s}", "status": "failed" if s else "done"} for s in range(3)]
        table = xr.Dataset({"x": ("size", np.zeros(1))}, coords={"size": [4]})
        return SweepResult(Path(out), table, rows, {"n4_s1": "KilledWorker", "n4_s2": "KilledWorker"}, 1, 0, 1.0, [])

    monkeypatch.setattr("rnncondense.runs.sweep.run_sweep", sweep)
    monkeypatch.setattr("rnncondense.runs.sweep_table.size_summary", lambda table: [])
    (tmp_path / "tiny.toml").write_text(TINY.replace("max_iters = 6", "max_iters = 6\nstop_on_success = false"))
    result = runner.invoke(app, ["sweep", str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "s"), "--sizes", "4",
                                 "--seeds", "3"])
    assert result.exit_code == 1, result.output
    assert "error: 2 of 3 networks failed" in result.stderr


def test_the_installed_command_prints_one_line_for_a_name_too_long(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    proc = subprocess.run([sys.executable, "-m", "rnncondense.cli", "train", str(tmp_path / "tiny.toml"), "--out",
                           str(tmp_path / ("r" * 300))], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "[ENAMETOOLONG]" in proc.stderr
