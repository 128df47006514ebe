"""Every file and folder name that rnncondense writes or reads, in one place.

Writers (the runners in `rnncondense.runs`) and readers (the report, the study, the command
line) import these names, so a file is renamed here or nowhere. A figure is named by its stem;
`figure_file` gives its file name. The `*_FIGURES` tuples list what each writer draws, and the
report checks them: an expected figure that is missing is an error, not a gap in the page.

A run directory (`rnncondense train`)::

    config.toml  params.safetensors  checkpoint.safetensors  metrics.json  history.csv
    evaluation.json (evaluate)  figures/  analysis/activity.nc  analysis/metrics.json (analyze)

A condensation (`rnncondense condense`)::

    condense.json  summary.csv  result.json  steps/<step>/{network.safetensors, record.json}  figures/

A sweep (`rnncondense sweep`)::

    sweep.json  results.csv  results.nc  figures/  networks/<name>/{run files, result.json, attempt.json}

A study (`rnncondense study`)::

    study.json  report.html  base/ (a run)  condense/<name>/ (condensations)  sweep/  circuits/<name>/
"""

from __future__ import annotations

# ------------------------------------------------------------------------------ a run
CONFIG_FILE = "config.toml"
PARAMS_FILE = "params.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
EVALUATION_FILE = "evaluation.json"
FIGURES_DIR = "figures"
ANALYSIS_DIR = "analysis"
ACTIVITY_FILE = "activity.nc"  # in ANALYSIS_DIR
ANALYSIS_METRICS_FILE = "metrics.json"  # in ANALYSIS_DIR: the solution-type metrics

# ------------------------------------------------------------------------------ a condensation
CONDENSE_SETTINGS_FILE = "condense.json"
CONDENSE_SUMMARY_FILE = "summary.csv"
CONDENSE_RESULT_FILE = "result.json"
STEPS_DIR = "steps"
STEP_NETWORK_FILE = "network.safetensors"  # in STEPS_DIR/<step>
STEP_RECORD_FILE = "record.json"  # in STEPS_DIR/<step>

# ------------------------------------------------------------------------------ a sweep
SWEEP_FILE = "sweep.json"
SWEEP_RESULTS_CSV = "results.csv"
SWEEP_RESULTS_NC = "results.nc"
NETWORKS_DIR = "networks"
NETWORK_RESULT_FILE = "result.json"  # in NETWORKS_DIR/<name>: marks the network finished
NETWORK_ATTEMPT_FILE = "attempt.json"  # in NETWORKS_DIR/<name>: how often a worker started it

# ------------------------------------------------------------------------------ a study
STUDY_FILE = "study.json"
REPORT_FILE = "report.html"
STUDY_BASE_DIR = "base"
STUDY_CONDENSE_DIR = "condense"
STUDY_SWEEP_DIR = "sweep"
STUDY_CIRCUITS_DIR = "circuits"
# in STUDY_CONDENSE_DIR: iterative condensation per retraining rule (until success, fixed budget)
STUDY_ITERATIVE_DIRS = {"success": "iterative", "budget": "iterative-budget"}

# ------------------------------------------------------------------------------ any directory
# NAME.sha256 beside a record NAME that no weights file ties: its digest, as sha256sum writes it (`ties`)
SIDECAR_SUFFIX = ".sha256"

# ------------------------------------------------------------------------------ a circuit
CIRCUIT_SUMMARY_FILE = "summary.json"

# ------------------------------------------------------------------------------ figures (stems)
RUN_FIGURES = ("task", "behavior", "units")  # rnncondense plot
ANALYSIS_FIGURES = (  # rnncondense analyze; pc_trajectories_3d only when there are 3 PCs or more
    "variance_explained", "pc_trajectories_2d", "pc_trajectories_3d", "unit_responses",
    "unit_responses_normalized", "eigenvalues", "scaling_index",
)
DYNAMICS_FIGURES = ("fixed_points", "time_constants")  # rnncondense analyze, with fixed points
CONDENSE_FIGURES = (  # canonical_responses only for the canonical method
    "metrics_vs_size", "behavior_per_step", "original_vs_final", "canonical_responses",
)
SWEEP_FIGURES = ("task_vs_size", "solution_vs_size", "fixed_points_vs_size", "unit_responses_by_size")


def figure_file(stem: str) -> str:
    """The file name of the figure `stem` (one of the `*_FIGURES` names)."""
    return f"{stem}.png"
