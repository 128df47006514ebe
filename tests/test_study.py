"""The study in one call: every stage runs once, a second call continues instead of redoing, and
a directory holding another study is refused."""

from __future__ import annotations

import shutil

import pytest

from rnncondense import layout, storage
from rnncondense.runs import study
from rnncondense.config import load_config
from rnncondense.errors import ConfigError, RunDirError
from rnncondense.runs.study import StudyPlan, run_study

TINY_PLAN = StudyPlan(
    one_shot=[("pca", "seed")],
    one_shot_max_merges=3,
    pairs_per_step=2,
    iterative_target=20,
    iterative_operator="seed",
    iterative_retrain_until=["success", "budget"],
    preserving_target=20,
    retrain_iters=5,
    sweep_sizes=[3],
    sweep_seeds=1,
    sweep_max_iters=4,
    circuits=["linear2"],
)
STAGES = ["analysing the base network", "condensing: one-shot/pca_seed",
          "condensing: iterative", "condensing: iterative-budget", "condensing: preserving", "circuit model: linear2",
          "size sweep: [3] x 1 seeds", "writing the report"]


@pytest.fixture(scope="module")
def tiny_study(tiny_run, tmp_path_factory):
    """A study of the shared 24-unit network on a tiny plan, continued from a directory whose base
    network is already trained (as after an interruption), then run a second time."""
    config = load_config(tiny_run / layout.CONFIG_FILE)
    out = tmp_path_factory.mktemp("study") / "out"
    study.PRESETS["tiny-test"] = TINY_PLAN
    try:
        out.mkdir()
        storage.write_json(out / layout.STUDY_FILE, study.study_record(config, "tiny-test"))
        shutil.copytree(tiny_run, out / "base")
        first, second = [], []
        report = run_study(config, out, preset="tiny-test", say=first.append)
        run_study(config, out, preset="tiny-test", say=second.append)
        yield out, report, first, second, config
    finally:
        study.PRESETS.pop("tiny-test", None)


def test_every_stage_runs_once_and_a_second_call_only_rewrites_the_report(tiny_study):
    out, report, first, second, _ = tiny_study
    assert first == STAGES
    assert second == ["writing the report"]
    assert report == out / "report.html" and report.is_file()
    for marker in ("base/metrics.json", "base/analysis/metrics.json", "condense/one-shot/pca_seed/result.json",
                   "condense/iterative/result.json", "condense/preserving/result.json", "sweep/results.csv",
                   "circuits/linear2/summary.json"):
        assert (out / marker).is_file(), marker


def test_the_report_has_a_section_for_every_stage(tiny_study):
    page = tiny_study[1].read_text()
    for title in ("The task and the base network", "Condensation", "Size sweep", "Every metric", "Circuit models"):
        assert f">{title}</h2>" in page, title


def test_the_report_opens_with_the_findings_from_the_study_files(tiny_study):
    import csv
    import html
    import json
    import re

    out, report = tiny_study[0], tiny_study[1]
    page = report.read_text()
    assert re.findall(r'<section id="([^"]+)"><h2>', page)[0] == "findings"
    found = {key: json.loads(html.unescape(values)) for key, values in
             re.findall(r'id="finding-(\w+)" data-values="([^"]*)"', page)}
    assert set(found) == {"one_shot_seed", "best_operator", "iterative", "iterative_budget", "preserving",
                          "canonical", "sweep"}
    with open(out / "condense" / "one-shot" / "pca_seed" / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    failed = [int(r["step"]) for r in rows[1:] if r["success"] != "True"]
    assert found["one_shot_seed"]["merges_kept"] == (failed[0] - 1 if failed else int(rows[-1]["step"]))
    # 24 -> 20 units is not half the size, one sweep size is no trend, and canonical did not run: said so.
    # An iterative schedule that lost the task on the way is measured (it did not keep the task): said so too.
    for key in ("iterative", "iterative_budget", "canonical", "sweep"):
        item = page.split(f'id="finding-{key}"')[1].split("</li>")[0]
        rows = (storage.read_rows(out / "condense" / key.replace("_", "-") / "summary.csv", required=("success",))
                if key.startswith("iterative") else [])
        lost = any(r["success"] != "True" for r in rows[1:])
        assert found[key].get("kept_every_step", not lost) == (not lost), key
        if lost:
            assert "does not reproduce the original" in item and "Not measured:" not in item, key
        else:
            assert "Not measured:" in item, key
    budget = storage.read_rows(out / "condense" / "iterative-budget" / "summary.csv", required=("retrain_iterations",))
    assert [int(r["retrain_iterations"]) for r in budget[1:]] == [TINY_PLAN.retrain_iters] * (len(budget) - 1)


def test_iterative_and_preserving_reach_their_target(tiny_study):
    out = tiny_study[0]
    for method in ("iterative", "iterative-budget", "preserving"):
        rows = storage.read_rows(out / "condense" / method / "summary.csv", required=("n_units",))
        assert int(rows[0]["n_units"]) == 24 and int(rows[-1]["n_units"]) == 20


def test_another_preset_or_config_in_the_same_directory_is_refused(tiny_study, tiny_adam_config, tmp_path):
    out, config = tiny_study[0], tiny_study[4]
    with pytest.raises(RunDirError, match=r"holds a study that differs in config.model.n_units \(24 there, 16 here\)"):
        run_study(tiny_adam_config, out, preset="tiny-test", say=lambda _: None)
    with pytest.raises(RunDirError, match=r"holds a study that differs in preset \('tiny-test' there, 'quick' here\)"):
        run_study(config, out, preset="quick", say=lambda _: None)
    with pytest.raises(ConfigError, match="--preset = 'huge' is not allowed: choose one of quick, full"):
        run_study(tiny_adam_config, tmp_path / "new", preset="huge", say=lambda _: None)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not empty"):
        run_study(tiny_adam_config, tmp_path / "busy", preset="quick", say=lambda _: None)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
