"""Tasks given as arrays of trials: loading, the split by condition, the task-independent metrics
against hand-computed values, bad files, the config table and the import command with --task."""

import json

import jax
import numpy as np
import pytest
import safetensors.numpy
from typer.testing import CliRunner

from rnncondense import layout
from rnncondense.analysis.task_metrics import array_task_metrics
from rnncondense.cli import app
from rnncondense.config import config_from_dict
from rnncondense.errors import ConfigError, FileFormatError
from rnncondense.tasks import make_task
from rnncondense.tasks.arrays import ArrayBatch, ArrayTaskConfig, load_trials, split_trials

runner = CliRunner()


def _trials(path, *, b=24, t=15, n_in=3, n_out=2, conditions=3, seed=0, **override):
    rng = np.random.default_rng(seed)
    arrays = {
        "inputs": rng.normal(0, 1, (b, t, n_in)),
        "targets": rng.normal(0, 1, (b, t, n_out)),
        "mask": (rng.random((b, t)) < 0.8).astype(float),
        "condition": np.arange(b) % conditions,
    }
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_split_keeps_every_condition_on_both_sides_and_is_seeded():
    condition = np.array([0] * 10 + [1] * 3 + [2] * 2 + [3])
    train, val = split_trials(condition, 0.25, seed=5)
    assert sorted(np.concatenate([train, val])) == list(range(16)) and not set(train) & set(val)
    assert [int((condition[val] == c).sum()) for c in range(4)] == [2, 1, 1, 0]  # round(2.5)=2; at least 1; single trial trains
    assert [int((condition[train] == c).sum()) for c in range(4)] == [8, 2, 1, 1]
    again = split_trials(condition, 0.25, seed=5)
    other = split_trials(condition, 0.25, seed=6)
    assert np.array_equal(again[1], val) and not np.array_equal(other[1], val)


def test_task_from_a_file_trains_and_validates_on_disjoint_trials(tmp_path):
    arrays = _trials(tmp_path / "trials.npz")
    task = make_task(ArrayTaskConfig(path=str(tmp_path / "trials.npz"), validation_fraction=0.25))
    assert (task.n_inputs, task.n_outputs, task.n_steps, task.conditions) == (3, 2, 15, [0, 1, 2])
    val = task.validation_batch()
    assert val.inputs.shape == (6, 15, 3) and sorted(np.asarray(val.condition).tolist()) == [0, 0, 1, 1, 2, 2]
    rows = {arr.tobytes() for arr in arrays["inputs"].astype(np.float32)}
    val_rows = {np.asarray(x).tobytes() for x in val.inputs}
    batch = jax.jit(task.sample, static_argnums=1)(jax.random.PRNGKey(0), 40)
    drawn = {np.asarray(x).tobytes() for x in batch.inputs}
    assert drawn <= rows and not drawn & val_rows and len(drawn) > 5


def test_metrics_against_hand_computed_values():
    rng = np.random.default_rng(1)
    targets = rng.normal(0, 1, (4, 6, 2))
    mask = np.ones((4, 6))
    mask[:, :2] = 0  # the first two steps do not count
    condition = np.array([0, 0, 1, 1])
    outputs = targets.copy()
    outputs[2:] += 0.5  # condition 1 is off by 0.5 everywhere
    outputs[:, :2] = 99.0  # masked steps: anything
    batch = ArrayBatch(np.zeros((4, 6, 1)), targets, mask, condition)
    m = array_task_metrics(outputs, batch)
    assert m.mse_per_condition == {"0": pytest.approx(0.0), "1": pytest.approx(0.25)}
    assert m.mse == pytest.approx(0.125) and m.n_trials == 4
    chosen = mask > 0
    expected = np.mean([np.corrcoef(outputs[..., o][chosen], targets[..., o][chosen])[0, 1] for o in range(2)])
    assert m.output_correlation == pytest.approx(expected) and 0.5 < m.output_correlation < 1.0
    perfect = array_task_metrics(np.where(chosen[..., None], targets, -7.0), batch)
    assert perfect.mse == 0.0 and perfect.output_correlation == pytest.approx(1.0)


