"""The report's Findings: every number in it equals the one recomputed here from the study's
files with the csv module, hand-written ranks and percentiles (no pandas, no code of the package),
and a finding the files cannot support says so instead of printing a number."""

from __future__ import annotations

import csv
import html
import json
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rnncondense import layout, storage
from rnncondense.runs.report import write_report

SOLUTION = ("pcs_90", "participation_ratio", "scaling_index", "ramp_fraction", "spectral_radius")
SUMMARY = ("step", "n_units", "success", "timing_rel_error", "miss_rate", "pcs_90", "participation_ratio",
           "scaling_index", "ramp_fraction", "spectral_radius", "similarity_procrustes", "retrain_iterations")


def _condensation(root: Path, name: str, settings: dict, rows: list[dict], *, finished: bool = True) -> None:
    out = root / layout.STUDY_CONDENSE_DIR / name
    out.mkdir(parents=True)
    storage.write_json(out / layout.CONDENSE_SETTINGS_FILE, {"source_run": "x", "settings": settings})
    storage.write_csv(out / layout.CONDENSE_SUMMARY_FILE, rows, list(SUMMARY))
    if finished:
        storage.write_json(out / layout.CONDENSE_RESULT_FILE, {"reason": "done", "final": rows[-1], "steps": len(rows) - 1})


def _one_shot_rows(n: int, fail_at: int | None, steps: int) -> list[dict]:
    return [{"step": s, "n_units": n - s, "success": not (fail_at is not None and s >= fail_at)} for s in range(steps + 1)]


def _iterative_rows(rng, n: int, target: int, per_step: int, ramp_end: float, scale_end: float) -> list[dict]:
    sizes = list(range(n, target - 1, -per_step))
    rows = []
    for i, size in enumerate(sizes):
        f = i / (len(sizes) - 1)
        rows.append({"step": i, "n_units": size, "success": True,
                     "ramp_fraction": round(0.1 + f * (ramp_end - 0.1), 4),
                     "scaling_index": round(0.8 + f * (scale_end - 0.8), 4),
                     "participation_ratio": round(3.0 - f + rng.uniform(0, 0.1), 4),
                     "similarity_procrustes": round(1.0 - 0.3 * f, 4)})
    return rows


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study directory as the study writes it, with made-up numbers (no figures: they are not
    what this file tests)."""
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("findings")
    seed = {"method": "one-shot", "similarity": "pca", "operator": "seed"}
    _condensation(root, "one-shot/pca_seed", seed, _one_shot_rows(40, 9, 9))
    _condensation(root, "one-shot/pca_least-squares", {**seed, "operator": "least-squares"}, _one_shot_rows(40, 28, 28))
    _condensation(root, "one-shot/correlation_seed", {**seed, "similarity": "correlation"}, _one_shot_rows(40, 5, 5))
    base = {"similarity": "pca", "operator": "seed"}
    _condensation(root, "iterative", {**base, "method": "iterative"}, _iterative_rows(rng, 40, 20, 4, 0.15, 0.75))
    _condensation(root, "iterative-budget", {**base, "method": "iterative", "retrain_until": "budget"},
                  _iterative_rows(rng, 40, 20, 4, 0.6, 0.4))
    preserving = _iterative_rows(rng, 40, 20, 4, 0.12, 0.79)
    for row in preserving:
        row["similarity_procrustes"] = round(1.0 - 0.05 * row["step"] / 5, 4)
    _condensation(root, "preserving", {**base, "method": "preserving"}, preserving)
    canonical = [{"step": 0, "n_units": 40, "success": True}] + [
        {"step": i + 1, "n_units": k, "success": k >= 6} for i, k in enumerate((16, 8, 6, 4, 3))]
    _condensation(root, "canonical", {**base, "method": "canonical"}, canonical)
    rows = []
    for size in (5, 10, 20, 40, 80):
        for seed_ in range(3):
            failed = size == 5 and seed_ < 2 or size == 20 and seed_ == 0
            diverged = size == 10 and seed_ == 1
            rows.append({
                "size": size, "seed": seed_, "network": f"n{size}_s{seed_}",
                "status": "diverged" if diverged else "done", "success": not failed and not diverged,
                "pcs_90": int(rng.integers(2, 6)), "participation_ratio": round(float(rng.uniform(1.5, 4)), 5),
                "scaling_index": round(float(0.9 - 0.1 * np.log(size) + rng.normal(0, 0.03)), 5),
                "ramp_fraction": round(float(min(1, 0.12 * np.log(size) + rng.normal(0, 0.05))), 5),
                "spectral_radius": round(float(rng.uniform(0.9, 1.4)), 5),
            })
    (root / layout.STUDY_SWEEP_DIR).mkdir()
    storage.write_csv(root / layout.STUDY_SWEEP_DIR / layout.SWEEP_RESULTS_CSV, rows,
                      ["size", "seed", "network", "status", "success", *SOLUTION])
    return root


# ------------------------------------------------------------------------------ independent readers


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _truth(text: str) -> bool:
    return text.strip().lower() == "true"


def _merges_kept(path: Path) -> int:
    rows = _rows(path)
    for row in rows[1:]:
        if not _truth(row["success"]):
            return int(row["step"]) - 1
    return int(rows[-1]["step"])


def _ranks(values: list[float]) -> list[float]:
    """Average ranks (1-based), ties sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _spearman(x: list[float], y: list[float]) -> tuple[float, float]:
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    rho = cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    n = len(x)
    t = rho * math.sqrt((n - 2) / max(1e-300, 1 - rho * rho))
    return rho, 2 * stats.t.sf(abs(t), n - 2)


