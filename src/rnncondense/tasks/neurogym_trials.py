"""Trials of a NeuroGym environment as arrays, the file format of tasks/arrays.py.

NeuroGym (optional: `pip install -e '.[neurogym]'`) builds each trial with `new_trial()` of the
unwrapped environment, which sets the observations `ob` (T_trial, I) and the ground-truth actions `gt`
(T_trial,), one step every `env.dt` ms, and returns the trial's settings, among them its
`ground_truth`. `sample_trials` turns `n_trials` of them into

    inputs     (B, T, I)  the observations, zero after a trial's end
    targets    (B, T, O)  one-hot ground-truth actions, O = env.action_space.n (fixation is action 0)
    mask       (B, T)     1 within a trial, 0 on the padding after it
    condition  (B,)       the trial's ground truth, numbered in sorted order of its distinct values

with T the longest trial. One-hot targets under the squared error are how a rate network with a
linear readout learns the actions a NeuroGym example learns with cross-entropy. The environment's
own random generator is seeded with `seed` (NeuroGym's `seed`; gymnasium's `reset(seed=...)` does
not reach it), so the same seed gives the same trials.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnncondense.errors import ConfigError, shown


def sample_trials(env: Any, n_trials: int, *, seed: int | None = None) -> dict[str, np.ndarray]:
    """`n_trials` trials of a NeuroGym TrialEnv as arrays (see the module docstring)."""
    if not isinstance(n_trials, int) or n_trials < 2:
        raise ConfigError(f"--n-trials = {shown(n_trials)} is not allowed: at least 2 (training and validation)")
    base = getattr(env, "unwrapped", env)  # gymnasium's wrappers hide new_trial, ob, gt and seed
    if seed is not None:
        base.seed(seed)  # NeuroGym draws trials from its own generator, which reset(seed=...) leaves alone
    n_actions = int(env.action_space.n)
    observations, actions, truths = [], [], []
    for _ in range(n_trials):
        trial = base.new_trial()
        ob = np.asarray(base.ob, np.float64).reshape(len(base.ob), -1)
        gt = np.asarray(base.gt)
        if gt.ndim != 1 or not np.issubdtype(gt.dtype, np.integer):
            raise ConfigError("the environment's ground truth is not one action per step: only discrete-action tasks are supported")
        observations.append(ob)
        actions.append(gt)
        truths.append((trial or {}).get("ground_truth", 0))
    steps = max(len(ob) for ob in observations)
    inputs = np.zeros((n_trials, steps, observations[0].shape[1]))
    targets = np.zeros((n_trials, steps, n_actions))
    mask = np.zeros((n_trials, steps))
    for b, (ob, gt) in enumerate(zip(observations, actions)):
        inputs[b, : len(ob)] = ob
        targets[b, np.arange(len(gt)), gt] = 1.0
        mask[b, : len(gt)] = 1.0
    labels = [repr(t) for t in truths]
    distinct = sorted(set(labels))
    condition = np.array([distinct.index(label) for label in labels], np.int64)
    return {"inputs": inputs, "targets": targets, "mask": mask, "condition": condition}


def make_env(name: str, *, dt_ms: float | None = None, **kwargs: Any) -> Any:
    """The NeuroGym environment `name` (e.g. PerceptualDecisionMaking-v0), with time step dt_ms."""
    try:
        import neurogym
    except ImportError:
        raise ConfigError("NeuroGym tasks need the optional extra: pip install -e '.[neurogym]'") from None
    if dt_ms is not None:
        kwargs["dt"] = dt_ms
    try:
        return neurogym.make(name, **kwargs)
    except Exception as error:  # gymnasium raises several types for an unknown name or argument
        raise ConfigError(f"NeuroGym environment {shown(name)} cannot be made: {str(error).splitlines()[0]}") from None
