"""The command line: the happy path and bad input (one line, exit status 2, nothing overwritten)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from rnncondense import layout
from rnncondense.cli import app

runner = CliRunner()

TINY = """
[task]
intervals_ms = [500.0, 700.0]
tail_ms = 100.0
val_trials_per_interval = 2
[model]
n_units = 8
[train]
max_iters = 6
eval_every = 3
checkpoint_every = 3
[train.hf]
gradient_batch_size = 8
curvature_batch_size = 4
cg_max_iters = 10
"""


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "tiny.toml").write_text(TINY)
    result = runner.invoke(app, ["train", str(root / "tiny.toml"), "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "run"


def test_train_evaluate_plot(trained_run):
    for name in (layout.CONFIG_FILE, layout.PARAMS_FILE, layout.METRICS_FILE, layout.HISTORY_FILE, layout.CHECKPOINT_FILE):
        assert (trained_run / name).is_file()
    result = runner.invoke(app, ["evaluate", str(trained_run), "--repeats", "2"])
    assert result.exit_code == 0, result.output
    assert "produced (ms)" in result.stdout and (trained_run / "evaluation.json").is_file()
    result = runner.invoke(app, ["plot", str(trained_run), "--units", "0,3"])
    assert result.exit_code == 0, result.output
    for name in ("task.png", "behavior.png", "units.png"):
        assert (trained_run / "figures" / name).stat().st_size > 1000


def _bad(tmp_path, config_text, expected, out="run"):
    path = tmp_path / "c.toml"
    path.write_text(config_text)
    result = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert expected in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[model]\ntau_ms = -5.0", "model.tau_ms = -5.0 is not allowed: Input should be greater than 0"),
        ("[task]\nintervals_ms = []", "task.intervals_ms = [] is not allowed"),
        ("[task]\nintervals_ms = [700.0, 500.0]", "intervals must be strictly increasing"),
        ("[model]\nn_unitz = 5", "unknown field 'model.n_unitz'"),
        ('[task]\ndt_ms = "fast"', "task.dt_ms = 'fast' is not allowed: Input should be a valid number"),
    ],
)
def test_bad_config_values(tmp_path, text, expected):
    _bad(tmp_path, text, expected)
    assert not (tmp_path / "run").exists()  # validated before anything is written


def test_missing_config_file(tmp_path):
    result = runner.invoke(app, ["train", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "nope.toml' does not exist" in result.stderr


def test_not_a_run_directory(tmp_path):
    (tmp_path / "somewhere").mkdir()
    for command in (["evaluate", str(tmp_path / "somewhere")], ["plot", str(tmp_path / "somewhere")]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "is not a run directory (no config.toml)" in result.stderr
    result = runner.invoke(app, ["evaluate", str(tmp_path / "absent")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_existing_run_is_not_overwritten(trained_run, tmp_path):
    before = {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file()}
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    result = runner.invoke(app, ["train", str(path), "--out", str(trained_run)])
    assert result.exit_code == 2 and "already holds a run" in result.stderr
    # a bad config aimed at the same run changes nothing either
    path.write_text("[model]\ntau_ms = -1.0")
    result = runner.invoke(app, ["train", str(path), "--out", str(trained_run)])
    assert result.exit_code == 2
    assert before == {p.name: p.read_bytes() for p in trained_run.iterdir() if p.is_file() and p.name in before}


def test_bad_units_option(trained_run):
    result = runner.invoke(app, ["plot", str(trained_run), "--units", "1,x"])
    assert result.exit_code == 2 and "--units = '1,x' is not allowed" in result.stderr
    result = runner.invoke(app, ["plot", str(trained_run), "--units", "99"])
    assert result.exit_code == 2 and "unit indices must be in [0, 7]" in result.stderr


def test_installed_entry_point_reports_errors_without_traceback(tmp_path):
    (tmp_path / "c.toml").write_text("[model]\ntau_ms = -5.0")
    proc = subprocess.run(
        [sys.executable, "-m", "rnncondense.cli", "train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "model.tau_ms = -5.0" in proc.stderr


def test_compare_prints_geometry_and_dynamics_side_by_side(trained_run):
    result = runner.invoke(app, ["compare", str(trained_run), str(trained_run), "--rank", "6", "--n-delays", "5"])
    assert result.exit_code == 0, result.output
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.stdout.splitlines() if "│" in line]
    rows = {row[0]: row[1] for row in cells if row and row[0] in ("Procrustes", "CCA", "DSA (rad)")}
    assert rows == {"Procrustes": "1.000", "CCA": "1.000", "DSA (rad)": "0.000"}
    result = runner.invoke(app, ["compare", str(trained_run), str(trained_run), "--rank", "9999"])
    assert result.exit_code == 2 and "--n-delays / --rank: rank (=9999) must be an integer in" in result.stderr
