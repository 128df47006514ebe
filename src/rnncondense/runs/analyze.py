"""The analysis of a trained run directory, written into it.

`analyze_run` measures the network's solution type (`analysis.summary.solution_metrics`, with
the fixed points of every context: `analysis.dynamics`) and writes RUN/analysis/activity.nc (the
condition-averaged activity, NetCDF-4, interval x time x unit, for the user's own tools),
RUN/analysis/metrics.json and the analysis figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import xarray as xr

from rnncondense import layout, storage, ties
from rnncondense.analysis.activity import ACTIVITY_FORMAT
from rnncondense.analysis.summary import check_k, solution_metrics
from rnncondense.dirlock import holding
from rnncondense.errors import ConfigError, FileFormatError
from rnncondense.plots.analysis import (
    eigenvalue_spectrum,
    pc_trajectories_2d,
    pc_trajectories_3d,
    scaling_histogram,
    top_variance_units,
    unit_responses,
    variance_explained,
)
from rnncondense.plots.dynamics import fixed_points_in_pc_plane, time_constant_vs_interval
from rnncondense.runs.figures import save_figures
from rnncondense.runs.train import RunKeys, load_run

__all__ = ["analyze_run", "write_activity", "read_activity"]


@holding("run_dir", create=False)  # one writer per directory (dirlock)
def analyze_run(
    run_dir: str | Path,
    *,
    k: int = 3,
    n_trials: int = 8,
    n_phase: int = 50,
    noise: bool = False,
    figures: bool = True,
    n_units_shown: int = 12,
    fixed_points: str | None = "quick",
) -> dict[str, Any]:
    """Analyse the trained network of a run directory and write the results into it.

    Writes RUN/analysis/activity.nc (the activity Dataset, NetCDF-4), RUN/analysis/metrics.json
    (`SolutionMetrics.numbers`) and, with `figures`, RUN/figures/{variance_explained, pc_trajectories_2d,
    pc_trajectories_3d, unit_responses, unit_responses_normalized, eigenvalues, scaling_index}.png,
    and with fixed points {fixed_points, time_constants}.png (`layout.DYNAMICS_FIGURES`).

    Args:
        run_dir: a run directory with a trained network (`runs.train.load_run`).
        k: top PCs for the per-PC scaling index and the 3D plot, 1 <= k <= N.
        n_trials: trials per interval; n_phase: normalised-time grid (see `solution_metrics`).
        noise: average noisy trials (key derived from `train.seed`) instead of noise-free ones.
        figures: draw the figures.
        n_units_shown: units in the response grids (the most variable ones).
        fixed_points: the fixed-point search ("full", "quick" or "records": `analysis.dynamics.PRESETS`),
            None for none; with figures, draws `layout.DYNAMICS_FIGURES` (fixed points with the
            slow manifold in the trajectories' PC plane, slowest time constant against interval).

    Returns:
        The metrics written to metrics.json, plus "files": the paths written.
    """
    run_dir = Path(run_dir)
    config, params = load_run(run_dir)
    check_k(k, config.model.n_units)
    if isinstance(n_units_shown, bool) or not isinstance(n_units_shown, int) or not 1 <= n_units_shown <= 64:
        raise ConfigError(f"n_units_shown = {n_units_shown!r} is not allowed: it must be an integer in [1, 64]")
    key = jax.random.fold_in(RunKeys.from_seed(config.train.seed).eval, 1) if noise else None
    metrics = solution_metrics(params, config, key=key, k=k, n_trials=n_trials, n_phase=n_phase,
                               fixed_points=fixed_points)
    summary = metrics.numbers

    out_dir = storage.safe_child(run_dir, layout.ANALYSIS_DIR)
    activity_file = out_dir / layout.ACTIVITY_FILE
    files = [ties.sealed(activity_file, lambda: write_activity(metrics.activity, activity_file))]  # with a sidecar (ties)
    ties.write_json(out_dir / layout.ANALYSIS_METRICS_FILE, summary)  # with a sidecar (ties)
    files.append(out_dir / layout.ANALYSIS_METRICS_FILE)
    if figures and config.task.name == "arrays":  # no Set, Go or interval: condition means from trial start
        files += _array_figures(run_dir, config.model.n_units, metrics, n_units_shown)
    elif figures:
        fig_dir = storage.safe_child(run_dir, layout.FIGURES_DIR)
        activity, trajectories, pcs = metrics.activity, metrics.trajectories, metrics.pca
        n = config.model.n_units
        units = top_variance_units(trajectories, min(n_units_shown, n))
        label = f"{n}-unit network"
        drawn = {
            "variance_explained": variance_explained(pcs),
            "pc_trajectories_2d": pc_trajectories_2d(activity, pcs),
            "unit_responses": unit_responses(activity, units, scaling=metrics.scaling, ramps=metrics.ramps,
                                             title=f"{label}: condition-averaged responses, coloured by interval"),
            "unit_responses_normalized": unit_responses(
                activity, units, trajectories=trajectories, scaling=metrics.scaling, ramps=metrics.ramps,
                title=f"{label}: responses in normalised time (one curve = perfect scaling)",
            ),
            "eigenvalues": eigenvalue_spectrum(metrics.spectrum),
            "scaling_index": scaling_histogram(metrics.scaling, pcs=metrics.scaling_pcs),
        }
        if pcs.components.shape[0] >= 3:
            drawn["pc_trajectories_3d"] = pc_trajectories_3d(activity, pcs)
        dynamics = metrics.dynamics
        if dynamics is not None:
            drawn["fixed_points"] = fixed_points_in_pc_plane(
                dynamics.states, dynamics.result, dynamics.intervals_ms,
                title=f"{label}: trajectories and fixed points")
            drawn["time_constants"] = time_constant_vs_interval(
                dynamics.intervals_ms, dynamics.result, title=f"{label}: slowest mode per context")
        files += save_figures(fig_dir, drawn)
    return {**summary, "files": [str(path) for path in files]}


def _array_figures(run_dir: Path, n: int, metrics, n_units_shown: int) -> list[Path]:
    """The analysis figures of a network on a task of trials from a file (plots/arrays.py): the
    variance explained, the eigenvalues, and condition-averaged PC trajectories and unit responses."""
    from rnncondense.plots.arrays import condition_pc_trajectories, condition_unit_responses

    units = top_variance_units(metrics.trajectories.values, min(n_units_shown, n))
    drawn = {
        "variance_explained": variance_explained(metrics.pca),
        "pc_trajectories_2d": condition_pc_trajectories(metrics.activity, metrics.pca),
        "unit_responses": condition_unit_responses(
            metrics.activity, units, title=f"{n}-unit network: condition-averaged responses, coloured by condition"),
        "eigenvalues": eigenvalue_spectrum(metrics.spectrum),
    }
    return save_figures(storage.safe_child(run_dir, layout.FIGURES_DIR), drawn)


def write_activity(activity: xr.Dataset, path: str | Path) -> Path:
    """Write an activity Dataset as NetCDF-4 (h5netcdf engine), atomically (temp file, then rename)."""
    return storage.write_netcdf(path, activity)


def read_activity(path: str | Path) -> xr.Dataset:
    """Read an activity Dataset written by `write_activity` fully into memory."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found")
    ties.verify(path)
    try:
        activity = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError) as error:
        raise FileFormatError(f"{path}: not a readable NetCDF file ({error})") from None
    if activity.attrs.get("format") != ACTIVITY_FORMAT:
        raise FileFormatError(f"{path}: not an rnncondense activity file")
    return activity
