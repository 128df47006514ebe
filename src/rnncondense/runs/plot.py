"""The task figures of a trained run (`rnncondense plot`), written to RUN/figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnncondense import layout, storage
from rnncondense.analysis.behavior import evaluate
from rnncondense.errors import UserError
from rnncondense.plots.task import produced_vs_target, task_panel, unit_activity
from rnncondense.rnn import check_finite_trajectory, simulate
from rnncondense.tasks import make_task
from rnncondense.runs.figures import save_figures
from rnncondense.runs.train import RunKeys, load_run


def most_active_units(rates: np.ndarray, count: int) -> list[int]:
    """Units whose rate varies most over time and trials, largest first."""
    spread = rates.reshape(-1, rates.shape[-1]).std(axis=0)
    return [int(u) for u in np.argsort(spread)[::-1][:count]]


def plot_run(run_dir: str | Path, *, units: list[int] | None = None) -> list[Path]:
    run_dir = Path(run_dir)
    config, params = load_run(run_dir)
    n = config.model.n_units
    if units is not None and any(not 0 <= u < n for u in units):
        raise UserError(f"--units = {units} is not allowed: unit indices must be in [0, {n - 1}]")
    if config.task.name == "arrays":  # no intervals: condition means of the file's trials
        return _plot_array_run(run_dir, config, params, units)
    task = make_task(config.task)
    batch = task.condition_batch()
    traj = simulate(params, batch.inputs, alpha=config.alpha, dynamics=config.dynamics)
    check_finite_trajectory(
        {"states": traj.states, "outputs": traj.outputs}, dt_ms=task.dt_ms, what=f"the network of {run_dir}",
        trial_label=lambda b: f"the noise-free trial of interval {float(batch.interval_ms[b]):g} ms",
    )
    rates, outputs = np.asarray(traj.rates), np.asarray(traj.outputs)
    metrics = evaluate(
        params, task, alpha=config.alpha, sigma_rec=config.model.sigma_rec,
        key=RunKeys.from_seed(config.train.seed).eval, repeats=config.train.val_noise_repeats, check_finite=True,
        dynamics=config.dynamics,
    )
    figures = storage.safe_child(run_dir, layout.FIGURES_DIR)
    units = units or most_active_units(rates, min(8, n))
    title = f"{n}-unit network, noise-free trials"
    return save_figures(figures, {
        "task": task_panel(batch, outputs, task.times_ms, title=title),
        "behavior": produced_vs_target(metrics),
        "units": unit_activity(rates, batch, task.dt_ms, units),
    })


def _plot_array_run(run_dir: Path, config, params, units: list[int] | None) -> list[Path]:
    """`plot_run` for a task of trials from a file: condition means of output and target, and of
    the most active units' rates (a task without timing has no produced-interval figure)."""
    from rnncondense.analysis.array_activity import array_activity
    from rnncondense.plots.arrays import condition_outputs, condition_unit_responses

    activity = array_activity(params, config)
    n = config.model.n_units
    units = units or most_active_units(activity["rate"].values, min(8, n))
    title = f"{n}-unit network, noise-free, condition means"
    return save_figures(storage.safe_child(run_dir, layout.FIGURES_DIR), {
        "task": condition_outputs(activity, title=f"{title}: output (solid) and target (dashed)"),
        "units": condition_unit_responses(activity, units, title=f"{title}: unit rates, coloured by condition"),
    })
