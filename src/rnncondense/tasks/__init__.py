"""Behavioural tasks as data, with a small registry: name -> (config class, task class)."""

from rnncondense.tasks.arrays import ArrayTask, ArrayTaskConfig
from rnncondense.tasks.cue_set_go import CueSetGo, CueSetGoConfig, TrialBatch

TASKS = {"cue_set_go": (CueSetGoConfig, CueSetGo), "arrays": (ArrayTaskConfig, ArrayTask)}


def make_task(config):
    """The task object for a validated task config."""
    return TASKS[config.name][1](config)


__all__ = ["TASKS", "ArrayTask", "ArrayTaskConfig", "CueSetGo", "CueSetGoConfig", "TrialBatch", "make_task"]