def _findings(page: str) -> dict[str, dict]:
    found = re.findall(r'<li class="finding[^"]*" id="finding-(\w+)" data-values="([^"]*)"', page)
    return {key: json.loads(html.unescape(values)) for key, values in found}


# ------------------------------------------------------------------------------ tests


def test_findings_come_first_and_link_to_their_figures(study):
    page = write_report(study).read_text()
    sections = re.findall(r'<section id="([^"]+)"><h2>', page)
    assert sections[0] == "findings"
    found = _findings(page)
    assert list(found) == ["one_shot_seed", "best_operator", "iterative", "iterative_budget", "preserving",
                           "canonical", "sweep"]
    findings_html = page.split('<section id="findings">')[1].split("</section>")[0]
    links = re.findall(r'<a href="#([^"]+)">\(figure\)</a>', findings_html)
    assert len(links) == 7
    for anchor in links:
        assert f'id="{anchor}"' in page, anchor


def test_one_shot_numbers_equal_the_files(study):
    found = _findings(write_report(study).read_text())
    condense = study / layout.STUDY_CONDENSE_DIR / "one-shot"
    seed = _merges_kept(condense / "pca_seed" / "summary.csv")
    assert found["one_shot_seed"]["merges_kept"] == seed == 8
    best = max(("pca_seed", "pca_least-squares", "correlation_seed"), key=lambda n: _merges_kept(condense / n / "summary.csv"))
    best_kept = _merges_kept(condense / best / "summary.csv")
    assert found["best_operator"]["operator"] == "least-squares"
    assert found["best_operator"]["merges_kept"] == best_kept
    assert found["best_operator"]["ratio"] == pytest.approx(best_kept / seed)


def test_iterative_drift_and_verdict_equal_the_files(study):
    page = write_report(study).read_text()
    found = _findings(page)
    for key, name, reproduces in (("iterative", "iterative", False), ("iterative_budget", "iterative-budget", True)):
        rows = _rows(study / layout.STUDY_CONDENSE_DIR / name / "summary.csv")
        values = found[key]
        assert values["kept_every_step"] is all(_truth(r["success"]) for r in rows)
        assert (values["n_start"], values["n_end"]) == (int(rows[0]["n_units"]), int(rows[-1]["n_units"]))
        for metric in ("ramp_fraction", "participation_ratio", "scaling_index", "similarity_procrustes"):
            assert values[f"{metric}_start"] == pytest.approx(float(rows[0][metric]))
            assert values[f"{metric}_end"] == pytest.approx(float(rows[-1][metric]))
        item = page.split(f'id="finding-{key}"')[1].split("</li>")[0]
        assert ('class="ok">reproduces the original' in item) is reproduces
        assert ('class="bad">does not reproduce the original' in item) is not reproduces
    assert "more units became ramps" in page and "less temporal scaling" in page
    budget, success = (_rows(study / layout.STUDY_CONDENSE_DIR / n / "summary.csv") for n in ("iterative-budget", "iterative"))
    rise = [float(r[-1]["ramp_fraction"]) - float(r[0]["ramp_fraction"]) for r in (budget, success)]
    assert found["iterative_budget"]["ramp_rise_budget"] == pytest.approx(rise[0])
    assert found["iterative_budget"]["ramp_rise_success"] == pytest.approx(rise[1])
    assert f"Only the fixed budget reproduces it: the ramp fraction rose by {rise[0]:+.3f}" in page


def test_preserving_and_canonical_equal_the_files(study):
    found = _findings(write_report(study).read_text())
    preserving = _rows(study / layout.STUDY_CONDENSE_DIR / "preserving" / "summary.csv")
    plain = {int(r["n_units"]): r for r in _rows(study / layout.STUDY_CONDENSE_DIR / "iterative" / "summary.csv")}
    size = int(preserving[-1]["n_units"])
    assert found["preserving"]["n_units"] == size
    for metric in ("similarity_procrustes", "ramp_fraction", "scaling_index"):
        assert found["preserving"][f"{metric}_preserving"] == pytest.approx(float(preserving[-1][metric]))
        assert found["preserving"][f"{metric}_plain"] == pytest.approx(float(plain[size][metric]))
    canonical = _rows(study / layout.STUDY_CONDENSE_DIR / "canonical" / "summary.csv")[1:]
    assert found["canonical"]["smallest"] == min(int(r["n_units"]) for r in canonical if _truth(r["success"])) == 6


