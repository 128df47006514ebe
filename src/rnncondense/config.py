"""Validated run configurations, read from TOML.

A run configuration has three tables, `[task]`, `[model]` and `[train]`, and an optional top-level
`preset = "..."` whose values the file then overrides. Every field is checked before any work
starts; a bad value raises `ConfigError` with one line naming the field, the value and what is
allowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, PlainValidator, Tag, ValidationError, model_validator

from rnncondense.errors import ConfigError, shown
from rnncondense.metrics import SUCCESS_REL_ERROR
from rnncondense.rnn import FORMS, NONLINEARITIES, Dynamics
from rnncondense.tasks.arrays import ArrayTaskConfig
from rnncondense.tasks.cue_set_go import CueSetGoConfig
from rnncondense.validation import NonNegativeFloat, PositiveFloat, Strict, format_validation_error

__all__ = [
    "ModelConfig",
    "TrainConfig",
    "RunConfig",
    "PRESETS",
    "load_config",
    "config_from_dict",
    "config_to_dict",
]


class ModelConfig(Strict):
    """The rate network: x_t = x_{t-1} + (dt / tau)(-x + W_rec r + W_in u + b) + noise, r = f(x);
    `form` and `nonlinearity` choose the variants of rnn.py (rate form, discrete time, relu, ...)."""

    n_units: Annotated[int, Field(ge=1, le=20000)] = 200
    tau_ms: PositiveFloat = 100.0
    g: NonNegativeFloat = 1.0  # W_rec ~ N(0, g^2 / N)
    sigma_rec: NonNegativeFloat = 0.05  # recurrent noise, per sqrt(tau)
    x0_std: NonNegativeFloat = 0.0  # spread of the (learned) initial state
    form: Literal[FORMS] = "current"  # current (state x), rate (state r) or discrete (rate form, alpha = 1)
    nonlinearity: Literal[NONLINEARITIES] = "tanh"


class AdamConfig(Strict):
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 64
    learning_rate: PositiveFloat = 1e-3
    clip_norm: PositiveFloat = 1.0  # global gradient-norm clip


def in_minibatches(gradient_batch_size: int, curvature_batch_size: int) -> bool:
    """Whether the gradient batch is made of its curvature minibatches: they divide it, at least two."""
    return gradient_batch_size % curvature_batch_size == 0 and curvature_batch_size < gradient_batch_size


def _auto_or_bool(value: Any) -> Any:
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError('must be "auto", true or false')


class HFConfig(Strict):
    """Hessian-free settings; the constants default to Martens' reference code (REFERENCES.md)."""

    # 128/32 reached success on the default task in half the time of 256/64 (3 seeds, 2 CPU cores)
    gradient_batch_size: Annotated[int, Field(ge=1, le=4096)] = 128
    curvature_batch_size: Annotated[int, Field(ge=1, le=4096)] = 32
    # simulate the gradient batch one curvature minibatch after another rather than all at once: the
    # same numbers with the memory of a minibatch; "auto": when gradient_batch_size x n_units
    # exceeds AUTO_MINIBATCH_TRIAL_UNITS (above 64 units with the default batches)
    gradient_by_minibatch: Annotated[Union[Literal["auto"], bool], PlainValidator(_auto_or_bool)] = "auto"
    initial_damping: PositiveFloat = 1.0  # lambda
    structural_damping: NonNegativeFloat = 1.0 / 30.0  # mu
    damping_boost: Annotated[float, Field(gt=1, allow_inf_nan=False)] = 1.5  # rho < 1/4
    damping_drop: Annotated[float, Field(gt=0, lt=1)] = 2.0 / 3.0  # rho > 3/4
    rho_low: Annotated[float, Field(ge=0, lt=1)] = 0.25
    rho_high: Annotated[float, Field(gt=0, le=1)] = 0.75
    min_damping: PositiveFloat = 1e-6
    max_damping: PositiveFloat = 1e8
    nonfinite_damping_boost: Annotated[float, Field(gt=1, allow_inf_nan=False)] = 10.0
    cg_max_iters: Annotated[int, Field(ge=1, le=10000)] = 250
    cg_progress_tol: PositiveFloat = 5e-4
    cg_window_min: Annotated[int, Field(ge=1)] = 10
    cg_window_frac: Annotated[float, Field(ge=0, le=1)] = 0.1
    cg_decay: Annotated[float, Field(ge=0, le=1)] = 0.95
    backtrack_base: PositiveFloat = 5.0
    backtrack_growth: Annotated[float, Field(gt=1, allow_inf_nan=False)] = 1.3
    armijo_c: Annotated[float, Field(gt=0, lt=1)] = 1e-2
    line_search_shrink: Annotated[float, Field(gt=0, lt=1)] = 0.8
    line_search_max_tries: Annotated[int, Field(ge=1, le=1000)] = 60

    @model_validator(mode="after")
    def _consistent(self) -> HFConfig:
        if self.curvature_batch_size > self.gradient_batch_size:
            raise ValueError(
                f"train.hf.curvature_batch_size (={self.curvature_batch_size}) must not exceed "
                f"train.hf.gradient_batch_size (={self.gradient_batch_size})"
            )
        if self.gradient_by_minibatch is True and not in_minibatches(self.gradient_batch_size, self.curvature_batch_size):
            raise ValueError(
                f"train.hf.gradient_by_minibatch = true needs train.hf.curvature_batch_size "
                f"(={self.curvature_batch_size}) to divide train.hf.gradient_batch_size (={self.gradient_batch_size}) "
                "and be smaller"
            )
        if self.rho_low >= self.rho_high:
            raise ValueError(f"train.hf.rho_low (={self.rho_low}) must be below train.hf.rho_high (={self.rho_high})")
        if self.min_damping >= self.max_damping:
            raise ValueError(f"train.hf.min_damping (={self.min_damping}) must be below train.hf.max_damping (={self.max_damping})")
        return self


