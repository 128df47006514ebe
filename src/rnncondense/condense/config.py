"""Validated settings of a condensation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator

from rnncondense.errors import ConfigError
from rnncondense.validation import Strict, format_validation_error

Method = Literal["one-shot", "iterative", "preserving", "canonical"]


class CondenseConfig(Strict):
    """How to condense a trained network; defaults follow the seed study where it had one."""

    method: Method = "iterative"
    similarity: Literal["pca", "correlation", "cosine"] = "pca"  # which units are alike
    operator: Literal["seed", "affine", "least-squares"] = "least-squares"  # the seed study's: seed
    k: Annotated[int, Field(ge=1, le=100)] = 3  # PCs for pca similarity, network similarity and alignment
    pairs_per_step: Annotated[int, Field(ge=1, le=10000)] = 10  # iterative and preserving
    target_units: Annotated[int, Field(ge=1)] | None = None  # default: half the network
    retrain_iters: Annotated[int, Field(ge=1, le=100000)] = 100  # per step: at most, or exactly (retrain_until)
    # "success": retrain until the task is back (within train.stop_rel_error), at most retrain_iters;
    # "budget": always retrain_iters iterations, as the seed study did (100 x 100 CG iterations per
    # step), which keeps pushing the network after the task is back
    retrain_until: Literal["success", "budget"] = "success"
    # least-squares ridge per sample; one-shot merges before failure on the 200-unit base network:
    # 137 (1e-6), 151 (1e-4), 144 (1e-3), 136 (1e-2), 75 (1e-1)
    ridge: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1e-4
    record_trials: Annotated[int, Field(ge=1, le=4096)] = 32  # noisy trials the merge fits use
    preserve_weight: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.02  # alignment term
    clusters: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [64, 32, 16, 12, 8, 6, 4, 3, 2], min_length=1
    )  # canonical: numbers of response types tried, largest first
    max_merges: Annotated[int, Field(ge=1)] | None = None  # one-shot: at most this many (it stops at failure anyway)
    metrics_every: Annotated[int, Field(ge=1)] = 5  # one-shot: solution-type metrics every so many merges
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    # the task is kept while validation mse <= (1 + max_mse_increase) x the original network's
    # (analysis.task_metrics.MseCriterion); None: Cue-Set-Go's own success, or for a task of trials
    # from a file, which has no success of its own, metrics.DEFAULT_MAX_MSE_INCREASE
    max_mse_increase: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None

    @field_validator("clusters")
    @classmethod
    def _descending(cls, value: list[int]) -> list[int]:
        if any(b >= a for a, b in zip(value, value[1:])):
            raise ValueError("must be strictly decreasing, e.g. [16, 8, 4, 2]")
        return value


def condense_config(data: dict, *, source: str = "condense options") -> CondenseConfig:
    try:
        return CondenseConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source, CondenseConfig)) from None


def check_against_network(config: CondenseConfig, n_units: int) -> int:
    """The target size, checked against the network's size."""
    target = n_units // 2 if config.target_units is None else config.target_units
    if config.method in ("iterative", "preserving") and not 1 <= target < n_units:
        raise ConfigError(
            f"target_units = {target} is not allowed: it must be below the network's {n_units} units (and >= 1)"
        )
    if config.k > n_units:
        raise ConfigError(f"k = {config.k} is not allowed: it must be in [1, {n_units}] (the number of units)")
    if config.method in ("iterative", "preserving") and config.k > target:
        raise ConfigError(f"k = {config.k} is not allowed: it must not exceed target_units = {target}")
    if config.method == "canonical" and config.clusters[0] >= n_units:
        raise ConfigError(
            f"clusters = {config.clusters} is not allowed: every number must be below the network's {n_units} units"
        )
    return target
