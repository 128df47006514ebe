"""Nothing accepted silently: an edited config.toml, metrics.json or condensation record.json is
refused by name (its digest is in the weights' metadata, `ties`); a checkpoint holding NaN refuses
the resume; `report` writes only into a study, condensation or run directory and reads nothing
through a symbolic link out of it; a user's file named like a temporary is never deleted. Each case:
one line, exit status 2, and no file anywhere under the test's directory changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncondense import layout, storage, ties
from rnncondense.cli import app
from untouched import contents_below

runner = CliRunner()


def _refused(args, *names):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def run(tiny_run, tmp_path) -> Path:
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


def _edit_config(run: Path) -> None:
    text = (run / layout.CONFIG_FILE).read_text()
    assert "sigma_rec = 0.05\n" in text
    (run / layout.CONFIG_FILE).write_text(text.replace("sigma_rec = 0.05\n", "sigma_rec = 0.04\n"))


@pytest.mark.parametrize("command", [["evaluate"], ["analyze", "--no-figures"], ["plot"],
                                     ["condense", "--out", "{tmp}/c", "--method", "one-shot", "--max-merges", "1"]])
def test_an_edited_config_is_refused_by_name(run, tmp_path, command):
    _edit_config(run)
    before = contents_below(tmp_path)
    args = [command[0], run, *[a.replace("{tmp}", str(tmp_path)) for a in command[1:]]]
    _refused(args, str(run / layout.CONFIG_FILE), "changed after params.safetensors was written")
    assert contents_below(tmp_path) == before and not (tmp_path / "c").exists()


def test_a_run_written_before_the_digests_is_accepted_unchecked(run):
    tensors, meta = storage.load_tensors(run / layout.PARAMS_FILE, kind="params")
    assert ties.CONFIG_KEY in meta and ties.METRICS_KEY in meta
    old = {k: v for k, v in meta.items() if k not in (ties.CONFIG_KEY, ties.METRICS_KEY)}
    storage.save_tensors(run / layout.PARAMS_FILE, tensors, kind="params", meta=old)
    _edit_config(run)
    result = runner.invoke(app, ["evaluate", str(run), "--repeats", "1"])
    assert result.exit_code == 0, result.output


def test_a_reformatted_config_with_the_same_values_is_accepted(run):
    path = run / layout.CONFIG_FILE
    path.write_text("# a comment a user added\n" + path.read_text().replace(" = ", "   =   "))
    result = runner.invoke(app, ["evaluate", str(run), "--repeats", "1"])
    assert result.exit_code == 0, result.output


def test_an_edited_metrics_file_is_refused_by_the_report(run, tmp_path):
    study = tmp_path / "study"
    shutil.move(run, study / "base")
    path = study / "base" / layout.METRICS_FILE
    data = storage.read_json(path)
    data["validation"]["mse"] = float(data["validation"]["mse"]) * 0.5
    storage.write_json(path, data)
    before = contents_below(tmp_path)
    _refused(["report", study], str(path), "changed after")
    assert contents_below(tmp_path) == before


def test_an_edited_condensation_record_is_refused_on_resume(run, tmp_path):
    out = tmp_path / "c"
    args = ["condense", run, "--out", out, "--method", "one-shot", "--operator", "seed", "--max-merges", "2", "--k", "2"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    record = out / "steps" / "step_001" / "record.json"
    data = storage.read_json(record)
    data["success"] = not data["success"]
    storage.write_json(record, data)
    before = contents_below(tmp_path)
    _refused([*args, "--resume"], str(record), "changed after network.safetensors was written")
    assert contents_below(tmp_path) == before


def test_a_checkpoint_holding_nan_refuses_the_resume(run, tmp_path):
    path = run / layout.CHECKPOINT_FILE
    tensors, meta = storage.load_tensors(path, kind="checkpoint")
    name = next(k for k in tensors if k.startswith("best") and "W_rec" in k)
    tensors[name] = tensors[name].copy()
    tensors[name][0, 0] = np.nan
    storage.save_tensors(path, tensors, kind="checkpoint", meta=meta)  # a valid checksum over NaN
    config = tmp_path / "config.toml"
    shutil.copy(run / layout.CONFIG_FILE, config)
    before = contents_below(tmp_path)
    _refused(["train", config, "--out", run, "--resume"], str(path), name, "NaN or inf")
    assert contents_below(tmp_path) == before


def test_report_refuses_a_user_directory_and_a_file(tmp_path):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "report.html").write_text("<p>my own page</p>")
    before = contents_below(tmp_path)
    _refused(["report", user], str(user), "not a study, condensation or run directory")
    _refused(["report", user / "report.html"], "exists and is not a directory")
    assert contents_below(tmp_path) == before


def test_report_of_a_run_directory_is_written_into_it(run):
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert "The task and the base network" in (run / "report.html").read_text()


@pytest.mark.parametrize("link", ["base/figures/task.png", "base/config.toml"])
def test_report_never_follows_a_symlink_out_of_the_study(run, tmp_path, link):
    study = tmp_path / "study"
    shutil.move(run, study / "base")
    storage.write_json(study / "study.json", {})  # marks the study (base/config.toml may be the link)
    runner.invoke(app, ["plot", str(study / "base")])
    secret = tmp_path / "outside" / Path(link).name
    secret.parent.mkdir()
    secret.write_bytes((study / link).read_bytes())
    (study / link).unlink()
    (study / link).symlink_to(secret)
    before = contents_below(tmp_path)
    _refused(["report", study], str(study / link), "symbolic link out of")
    assert contents_below(tmp_path) == before and not (study / "report.html").exists()


def test_a_users_file_named_like_a_temporary_is_never_deleted(tmp_path):
    (tmp_path / "tiny.toml").write_text("[model]\nn_units = 4\n[train]\nmax_iters = 1\n")
    out = tmp_path / "d"
    out.mkdir()
    mine = out / ".notes.abcdefgh.tmp"
    mine.write_text("a user's notes")
    for args in (["train", tmp_path / "tiny.toml", "--out", out], ["train", tmp_path / "tiny.toml", "--out", out, "--resume"]):
        runner.invoke(app, [str(a) for a in args])
        assert mine.read_text() == "a user's notes"
    assert not storage.is_temporary(mine)
    assert storage.is_temporary(out / f".params.safetensors.{storage.TEMPORARY_TAG}a1b2c3d4.tmp")
