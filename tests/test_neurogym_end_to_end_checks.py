"""The goals of benchmarks/neurogym_end_to_end.py: half size reached, the task kept, the reports written."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.neurogym_end_to_end import checks  # noqa: E402


def test_goals_are_met_only_at_half_size_with_the_task_kept_and_reported():
    done = {"units_before": 64, "units_after": 32, "task_kept": True, "report_written": True}
    assert [goal["met"] for goal in checks(done)] == [True, True, True]
    stopped = {**done, "units_after": 40, "task_kept": False}  # the task could not be recovered at 40 units
    assert [goal["met"] for goal in checks(stopped)] == [False, False, True]
    assert [goal["met"] for goal in checks({**done, "report_written": False})] == [True, True, False]
