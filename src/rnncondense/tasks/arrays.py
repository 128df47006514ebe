"""A task given as arrays of trials, such as a NeuroGym dataset or a lab's own stimuli.

The file (.npz or .safetensors, read without unpickling) holds

    inputs     (B, T, I)  the input u_t of every trial and time step
    targets    (B, T, O)  the desired output
    mask       (B, T)     optional, weight of each time step in the error (default: all 1)
    condition  (B,)       optional integer label of each trial's condition (default: all 0)

with time step k at k * dt_ms. The trials are split once, by `split_seed`, into training and
validation trials, within each condition (a condition with at least two trials keeps at least one
on each side), so that every condition is validated. Training draws trials from the training part
with replacement; validation runs the validation part.

Such a task has no timing structure: analysis/task_metrics.py judges its behaviour by
task-independent metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from rnncondense.errors import FileFormatError
from rnncondense.importers import read_arrays
from rnncondense.validation import Strict


class ArrayTaskConfig(Strict):
    """A task read from a file of trials (see the module docstring)."""

    name: Literal["arrays"] = "arrays"
    path: Annotated[str, Field(min_length=1)]
    dt_ms: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 10.0
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25
    split_seed: Annotated[int, Field(ge=0, lt=2**32)] = 0


class ArrayBatch(NamedTuple):
    inputs: jax.Array  # (B, T, I)
    targets: jax.Array  # (B, T, O)
    mask: jax.Array  # (B, T)
    condition: jax.Array  # (B,) int32


def load_trials(path: str | Path) -> ArrayBatch:
    """The trials of a file, checked: names, shapes, finite values, integer conditions."""
    path = Path(path)
    arrays, _ = read_arrays(path)

    def _get(name: str, expected: str) -> np.ndarray:
        if name not in arrays:
            found = ", ".join(sorted(arrays)) or "nothing"
            raise FileFormatError(f"{path}: missing array '{name}' (expected shape {expected}); found: {found}")
        value = arrays[name]
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer) or value.dtype == bool):
            raise FileFormatError(f"{path}: array '{name}' has dtype {value.dtype}, expected numbers (shape {expected})")
        if not np.all(np.isfinite(value)):
            raise FileFormatError(f"{path}: array '{name}' (shape {expected}) contains NaN or inf")
        return value

    inputs = _get("inputs", "(B, T, I)")
    if inputs.ndim != 3 or min(inputs.shape) < 1:
        raise FileFormatError(f"{path}: array 'inputs' has shape {inputs.shape}, expected (B, T, I)")
    b, t, _ = inputs.shape
    targets = _get("targets", "(B, T, O)")
    if targets.ndim != 3 or targets.shape[:2] != (b, t) or targets.shape[2] < 1:
        raise FileFormatError(f"{path}: array 'targets' has shape {targets.shape}, expected (B, T, O) = ({b}, {t}, O)")
    mask = _get("mask", "(B, T)") if "mask" in arrays else np.ones((b, t))
    if mask.shape != (b, t):
        raise FileFormatError(f"{path}: array 'mask' has shape {mask.shape}, expected (B, T) = ({b}, {t})")
    if np.any(mask < 0) or not np.any(mask > 0):
        raise FileFormatError(f"{path}: array 'mask' must be >= 0 with at least one positive entry")
    condition = _get("condition", "(B,)") if "condition" in arrays else np.zeros(b, np.int64)
    if condition.shape != (b,) or not np.array_equal(condition, np.round(condition)):
        raise FileFormatError(f"{path}: array 'condition' has shape {condition.shape} or non-integer labels, expected (B,) = ({b},) integers")
    return ArrayBatch(
        jnp.asarray(inputs, jnp.float32), jnp.asarray(targets, jnp.float32), jnp.asarray(mask, jnp.float32),
        jnp.asarray(condition, jnp.int32),
    )


def split_trials(condition: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) trial indices, split within each condition by a seeded permutation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(condition):
        trials = rng.permutation(np.flatnonzero(condition == label))
        n_val = int(round(fraction * len(trials)))
        if len(trials) >= 2:
            n_val = min(max(n_val, 1), len(trials) - 1)
        else:
            n_val = 0  # a single trial trains; its condition is not validated
        val.extend(trials[:n_val])
        train.extend(trials[n_val:])
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(val, np.int64))


def _take(batch: ArrayBatch, index) -> ArrayBatch:
    return ArrayBatch(*(jnp.take(a, index, axis=0) for a in batch))


class ArrayTask:
    """Trials from a file, split into training and validation parts."""

    def __init__(self, config: ArrayTaskConfig):
        self.config = config
        self.dt_ms = config.dt_ms
        trials = load_trials(config.path)
        train, val = split_trials(np.asarray(trials.condition), config.validation_fraction, config.split_seed)
        if val.size == 0:
            raise FileFormatError(
                f"{config.path}: no condition has two trials, so none is left for validation (task.validation_fraction)"
            )
        self.training = _take(trials, train)
        self.validation = _take(trials, val)
        self.n_inputs = int(trials.inputs.shape[2])
        self.n_outputs = int(trials.targets.shape[2])
        self.n_steps = int(trials.inputs.shape[1])
        self.conditions = sorted(int(c) for c in np.unique(np.asarray(trials.condition)))

    def sample(self, key: jax.Array, n_trials: int) -> ArrayBatch:
        """`n_trials` training trials drawn with replacement."""
        index = jax.random.randint(key, (n_trials,), 0, self.training.inputs.shape[0])
        return _take(self.training, index)

    def validation_batch(self) -> ArrayBatch:
        return self.validation

    def condition_batch(self) -> ArrayBatch:
        """The first validation trial of each validated condition, in label order (for figures)."""
        labels = np.asarray(self.validation.condition)
        first = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)]
        return _take(self.validation, np.asarray(first))