ADAM_DEFAULTS = {"eval_every": 10, "checkpoint_every": 50}  # where Adam's defaults differ from HF's


# A 200-unit network's HF step on 128 trials of 221 steps held a 211 MB working buffer (XLA's
# temp size), 110 MB of it the gradient; one 32-trial minibatch at a time, 83 MB (README, "Ensembles")
AUTO_MINIBATCH_TRIAL_UNITS = 8192


def gradient_by_minibatch(hf: HFConfig, n_units: int) -> bool:
    """Whether Hessian-free simulates the gradient batch of an `n_units` network one minibatch at a
    time: `hf.gradient_by_minibatch`, or for "auto" when the batch has more than
    AUTO_MINIBATCH_TRIAL_UNITS trials x units and the minibatches divide it."""
    if hf.gradient_by_minibatch != "auto":
        return hf.gradient_by_minibatch
    return in_minibatches(hf.gradient_batch_size, hf.curvature_batch_size) and \
        hf.gradient_batch_size * n_units > AUTO_MINIBATCH_TRIAL_UNITS


class TrainConfig(Strict):
    """How a network is trained, validated and checkpointed."""

    trainer: Literal["hf", "adam"] = "hf"
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    max_iters: Annotated[int, Field(ge=1)] = 3000
    eval_every: Annotated[int, Field(ge=1)] = 1  # default: 1 for hf, 10 for adam
    checkpoint_every: Annotated[int, Field(ge=1)] = 5  # default: 5 for hf, 50 for adam
    stop_on_success: bool = True
    # stop once validation has no misses and timing_rel_error <= this (success itself is <= 0.05);
    # a stricter value gives a network with a margin, e.g. to condense
    stop_rel_error: Annotated[float, Field(gt=0, le=SUCCESS_REL_ERROR)] = SUCCESS_REL_ERROR
    val_noise_repeats: Annotated[int, Field(ge=1, le=64)] = 2  # noise draws per validation trial
    adam: AdamConfig = AdamConfig()
    hf: HFConfig = HFConfig()

    @model_validator(mode="before")
    @classmethod
    def _per_trainer_defaults(cls, data: Any) -> Any:
        """An HF iteration costs as much as dozens of Adam steps: validate and checkpoint more often."""
        if isinstance(data, dict) and data.get("trainer") == "adam":
            data = {**ADAM_DEFAULTS, **data}
        return data


# The task table is chosen by its `name` (Cue-Set-Go when absent): one config class per task.
TASK_CONFIGS: dict[str, type[Strict]] = {"cue_set_go": CueSetGoConfig, "arrays": ArrayTaskConfig}


def _task_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("name", "cue_set_go")
    return getattr(value, "name", None)


TaskConfig = Annotated[
    Union[Annotated[CueSetGoConfig, Tag("cue_set_go")], Annotated[ArrayTaskConfig, Tag("arrays")]],
    Discriminator(_task_name),
]