@pytest.mark.parametrize(
    "override,expected",
    [
        ({"targets": None}, "missing array 'targets' (expected shape (B, T, O))"),
        ({"targets": np.zeros((24, 14, 2))}, "array 'targets' has shape (24, 14, 2), expected (B, T, O) = (24, 15, O)"),
        ({"inputs": np.zeros((24, 15))}, "array 'inputs' has shape (24, 15), expected (B, T, I)"),
        ({"mask": np.zeros((24, 15, 2))}, "array 'mask' has shape (24, 15, 2), expected (B, T) = (24, 15)"),
        ({"mask": -np.ones((24, 15))}, "array 'mask' must be >= 0 with at least one positive entry"),
        ({"condition": np.arange(24) + 0.5}, "non-integer labels, expected (B,) = (24,) integers"),
        ({"inputs": np.full((24, 15, 3), np.nan)}, "array 'inputs' (shape (B, T, I)) contains NaN or inf"),
    ],
)
def test_bad_trial_files_are_refused(tmp_path, override, expected):
    _trials(tmp_path / "bad.npz", **override)
    with pytest.raises(FileFormatError) as error:
        load_trials(tmp_path / "bad.npz")
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_config_table_for_trials():
    config = config_from_dict({"task": {"name": "arrays", "path": "t.npz", "dt_ms": 20.0}, "model": {"tau_ms": 100.0}})
    assert config.task.name == "arrays" and config.alpha == pytest.approx(0.2)
    cases = [
        ({"task": {"name": "arrays"}}, "run.toml: task.path is required here"),
        ({"task": {"name": "arrays", "path": "t.npz", "validation_fraction": 1.0}}, "task.validation_fraction = 1.0 is not allowed"),
        ({"task": {"name": "arrays", "path": "t.npz", "intervals_ms": [500.0]}},
         "unknown field 'task.intervals_ms'; allowed here: dt_ms, name, path, split_seed, validation_fraction"),
        ({"task": {"name": "gym"}}, "task.name = 'gym' is not allowed: choose one of cue_set_go, arrays"),
        ({"task": 3}, "task = 3 is not allowed: expected a table of settings"),
    ]
    for data, expected in cases:
        with pytest.raises(ConfigError) as error:
            config_from_dict(data, source="run.toml")
        assert expected in str(error.value), str(error.value)


def test_cli_import_with_trials_writes_task_independent_metrics(tmp_path):
    rng = np.random.default_rng(3)
    n, n_in, n_out = 8, 3, 2
    state = {"rnn.weight_ih_l0": rng.normal(0, 1, (n, n_in)), "rnn.weight_hh_l0": rng.normal(0, 0.3, (n, n)),
             "rnn.bias_ih_l0": np.zeros(n), "rnn.bias_hh_l0": np.zeros(n), "fc.weight": rng.normal(0, 1, (n_out, n)),
             "fc.bias": np.zeros(n_out)}
    safetensors.numpy.save_file({k: v.astype(np.float32) for k, v in state.items()}, str(tmp_path / "net.safetensors"))
    _trials(tmp_path / "trials.npz")
    out = tmp_path / "run"
    result = runner.invoke(app, ["import", str(tmp_path / "net.safetensors"), "--format", "torch-rnn", "--out", str(out),
                                 "--task", str(tmp_path / "trials.npz")])
    assert result.exit_code == 0, result.output
    assert "output_correlation" in result.stdout
    metrics = json.loads((out / layout.METRICS_FILE).read_text())
    assert set(metrics["validation"]) == {"mse", "mse_per_condition", "output_correlation", "n_trials", "success",
                                          "timing_mae_ms", "timing_rel_error", "miss_rate", "produced_ms"}
    # no success of its own, and no timing: not applicable (null), never a made-up number
    assert all(metrics["validation"][k] is None for k in ("success", "timing_mae_ms", "timing_rel_error", "miss_rate", "produced_ms"))
    assert metrics["validation"]["n_trials"] == 12 and metrics["criterion"].startswith("task-independent")
    assert 'name = "arrays"' in (out / layout.CONFIG_FILE).read_text()
    result = runner.invoke(app, ["evaluate", str(out), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "evaluation.json").read_text())["mse"] == pytest.approx(metrics["validation"]["mse"], rel=1e-6)
    # without --task the network does not fit Cue-Set-Go: one line saying what to give
    result = runner.invoke(app, ["import", str(tmp_path / "net.safetensors"), "--format", "torch-rnn", "--out", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "give the network's own task with --task TRIALS.npz" in result.stderr
    # the study is built on Cue-Set-Go's timing: it refuses such a task in one line (analyze, plot and
    # condense take it: tests/test_bring_your_own.py)
    (tmp_path / "study.toml").write_text(f'[task]\nname = "arrays"\npath = "{tmp_path / "trials.npz"}"\n')
    result = runner.invoke(app, ["study", str(tmp_path / "study.toml"), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "task.name = 'arrays' is not allowed for 'study' yet" in lines[0]
