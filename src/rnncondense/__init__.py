"""rnncondense: train rate RNNs on timing tasks, analyse their solutions, condense them.

The public API is importable from the package root; modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    # the network
    "Params": "rnncondense.rnn",
    "Trajectory": "rnncondense.rnn",
    "init_params": "rnncondense.rnn",
    "simulate": "rnncondense.rnn",
    "Dynamics": "rnncondense.rnn",
    # networks trained elsewhere
    "import_network": "rnncondense.importers",
    "import_run": "rnncondense.runs.import_run",
    # tasks and configs
    "CueSetGo": "rnncondense.tasks.cue_set_go",
    "CueSetGoConfig": "rnncondense.tasks.cue_set_go",
    "make_task": "rnncondense.tasks",
    "RunConfig": "rnncondense.config",
    "load_config": "rnncondense.config",
    "config_from_dict": "rnncondense.config",
    # training
    "train_run": "rnncondense.runs.train",
    "load_run": "rnncondense.runs.train",
    "hessian_free": "rnncondense.train.hessian_free",
    "train_ensemble": "rnncondense.runs.ensemble",
    # analysis
    "evaluate": "rnncondense.analysis.behavior",
    "produced_intervals_ms": "rnncondense.analysis.behavior",
    "condition_activity": "rnncondense.analysis.activity",
    "time_normalized": "rnncondense.analysis.activity",
    "pca": "rnncondense.analysis.pca",
    "scaling_index": "rnncondense.analysis.scaling",
    "ramp_fraction": "rnncondense.analysis.ramps",
    "recurrent_spectrum": "rnncondense.analysis.spectrum",
    "linearize": "rnncondense.analysis.spectrum",
    "similarity": "rnncondense.analysis.similarity",
    "dsa": "rnncondense.analysis.dsa",
    "find_fixed_points": "rnncondense.analysis.fixed_points",
    "context_fixed_points": "rnncondense.analysis.fixed_points",
    "solution_metrics": "rnncondense.analysis.summary",
    "SolutionMetrics": "rnncondense.analysis.summary",
    "METRICS": "rnncondense.metrics",
    "analyze_run": "rnncondense.runs.analyze",
    # sweeps
    "run_sweep": "rnncondense.runs.sweep",
    "SweepProgress": "rnncondense.runs.sweep",
    "SweepResult": "rnncondense.runs.sweep",
    # circuits
    "run_circuit": "rnncondense.runs.circuits",
    "CIRCUITS": "rnncondense.circuits",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'rnncondense' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
