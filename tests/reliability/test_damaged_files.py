"""Damaged, foreign and hostile files, through the command line: each is refused with one line
(exit status 2) that names the file, and nothing that was there before is changed."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from typer.testing import CliRunner

from rnncondense import layout, storage, ties
from rnncondense.cli import app

runner = CliRunner()


def _refused(args: list[str], *names: str) -> str:
    """Run the CLI; it must exit with 2 and one line that names every one of `names`."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line, line
    for name in names:
        assert name in line, line
    return line


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture
def run(tiny_run, tmp_path) -> Path:
    """A private copy of the shared trained run, free to damage."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "flipped byte":
        data = data[:-5] + bytes([data[-5] ^ 0xFF]) + data[-4:]
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = b""
    elif how == "pickle":
        data = pickle.dumps({"W_rec": np.zeros((3, 3))})
    elif how == "random bytes":
        data = np.random.default_rng(0).bytes(4096)
    path.write_bytes(data)


@pytest.mark.parametrize("how", ["flipped byte", "truncated", "empty", "pickle", "random bytes"])
def test_damaged_weights_are_refused_by_every_reader(run, how):
    _damage(run / layout.PARAMS_FILE, how)
    before = _snapshot(run)
    for command in (["evaluate", run], ["plot", run], ["analyze", run]):
        _refused(command, str(run / layout.PARAMS_FILE))
    _refused(["condense", run, "--out", run.parent / "condensed"], str(run / layout.PARAMS_FILE))
    assert _snapshot(run) == before and not (run.parent / "condensed" / "steps").exists()


@pytest.mark.parametrize("how", ["flipped byte", "truncated", "pickle"])
def test_damaged_checkpoint_is_refused_on_resume(run, how):
    _damage(run / layout.CHECKPOINT_FILE, how)
    before = _snapshot(run)
    _refused(["train", run / layout.CONFIG_FILE, "--out", run, "--resume"], str(run / layout.CHECKPOINT_FILE))
    assert _snapshot(run) == before


def test_weights_of_the_wrong_shape_are_refused(run):
    tensors, meta = storage.load_tensors(run / layout.PARAMS_FILE, kind="params")
    storage.save_tensors(run / layout.PARAMS_FILE, {**tensors, "W_rec": tensors["W_rec"][:, :-1]}, kind="params", meta=meta)
    _refused(["evaluate", run], str(run / layout.PARAMS_FILE), "W_rec", "shape")
    # well-formed, but a network of another size than the run's config says
    bigger = {name: np.pad(t, [(0, 1)] * t.ndim) if name in ("W_rec", "b", "x0") else t for name, t in tensors.items()}
    bigger["W_in"] = np.pad(tensors["W_in"], [(0, 1), (0, 0)])
    bigger["W_out"] = np.pad(tensors["W_out"], [(0, 0), (0, 1)])
    storage.save_tensors(run / layout.PARAMS_FILE, bigger, kind="params", meta=meta)
    _refused(["evaluate", run], str(run / layout.PARAMS_FILE), "does not match")


def test_weights_written_by_another_program_are_refused(run):
    tensors, _ = storage.load_tensors(run / layout.PARAMS_FILE, kind="params")
    (run / layout.PARAMS_FILE).write_bytes(safetensors.numpy.save(tensors))  # valid safetensors, no metadata of ours
    _refused(["evaluate", run], str(run / layout.PARAMS_FILE), "another program")
    storage.save_tensors(run / layout.PARAMS_FILE, tensors, kind="checkpoint")  # ours, but another kind of file
    _refused(["evaluate", run], str(run / layout.PARAMS_FILE), "expected 'params'")


def test_weights_holding_nan_are_refused(run):
    tensors, meta = storage.load_tensors(run / layout.PARAMS_FILE, kind="params")
    tensors["W_rec"] = tensors["W_rec"].copy()
    tensors["W_rec"][2, 3] = np.nan
    storage.save_tensors(run / layout.PARAMS_FILE, tensors, kind="params", meta=meta)  # a valid checksum over NaN
    _refused(["evaluate", run], str(run / layout.PARAMS_FILE), "NaN or inf")


@pytest.mark.parametrize("text", ['{"validation": {"mse": NaN}, "training": {}}', '{"mse": Infinity}',
                                  '[1, 2, 3]', '{"validation": ', "\udcff".encode("utf-8", "surrogateescape").decode("latin-1")])
def test_a_metrics_file_with_nan_or_damage_is_refused_by_the_report(run, tmp_path, text):
    study = tmp_path / "study"
    shutil.copytree(run, study / "base")
    (study / "base" / layout.METRICS_FILE).write_text(text, encoding="latin-1")
    _refused(["report", study], str(study / "base" / layout.METRICS_FILE))
    assert not (study / "report.html").exists()


def test_a_damaged_condensation_step_is_refused_on_resume(run, tmp_path):
    out = tmp_path / "condensed"
    args = ["condense", run, "--out", out, "--method", "one-shot", "--operator", "seed", "--max-merges", "2", "--k", "2"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    record = out / "steps" / "step_001" / "record.json"
    (record).write_text(json.dumps({**storage.read_json(record), "mse": "0.1"}))
    _refused([*args, "--resume"], str(record), "mse")
    record.write_text('{"step": 1, "n_units": NaN}')
    _refused([*args, "--resume"], str(record), "NaN")
    shutil.rmtree(out / "steps" / "step_000")  # step 1 exists whether or not the task survived its merge
    _refused([*args, "--resume"], "step_000", "missing")


def test_a_damaged_sweep_result_is_refused_and_kept(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('[task]\nintervals_ms = [500.0, 700.0]\ntail_ms = 100.0\nval_trials_per_interval = 2\n'
                      '[train]\ntrainer = "adam"\nmax_iters = 4\neval_every = 2\nstop_on_success = false\n'
                      '[train.adam]\nbatch_size = 4\n')
    out = tmp_path / "sweep"
    args = ["sweep", config, "--out", out, "--sizes", "3", "--seeds", "1", "--workers", "1"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    (path,) = out.glob("networks/*/result.json")
    path.write_text(json.dumps({**storage.read_json(path), "task": {"mse": "small"}}))
    damaged = path.read_bytes()
    _refused(args, str(path), "changed after it was written")  # its sidecar (ties) no longer matches
    ties.sidecar(path).unlink()  # as a result written before the sidecars: its entries are checked
    _refused(args, str(path), "mse")
    assert path.read_bytes() == damaged  # refused, not overwritten: the user decides


def test_paths_in_files_cannot_escape_the_run_directory(run, tmp_path):
    from rnncondense.errors import RunDirError

    for name in ("../outside.png", "/etc/passwd", "figures/../../outside.png"):
        with pytest.raises(RunDirError):
            storage.safe_child(run, name)
    # a circuit summary that lists a file outside its directory: the report does not embed it
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not for the page")
    circuit = tmp_path / "study" / "circuits" / "lif"
    circuit.mkdir(parents=True)
    storage.write_json(circuit / "summary.json", {"circuit": "lif", "files": ["../../../secret.png", str(secret)]})
    result = runner.invoke(app, ["report", str(tmp_path / "study")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "study" / "report.html").read_text()
    assert "not for the page" not in page and base64.b64encode(secret.read_bytes()).decode() not in page
