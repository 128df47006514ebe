"""Every record a later command trusts and no weights file ties carries a checksummed sidecar
(`ties`: NAME.sha256 beside NAME): a run's analysis/metrics.json, a condensation's condense.json,
summary.csv and result.json, a study's study.json, a circuit's summary.json (the sweep's records
are checked in tests/sweep/test_sweep_run.py, on the sweep that test runs). One byte of each is
changed by hand, then the command that reads it back is run: it refuses with one line naming the
file, exit status 2, and no file anywhere under the test's directory changed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnncondense import layout, ties
from rnncondense.cli import app
from rnncondense.condense.config import condense_config
from rnncondense.config import load_config
from rnncondense.errors import FileFormatError
from rnncondense.runs.analyze import analyze_run, read_activity
from rnncondense.runs.circuits import run_circuit
from rnncondense.runs.condense import condense_run
from rnncondense.runs.study import study_record
from untouched import contents_below

runner = CliRunner()
ONE_SHOT = ["--method", "one-shot", "--operator", "seed", "--max-merges", "2", "--k", "2"]


def _refused(args, *names) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def edit_one_byte(path: Path) -> None:
    """Change one digit of `path` into another (the file stays valid JSON or CSV)."""
    data = bytearray(path.read_bytes())
    at = next(i for i in range(len(data) - 1, -1, -1) if chr(data[i]).isdigit())
    data[at] = ord("1") if data[at] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def made(tiny_run, tmp_path_factory) -> Path:
    """A study directory: its record, the base run analysed, a one-shot condensation, a circuit."""
    root = tmp_path_factory.mktemp("records") / "study"
    shutil.copytree(tiny_run, root / layout.STUDY_BASE_DIR)
    analyze_run(root / layout.STUDY_BASE_DIR, figures=False)
    condense_run(root / layout.STUDY_BASE_DIR, root / layout.STUDY_CONDENSE_DIR / "one-shot",
                 condense_config({"method": "one-shot", "operator": "seed", "max_merges": 2, "k": 2}), figures=False)
    run_circuit("linear2", {"animation_frames": "4"}, root / layout.STUDY_CIRCUITS_DIR / "linear2")
    ties.write_json(root / layout.STUDY_FILE, study_record(load_config(root / layout.STUDY_BASE_DIR / layout.CONFIG_FILE), "quick"))
    return root


@pytest.fixture
def study(made, tmp_path) -> Path:
    return Path(shutil.copytree(made, tmp_path / "study", symlinks=True))


SEALED = [
    f"{layout.STUDY_BASE_DIR}/{layout.ANALYSIS_DIR}/{layout.ANALYSIS_METRICS_FILE}",
    f"{layout.STUDY_BASE_DIR}/{layout.ANALYSIS_DIR}/{layout.ACTIVITY_FILE}",
    f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_SETTINGS_FILE}",
    f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_SUMMARY_FILE}",
    f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_RESULT_FILE}",
    f"{layout.STUDY_CIRCUITS_DIR}/linear2/{layout.CIRCUIT_SUMMARY_FILE}",
    layout.STUDY_FILE,
]


@pytest.mark.parametrize("name", SEALED)
def test_each_record_has_a_sidecar_that_sha256sum_accepts(made, name):
    side = ties.sidecar(made / name)
    digest, written = side.read_text().split()
    assert written == Path(name).name and digest == hashlib.sha256((made / name).read_bytes()).hexdigest()
    if shutil.which("sha256sum"):  # the sidecar is in the format of the standard tool
        check = subprocess.run(["sha256sum", "-c", side.name], cwd=side.parent, capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout.strip() == f"{written}: OK", check


# (the record edited, the command that trusts it, relative to the study directory)
EDITS = [
    (f"{layout.STUDY_BASE_DIR}/{layout.ANALYSIS_DIR}/{layout.ANALYSIS_METRICS_FILE}", ["report", "base"]),
    (f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_SUMMARY_FILE}", ["report", "condense/one-shot"]),
    (f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_RESULT_FILE}", ["report", "."]),
    (f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_SETTINGS_FILE}", ["report", "condense/one-shot"]),
    (f"{layout.STUDY_CONDENSE_DIR}/one-shot/{layout.CONDENSE_SETTINGS_FILE}",
     ["condense", "base", "--out", "condense/one-shot", *ONE_SHOT, "--resume"]),
    (f"{layout.STUDY_CIRCUITS_DIR}/linear2/{layout.CIRCUIT_SUMMARY_FILE}", ["report", "."]),
]


@pytest.mark.parametrize("name, command", EDITS, ids=[f"{c[0]}-{Path(n).name}" for n, c in EDITS])
def test_an_edited_record_is_refused_by_name(study, tmp_path, name, command):
    edit_one_byte(study / name)
    before = contents_below(tmp_path)
    args = [command[0], *[study / a if a in (".", "base") or a.startswith("condense/") else a for a in command[1:]]]
    _refused(args, str(study / name), "changed after it was written", ties.sidecar(study / name).name)
    assert contents_below(tmp_path) == before


def test_the_report_refuses_to_print_an_edited_config(study, tmp_path):
    """The report prints the base network's config.toml: an edited one is refused (its digest is in
    params.safetensors), not shown beside numbers it did not produce."""
    path = study / layout.STUDY_BASE_DIR / layout.CONFIG_FILE
    text = path.read_text()
    assert "sigma_rec = 0.05\n" in text
    path.write_text(text.replace("sigma_rec = 0.05\n", "sigma_rec = 0.04\n"))
    before = contents_below(tmp_path)
    _refused(["report", study], str(path), "changed after params.safetensors was written")
    assert contents_below(tmp_path) == before and not (study / layout.REPORT_FILE).exists()


def test_an_edited_study_record_is_refused_before_any_work(study, tmp_path):
    (tmp_path / "base.toml").write_bytes((study / layout.STUDY_BASE_DIR / layout.CONFIG_FILE).read_bytes())
    edit_one_byte(study / layout.STUDY_FILE)
    before = contents_below(tmp_path)
    _refused(["study", tmp_path / "base.toml", "--out", study], str(study / layout.STUDY_FILE), "changed after")
    assert contents_below(tmp_path) == before


def test_an_edited_activity_file_is_refused_by_name(study):
    path = study / layout.STUDY_BASE_DIR / layout.ANALYSIS_DIR / layout.ACTIVITY_FILE
    read_activity(path)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"activity\.nc: changed after it was written"):
        read_activity(path)


def test_the_unedited_study_is_reported_and_a_record_without_sidecar_is_accepted(study):
    result = runner.invoke(app, ["report", str(study)])
    assert result.exit_code == 0, result.output
    ties.sidecar(study / SEALED[0]).unlink()  # written before the sidecars existed: accepted unchecked
    edit_one_byte(study / SEALED[0])
    result = runner.invoke(app, ["report", str(study / layout.STUDY_BASE_DIR)])
    assert result.exit_code == 0, result.output


def test_a_damaged_or_linked_sidecar_is_refused(study, tmp_path):
    path = study / SEALED[0]
    side = ties.sidecar(path)
    side.write_text("not a digest\n")
    with pytest.raises(FileFormatError, match=r"metrics\.json\.sha256: not a digest this program wrote"):
        ties.verify(path)
    side.unlink()
    (tmp_path / "elsewhere").write_text("x")
    side.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileFormatError, match=r"metrics\.json\.sha256: is a symbolic link"):
        ties.verify(path)


def test_a_rewritten_record_gets_a_new_sidecar_and_a_killed_rewrite_no_false_refusal(tmp_path):
    path = tmp_path / "r.json"
    ties.write_json(path, {"a": 1})
    ties.write_json(path, {"a": 2})
    assert ties.read_json(path) == {"a": 2}

    def killed():
        path.write_text('{"a": 3}')  # the record replaced, then the process dies before its sidecar
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ties.sealed(path, killed)
    assert not ties.sidecar(path).exists() and ties.read_json(path) == {"a": 3}
