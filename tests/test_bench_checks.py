"""The goal checks `make bench` prints: an upper or lower bound, and what was not measured."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import check  # noqa: E402
from benchmarks.run import print_checks  # noqa: E402


def test_a_goal_is_met_only_on_its_side_of_the_limit():
    assert check("ratio", 1.5, 1.5)["met"] and not check("ratio", 1.51, 1.5)["met"]
    assert check("speedup", 10.0, 10.0, at_most=False)["met"] and not check("speedup", 9.9, 10.0, at_most=False)["met"]
    assert check("ratio", 1.2, 1.5)["limit"] == "<= 1.5" and check("speedup", 12, 10, at_most=False)["limit"] == ">= 10"


def test_a_value_not_measured_misses_its_goal():
    for missing in (None, math.nan, math.inf):
        assert not check("ratio", missing, 1.5)["met"]
        assert not check("speedup", missing, 10.0, at_most=False)["met"]


def test_the_summary_prints_one_line_per_goal(capsys):
    report = {"benchmarks": {"simulator": {"checks": [check("forward", 3.26, 1.5), check("gv", 0.9, 1.5)]},
                             "circuits": {}, "hessian_free": {"checks": [check("speedup", None, 10.0, at_most=False)]}}}
    print_checks(report)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("MISSED") and "3.26" in lines[0] and lines[0].endswith("<= 1.5")
    assert lines[1].startswith("met") and lines[2].startswith("MISSED") and "not measured" in lines[2]