class RunConfig(Strict):
    """Everything a training run needs; `config.toml` of a run holds it fully resolved."""

    task: TaskConfig = CueSetGoConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _check_time_step(self) -> RunConfig:
        if self.model.form != "discrete" and self.task.dt_ms > self.model.tau_ms:
            raise ValueError(
                f"task.dt_ms (={self.task.dt_ms}) must not exceed model.tau_ms (={self.model.tau_ms}): "
                "the Euler step dt / tau must be at most 1"
            )
        return self

    @property
    def alpha(self) -> float:
        """dt / tau; 1 in discrete time, whatever tau is."""
        return 1.0 if self.model.form == "discrete" else self.task.dt_ms / self.model.tau_ms

    @property
    def dynamics(self) -> Dynamics:
        return Dynamics(self.model.form, self.model.nonlinearity)


# Presets: partial configurations that a file can start from and override.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Wang, Narain, Hosseini & Jazayeri 2018: N = 200, tau = 10 ms, dt = 1 ms, 16 intervals
    # over 500-1700 ms, a 10 ms Set pulse of magnitude 0.1.
    "wang2018": {
        "task": {
            "dt_ms": 1.0,
            "intervals_ms": [500.0 + 80.0 * i for i in range(16)],
            "set_duration_ms": 10.0,
            "set_amplitude": 0.1,
        },
        "model": {"n_units": 200, "tau_ms": 10.0},
    },
}


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_from_dict(data: dict[str, Any], *, source: str = "config") -> RunConfig:
    """Validate a nested dict (as read from TOML) into a RunConfig, applying `preset` if given."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a table of settings, got {type(data).__name__}")
    data = dict(data)
    preset = data.pop("preset", "default")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ConfigError(
            f"{source}: preset = {shown(preset)} is not allowed: choose one of {', '.join(PRESETS)}"
        )
    merged = _deep_merge(PRESETS[preset], data)
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source, RunConfig, unions={"task": TASK_CONFIGS})) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a TOML run configuration."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist or is not a file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return config_from_dict(data, source=str(path))


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The fully resolved configuration as plain TOML-ready data."""
    data = config.model_dump(mode="json")
    _check_finite(data)
    return data


def config_digest(config: RunConfig, *, ignore_max_iters: bool = False) -> str:
    """SHA-256 of the fully resolved config (JSON with sorted keys); with `ignore_max_iters`, a
    run continued with a larger iteration budget keeps its digest."""
    data = config_to_dict(config)
    if ignore_max_iters:
        data["train"].pop("max_iters")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _check_finite(data: Any) -> None:
    if isinstance(data, dict):
        for value in data.values():
            _check_finite(value)
    elif isinstance(data, list):
        for value in data:
            _check_finite(value)
    elif isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(f"non-finite value {data} cannot be written to a config file")


def parse_int_list(text: str, option: str, *, example: str, what: str = "integers") -> list[int]:
    """'5,10,20' -> [5, 10, 20], the one parser of comma-separated numbers on a command line.

    Raises:
        ConfigError: naming `option`, the text and what is allowed, for an empty list or a part
            that is not an integer.
    """
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if not values:
        raise ConfigError(f"{option} = {shown(text)} is not allowed: give comma-separated {what}, e.g. {example}")
    return values


# ------------------------------------------------------------------------------ configs/default.toml

_HEADER = """\
# Every field of a run configuration with its default, generated from the config models
# (rnncondense.config.default_config_toml; `make configs/default.toml` writes it). Every field is
# optional: a file needs only the fields it changes. Fields whose default depends on the trainer
# are shown as comments.

"""


def _toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return tomli_w.dumps({"v": value})[4:].strip()


def _toml_lines(model: Strict, section: str) -> list[str]:
    lines, tables = [f"[{section}]"] if section else [], []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, Strict):
            tables.append((name, value))
            continue
        line = f"{name} = {_toml_value(value)}"
        if section == "train" and name in ADAM_DEFAULTS:
            line = f"# {line}  (adam: {ADAM_DEFAULTS[name]})"
        lines.append(line)
    for name, value in tables:
        lines += ["", *_toml_lines(value, f"{section}.{name}" if section else name)]
    return lines


def default_config_toml() -> str:
    """The text of configs/default.toml: every field of RunConfig with its default."""
    return _HEADER + "\n".join(_toml_lines(RunConfig(), "")).lstrip("\n") + "\n"
