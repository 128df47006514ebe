"""Numerical faults: a simulation that overflows is reported with its time step and trial instead
of giving NaN metrics, and training that turns NaN keeps its last good parameters."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncondense import layout, storage
from rnncondense.cli import app
from rnncondense.errors import SimulationDiverged, TrainingDiverged
from rnncondense.rnn import check_finite_trajectory, first_nonfinite

runner = CliRunner()


def test_first_nonfinite_finds_the_earliest_step_then_the_first_trial():
    values = np.zeros((4, 10, 3))
    assert first_nonfinite(values) is None
    values[2, 7, 1] = np.inf
    values[3, 5, 0] = np.nan
    values[1, 5, 2] = -np.inf
    assert first_nonfinite(values) == (1, 5)
    with pytest.raises(SimulationDiverged, match=r"outputs are NaN or inf from time step 5 \(t = 50 ms\) of trial 1"):
        check_finite_trajectory({"states": np.zeros((4, 10, 3)), "outputs": values}, dt_ms=10.0)


def _overflowing(run):
    """Finite weights so large that the recurrent input overflows float32 within a few steps."""
    tensors, meta = storage.load_tensors(run / layout.PARAMS_FILE, kind="params")
    n = tensors["W_rec"].shape[0]
    signs = np.where(np.random.default_rng(0).random((n, n)) < 0.5, -1.0, 1.0).astype(np.float32)
    storage.save_tensors(run / layout.PARAMS_FILE, {**tensors, "W_rec": signs * np.float32(3e38)}, kind="params", meta=meta)


@pytest.mark.parametrize("command", ["evaluate", "plot", "analyze"])
def test_a_diverging_simulation_is_reported_with_its_step_and_trial(tiny_run, tmp_path, command):
    run = shutil.copytree(tiny_run, tmp_path / "run")
    _overflowing(run)
    result = runner.invoke(app, [command, str(run)])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and "diverged" in line and "time step" in line and "trial" in line, line
    assert not (run / "evaluation.json").exists() and not (run / "analysis" / "metrics.json").exists()


def test_training_that_turns_nan_stops_and_keeps_the_last_good_checkpoint(tiny_adam_config, tmp_path):
    """An absurd learning rate drives Adam to NaN: the run stops with TrainingDiverged, and the
    checkpoint and params on disk hold finite weights from before."""
    from rnncondense.runs.train import train_run

    config = tiny_adam_config.model_copy(deep=True)
    train = config.train.model_copy(update={"max_iters": 60, "checkpoint_every": 2, "eval_every": 2,
                                            "stop_on_success": False})
    config = config.model_copy(update={"train": train.model_copy(
        update={"adam": train.adam.model_copy(update={"learning_rate": 1e30})})})
    with pytest.raises(TrainingDiverged, match=r"NaN or inf \(last at iteration \d+\); the last good state is kept"):
        train_run(config, tmp_path / "run")
    tensors, _ = storage.load_tensors(tmp_path / "run" / layout.CHECKPOINT_FILE, kind="checkpoint")
    weights = {name: t for name, t in tensors.items() if name.startswith(("params.", "best_params."))}
    assert weights and all(np.all(np.isfinite(t)) for t in weights.values()), sorted(weights)
    if (tmp_path / "run" / layout.PARAMS_FILE).exists():
        params, _ = storage.load_params(tmp_path / "run" / layout.PARAMS_FILE)  # refuses NaN weights itself
        assert all(np.all(np.isfinite(np.asarray(p))) for p in params)
