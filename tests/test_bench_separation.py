"""The separation benchmark's arithmetic: its ROC AUC is the Mann-Whitney U statistic over all
pairs (scipy), its control criterion is strict, and the headline follows the stated rule."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_separation  # noqa: E402
from benchmarks.run import BENCHMARKS  # noqa: E402


def test_the_auc_is_the_mann_whitney_u_over_all_pairs_with_ties_counted_half():
    rng = np.random.default_rng(0)
    positives, negatives = list(rng.normal(1, 1, 9).round(1)), list(rng.normal(0, 1, 27).round(1))
    u = mannwhitneyu(positives, negatives, alternative="greater").statistic
    assert bench_separation.auc(positives, negatives) == pytest.approx(u / (9 * 27))
    assert bench_separation.auc([1.0], [1.0]) == 0.5 and bench_separation.auc([], [1.0]) is None


def _row(size_auc, control_auc, perfect):
    return {"size_auc": size_auc, "control_auc": control_auc, "control_perfect": perfect}


def test_the_headline_is_the_best_size_auc_among_measures_with_a_perfect_control():
    table = {"procrustes": _row(0.9, 1.0, True), "cca": _row(0.95, 0.7, False), "dsa": _row(0.8, 1.0, True)}
    assert bench_separation.headline(table) == "procrustes"
    table["procrustes"]["control_perfect"] = table["dsa"]["control_perfect"] = False
    assert bench_separation.headline(table) in ("procrustes", "dsa")  # best control AUC when none is perfect
    result = {"table": table, "headline": "procrustes", "goals": {"headline_control_perfect": 1.0}}
    assert [row["met"] for row in bench_separation.checks(result)] == [False]
    table["procrustes"]["control_perfect"] = True
    assert [row["met"] for row in bench_separation.checks(result)] == [True]


def test_the_benchmark_is_run_by_make_bench():
    assert "separation" in BENCHMARKS