def test_sweep_statistics_equal_the_files(study):
    page = write_report(study).read_text()
    values = _findings(page)["sweep"]
    rows = _rows(study / layout.STUDY_SWEEP_DIR / layout.SWEEP_RESULTS_CSV)
    ok = [r for r in rows if r["status"] == "done" and _truth(r["success"])]
    assert values["failed"] == len(rows) - len(ok) == 4
    assert values["failed_by_size"] == {"5": 2, "10": 1, "20": 1, "40": 0, "80": 0}
    for metric in SOLUTION:
        rho, p = _spearman([float(r["size"]) for r in ok], [float(r[metric]) for r in ok])
        assert values[f"{metric}_rho"] == pytest.approx(rho, abs=1e-9)
        assert values[f"{metric}_p"] == pytest.approx(p, rel=1e-6)
        assert f"ρ = {rho:+.2f}" in page
    # medians and quartiles per size (statistics' inclusive quantiles = numpy's linear percentiles)
    table = page.split('<table class="sweep-findings">')[1].split("</table>")[0]
    ramp_row = re.search(r"<tr><td class=\"name\">ramp fraction</td>(.*?)</tr>", table).group(1)
    cells = re.findall(r"<td>(.*?)</td>", ramp_row)
    medians = {}
    for size, cell in zip((5, 10, 20, 40, 80), cells):
        v = sorted(float(r["ramp_fraction"]) for r in ok if int(r["size"]) == size)
        medians[size] = statistics.median(v)
        if len(v) > 1:
            q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
            assert cell.startswith(f"{medians[size]:.3f} [{q1:.3f}–{q3:.3f}] <small>n={len(v)}</small>")
        else:
            assert cell.startswith(f"{medians[size]:.3f} <small>n=1</small>")
    sizes = sorted(medians)
    crossing = next(([a, b] for a, b in zip(sizes, sizes[1:]) if (medians[a] < 0.5) != (medians[b] < 0.5)), None)
    assert values["ramp_crossing"] == crossing


def test_a_finding_the_files_cannot_support_says_so(study, tmp_path):
    """No sweep of enough sizes, an unfinished iterative run, no canonical run: no numbers."""
    copy = tmp_path / "study"
    import shutil

    shutil.copytree(study, copy)
    shutil.rmtree(copy / layout.STUDY_CONDENSE_DIR / "canonical")
    (copy / layout.STUDY_CONDENSE_DIR / "iterative" / layout.CONDENSE_RESULT_FILE).unlink()
    rows = [r for r in _rows(copy / "sweep" / "results.csv") if r["size"] in ("5", "10")]
    storage.write_csv(copy / "sweep" / "results.csv", rows, list(rows[0]))
    page = write_report(copy).read_text()
    items = dict(re.findall(r'id="finding-(\w+)" data-values="[^"]*"><strong>[^<]*</strong> ([^<]*)', page))
    assert items["canonical"].startswith("Not measured: the study ran no canonical condensation")
    assert items["iterative"].startswith("Not measured: the iterative condensation did not finish")
    assert items["sweep"].startswith("Not measured: a trend with size needs successful networks at 3 sizes")
    assert "ρ =" not in items["sweep"]
    # the preserving finding compares with plain iterative, which did not finish
    assert items["preserving"].startswith("Not measured: plain iterative condensation has no successful network")


def test_preserving_is_compared_at_the_smallest_size_both_condensations_did_the_task():
    """The full preset condenses plainly to 100 units and with preserving to 20: the comparison is
    at the smallest size both did the task, here 30 (plain's 20-unit step failed)."""
    from rnncondense.analysis.findings import Condensation, preserving_finding

    def rows(sizes, failed=()):
        return [{"step": i, "n_units": n, "success": n not in failed, "similarity_procrustes": 1.0 - n / 1000,
                 "ramp_fraction": n / 100, "scaling_index": 0.5, "participation_ratio": 2.0} for i, n in enumerate(sizes)]

    preserving = Condensation("preserving", "preserving", "seed", "pca", "success", rows([50, 40, 30, 20, 10]), True)
    plain = Condensation("iterative", "iterative", "seed", "pca", "success", rows([50, 40, 30, 20], failed=(20,)), True)
    found = preserving_finding(preserving, plain)
    assert found.supported and found.values["n_units"] == 30 and found.values["reached"] == 10
    assert found.values["ramp_fraction_preserving"] == found.values["ramp_fraction_plain"] == 0.3
    assert found.text.startswith("At 30 units, the smallest size at which both did the task (preserving did it down to 10)")
    same_end = Condensation("iterative", "iterative", "seed", "pca", "success", rows([50, 40, 30, 20, 10]), True)
    assert preserving_finding(preserving, same_end).text.startswith("At 10 units, preserving retraining")
