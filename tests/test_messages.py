"""Messages a user reads: short, true and one line. Ctrl-C before the first checkpoint, a double
Ctrl-C, a progress bar whose trials all miss, the sweep table at 80 columns, a worker count beyond
memory, a tiny dt, and the circuits' parameters and conventions in `circuits --help`."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rnncondense import layout
from typer.testing import CliRunner

from rnncondense.cli import TrainProgress, app
from rnncondense.dirlock import LOCK_FILE

runner = CliRunner()


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _as_at_a_terminal(*args: str) -> list[str]:
    """`python args...` started as a terminal's foreground job is: with Ctrl-C (SIGINT) at its
    default. A suite run as a background job of a non-interactive shell (`cmd &`) has SIGINT
    ignored, which the child would inherit and, rightly, keep; a small launcher resets it and execs
    the command (no preexec_fn: forking a process that runs JAX's threads)."""
    launcher = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")
    return [sys.executable, "-c", launcher, *args]


@pytest.mark.parametrize("dt", ["1e-300", "1e-320", "5e-324"])
def test_a_tiny_dt_is_refused_with_a_short_number(tmp_path, dt):
    (tmp_path / "c.toml").write_text(f"[task]\ndt_ms = {dt}\n")
    result = runner.invoke(app, ["train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "\n" not in line and "steps is too long (at most 200000)" in line
    assert not re.search(r"\d{12,}", line), line  # 2.2e+303, not a 304-digit integer
    assert len(line) < 200 + len(str(tmp_path))


def test_progress_without_any_crossing_shows_no_nan():
    bar = TrainProgress(10)
    metrics = SimpleNamespace(timing_mae_ms=float("nan"), timing_rel_error=float("nan"), success=False, miss_rate=1.0)
    bar.show = lambda: None  # nothing drawn: only the fields are checked
    bar(SimpleNamespace(info={"loss": 0.5}, metrics=metrics, iteration=3))
    fields = bar.bar.tasks[0].fields
    assert "nan" not in fields["timing"].lower() and "every trial missed" in fields["timing"]


def test_the_sweep_table_fits_80_columns_with_whole_headers(tmp_path, monkeypatch):
    import numpy as np
    import xarray as xr

    from rnncondense.runs.sweep import SweepResult

    row = {"size": 200, "model.g": 1.5, "finished": 5, "networks": 5, "success_fraction": 1.0, "timing_rel_error": 0.032,
           "pcs_90": 4.0, "participation_ratio": 2.31, "scaling_index": 0.85, "ramp_fraction": 0.4, "train_time_s": 1234.0}
    monkeypatch.setattr("rnncondense.runs.sweep.run_sweep", lambda *a, out, **k: SweepResult(
        Path(out), xr.Dataset({"x": ("size", np.zeros(1))}), [], {}, 5, 0, 1.0, []))
    monkeypatch.setattr("rnncondense.runs.sweep_table.size_summary", lambda table: [row])
    (tmp_path / "c.toml").write_text("[train]\nstop_on_success = false\nmax_iters = 5\n")
    result = runner.invoke(app, ["sweep", str(tmp_path / "c.toml"), "--out", str(tmp_path / "s"), "--sizes", "200",
                                 "--seeds", "5", "--axis", "model.g=1.0,1.5"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "size" in line and "success" in line)
    for name in ("size", "model.g", "done", "success", "timing", "pcs_90", "PR", "scaling", "ramps", "train s"):
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", header), (name, header)
    assert "…" not in result.stdout


def test_workers_beyond_memory_are_refused_with_the_largest_count():
    from rnncondense.errors import ConfigError
    from rnncondense.memory import WORKER_IDLE_BYTES, check_workers

    with pytest.raises(ConfigError, match=r"workers \(--workers\) = 1024 is not allowed: an idle worker takes about "
                                          r"130\.0 MB and 1\.6 GB of memory is available, enough for at most 12 workers"):
        check_workers(1024, available=12 * WORKER_IDLE_BYTES + 1)
    check_workers(12, available=12 * WORKER_IDLE_BYTES + 1)


def test_workers_1024_are_refused_by_the_command_on_this_machine(tmp_path):
    from rnncondense.memory import WORKER_IDLE_BYTES, available_bytes

    available = available_bytes()
    if available is None or available >= 1024 * WORKER_IDLE_BYTES:
        pytest.skip("this machine has memory for 1024 idle workers")
    (tmp_path / "c.toml").write_text("[train]\nstop_on_success = false\nmax_iters = 5\n")
    result = runner.invoke(app, ["sweep", str(tmp_path / "c.toml"), "--out", str(tmp_path / "s"), "--sizes", "4",
                                 "--seeds", "1", "--workers", "1024"])
    assert result.exit_code == 2 and "an idle worker takes about" in result.stderr
    assert not (tmp_path / "s").exists()


def test_circuits_help_lists_every_parameter_with_published_defaults_and_conventions():
    from rnncondense.circuits import CIRCUITS, describe_parameters

    result = runner.invoke(app, ["circuits", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for name, spec in CIRCUITS.items():
        for field in describe_parameters(spec.config):
            assert f"--{field} " in text, (name, field)
    assert "-72.327490188641" in text and "353.2331391568557" in text  # not the rounded -72.3 and 353
    assert "negative is uniform inhibition" in text and "positive when the bump trails the input" in text


_SLOW_GOODBYE = """
import sys, time
from rnncondense import interrupts
interrupts.watch()
interrupts.farewell(lambda: "farewell: the checkpoint is kept")
try:
    print("working", flush=True)
    time.sleep(600)
except KeyboardInterrupt:
    interrupts.first_caught()
    print("saying goodbye", flush=True)
    time.sleep(600)  # a goodbye that does not end (Dask shutting down, a disk that hangs)
    interrupts.leave(130)
"""


def test_a_second_ctrl_c_ends_a_goodbye_that_hangs():
    """The first Ctrl-C starts the goodbye, which a further interrupt must not cut short with a
    traceback; but when the goodbye hangs, the second Ctrl-C ends the process at once, with the
    command's farewell and status 130."""
    proc = subprocess.Popen(_as_at_a_terminal("-c", _SLOW_GOODBYE), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    assert proc.stdout.readline().strip() == "working", proc.communicate()
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "saying goodbye", proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)  # the goodbye alone would take 600 s
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "farewell: the checkpoint is kept", stderr


@pytest.mark.slow
def test_ctrl_c_twice_before_the_first_checkpoint(tmp_path):
    (tmp_path / "c.toml").write_text(
        "[task]\nintervals_ms = [500.0, 700.0]\ntail_ms = 100.0\nval_trials_per_interval = 2\n[model]\nn_units = 8\n"
        "[train]\ntrainer = \"adam\"\nmax_iters = 1000000\neval_every = 1000000\ncheckpoint_every = 1000000\n"
        "stop_on_success = false\n[train.adam]\nbatch_size = 4\n")
    out = tmp_path / "run"
    proc = subprocess.Popen(_as_at_a_terminal("-m", "rnncondense.cli", "train", str(tmp_path / "c.toml"), "--out", str(out)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 120
    while not (out / LOCK_FILE).is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    # Ctrl-C inside the training loop checkpoints the state it has; before the loop there is none.
    # Which of the two it was depends on the machine's speed; the message must match what is on disk.
    if (out / layout.CHECKPOINT_FILE).is_file():
        assert "continue with --resume" in stderr and "nothing to continue" not in stderr, stderr
    else:
        assert "interrupted before the first checkpoint" in stderr and "continue with --resume" not in stderr, stderr


def test_a_sweep_whose_concurrent_networks_exceed_memory_is_refused():
    from rnncondense.config import config_from_dict
    from rnncondense.errors import ConfigError
    from rnncondense.memory import WORKER_IDLE_BYTES, check_sweep

    configs = [config_from_dict({"model": {"n_units": n}, "train": {"trainer": "adam"}}) for n in (1000, 2000)]
    steps = configs[0].task.n_steps
    batch = max(64, 16 * 8)  # Adam's batch, or the validation batch: 16 trials x 8 intervals
    one = [batch * steps * n * 4 * 3 for n in (1000, 2000)]  # trials x steps x units x float32 x 3 arrays
    enough_for_one = one[1] + WORKER_IDLE_BYTES + 1
    check_sweep(configs, 1, available=enough_for_one)
    with pytest.raises(ConfigError, match=r"^sweep\.toml: 2 workers training the largest networks at once need at least "):
        check_sweep(configs, 2, source="sweep.toml", available=enough_for_one)
    check_sweep(configs, 2, available=sum(one) + 2 * WORKER_IDLE_BYTES)
