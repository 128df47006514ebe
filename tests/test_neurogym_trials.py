"""NeuroGym trials as arrays, on a stand-in environment with NeuroGym's trial interface (new_trial,
ob, gt, dt, action_space), so that the test needs no NeuroGym; without it installed, asking for an
environment is one clear line."""

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncondense.cli import app
from rnncondense.errors import ConfigError
from rnncondense.tasks import neurogym_trials
from rnncondense.tasks.arrays import load_trials

runner = CliRunner()


class StandInEnv:
    """Trials of 5-8 steps: fixation (action 0) for 3 steps, then the choice 1 or 2."""

    dt = 100
    action_space = SimpleNamespace(n=3)

    def __init__(self):
        self.rng = np.random.default_rng()

    def seed(self, seed=None):
        self.rng = np.random.default_rng(seed)

    def new_trial(self):
        steps, choice = int(self.rng.integers(5, 9)), int(self.rng.integers(1, 3))
        self.ob = self.rng.normal(0, 1, (steps, 2))
        self.gt = np.array([0, 0, 0] + [choice] * (steps - 3))
        return {"ground_truth": choice, "coherence": 6.4}


def test_trials_are_padded_one_hot_and_labelled():
    arrays = neurogym_trials.sample_trials(StandInEnv(), 40, seed=3)
    b, t, i = arrays["inputs"].shape
    assert (b, i) == (40, 2) and t == 8 and arrays["targets"].shape == (40, 8, 3)
    lengths = arrays["mask"].sum(axis=1).astype(int)
    assert set(lengths) <= {5, 6, 7, 8} and len(set(lengths)) > 1
    for trial in range(b):
        n = lengths[trial]
        assert (arrays["targets"][trial, :n].sum(axis=1) == 1).all() and not arrays["targets"][trial, n:].any()
        assert not arrays["inputs"][trial, n:].any()
        assert (arrays["targets"][trial, :3, 0] == 1).all()  # fixation
        choice = int(np.argmax(arrays["targets"][trial, n - 1]))
        assert arrays["condition"][trial] == choice - 1  # ground truths 1, 2 numbered 0, 1
    again = neurogym_trials.sample_trials(StandInEnv(), 40, seed=3)
    assert all(np.array_equal(arrays[k], again[k]) for k in arrays)


def test_cli_writes_a_trial_file_the_task_reads(tmp_path, monkeypatch):
    monkeypatch.setattr(neurogym_trials, "make_env", lambda name, dt_ms=None: StandInEnv())
    result = runner.invoke(app, ["neurogym-trials", "StandIn-v0", "--out", str(tmp_path / "t.npz"), "--n-trials", "30"])
    assert result.exit_code == 0, result.output
    assert "30 trials of 8 steps (dt 100 ms), 2 inputs, 3 outputs, 2 conditions" in result.stdout
    trials = load_trials(tmp_path / "t.npz")
    assert trials.inputs.shape == (30, 8, 2) and sorted(set(np.asarray(trials.condition).tolist())) == [0, 1]


@pytest.mark.skipif(importlib.util.find_spec("neurogym") is not None, reason="NeuroGym is installed here")
def test_without_neurogym_the_extra_is_named():
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[neurogym\]'"):
        neurogym_trials.make_env("PerceptualDecisionMaking-v0")
    with pytest.raises(ConfigError, match="--n-trials = 1 is not allowed"):
        neurogym_trials.sample_trials(StandInEnv(), 1)
