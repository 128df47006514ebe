"""The goals of benchmarks/import_baseline.py: one per expected case, n/a where a reference did not run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.import_baseline import EXPECTED_CASES, GOAL_MAX_ABS_DIFF, checks  # noqa: E402


def test_each_expected_case_has_a_goal_met_only_within_the_tolerance():
    result = {"cases": {"torch-rnn-tanh": {"max_abs_diff": 1.3e-6}, "neurogym-ctrnn": {"max_abs_diff": 2e-5}}}
    goals = {g["goal"].split(" ")[0]: g for g in checks(result)}
    assert set(goals) == set(EXPECTED_CASES)
    assert goals["torch-rnn-tanh"]["met"] and not goals["neurogym-ctrnn"]["met"]
    assert goals["psychrnn-dale"]["measured"] is None and not goals["psychrnn-dale"]["met"]
    assert goals["torch-rnn-relu"]["limit"] == f"<= {GOAL_MAX_ABS_DIFF:g}"
