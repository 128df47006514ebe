"""What a sweep trains: validated sizes, seeds and an optional extra config axis, one job per network.

A sweep trains one network for every (size, seed[, axis value]) from scratch on the task of a base
run configuration. Network (n, s[, v]) has the base configuration with

    model.n_units = n,   train.seed = s  (s = 0, ..., seeds - 1),   <axis field> = v,

so every network of a sweep gets the same task, the same trainer and the same budget of
`train.max_iters` iterations. `train.stop_on_success` must be false: a network stopped at its first
success would train for fewer iterations than the others, and size would be confounded with budget.

The sweep's identity (base config, sizes, seeds, axis) is recorded in DIR/sweep.json; a run into a
directory holding a different sweep is refused (`check_sweep_dir`).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from rnncondense import storage
from rnncondense.config import RunConfig, config_from_dict, config_to_dict
from rnncondense.errors import ConfigError, RunDirError

__all__ = [
    "Axis",
    "NetworkJob",
    "SweepSpec",
    "make_spec",
    "parse_sizes",
    "parse_axis",
    "check_sweep_dir",
    "write_sweep_file",
    "NETWORKS_DIR",
    "SWEEP_FILE",
]

SWEEP_FORMAT = "rnncondense-sweep-1"
SWEEP_FILE = "sweep.json"
NETWORKS_DIR = "networks"
MAX_SIZE = 20000  # the bound of model.n_units
MAX_SEEDS = 10000
# fields the sweep sets itself, or that would break the equal budget
_NOT_AN_AXIS = {
    "model.n_units": "it is the sweep's size axis (--sizes)",
    "train.seed": "it is the sweep's seed axis (--seeds)",
    "train.stop_on_success": "every network of a sweep trains for the same train.max_iters",
}
# the two fields every network sets: they do not identify the sweep
_PER_NETWORK = (("model", "n_units"), ("train", "seed"))


class Axis(NamedTuple):
    """An extra sweep axis: a dotted config field (e.g. "model.g") and its values."""

    field: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class NetworkJob:
    """One network of a sweep: its coordinates, its full config and its run directory name."""

    name: str  # e.g. "n050_s2" or "n050_s2_g1.5"; DIR/networks/<name> is its run directory
    size: int
    seed: int
    axis_value: Any  # None without an axis
    config: RunConfig


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base config, sizes (ascending), number of seeds, optional axis, and jobs."""

    config: RunConfig
    sizes: tuple[int, ...]
    seeds: int
    axis: Axis | None
    jobs: tuple[NetworkJob, ...]

    def record(self) -> dict[str, Any]:
        """The JSON-ready content of DIR/sweep.json."""
        return {
            "format": SWEEP_FORMAT,
            "config": _identity_config(self.config),
            "sizes": list(self.sizes),
            "seeds": self.seeds,
            "axis": None if self.axis is None else {"field": self.axis.field, "values": list(self.axis.values)},
        }


def _identity_config(config: RunConfig) -> dict[str, Any]:
    """The base config without the fields each network overrides (model.n_units, train.seed)."""
    data = config_to_dict(config)
    for table, field in _PER_NETWORK:
        data[table].pop(field)
    return data


# ------------------------------------------------------------------------------ parsing (CLI text)


def parse_sizes(text: str) -> list[int]:
    """'5,10,20' -> [5, 10, 20]; the values are checked by `make_spec`."""
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise ConfigError(
            f"sizes (--sizes) = {text!r} is not allowed: give comma-separated positive integers, e.g. 5,10,20,50,100,200"
        ) from None


def _parse_value(text: str) -> Any:
    """A TOML literal (1.5, 2, true, "x") or, failing that, the bare text as a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_axis(text: str) -> Axis:
    """'model.g=1.0,1.5' -> Axis('model.g', (1.0, 1.5)); the field and values are checked by `make_spec`."""
    field, sep, values = str(text).partition("=")
    parts = [part.strip() for part in values.split(",") if part.strip()]
    if not sep or not field.strip() or not parts:
        raise ConfigError(
            f"axis (--axis) = {text!r} is not allowed: give a config field and comma-separated values, e.g. model.g=1.0,1.5"
        )
    return Axis(field.strip(), tuple(_parse_value(part) for part in parts))


# ------------------------------------------------------------------------------ validation


def _check_sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise ConfigError(
            f"sizes (--sizes) = {sizes!r} is not allowed: give a list of positive integers, e.g. [5, 10, 20]"
        )
    sizes = list(sizes)
    if not sizes:
        raise ConfigError(
            "sizes (--sizes) = [] is not allowed: give at least one network size (a positive number of units), e.g. 5,10,20"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
            raise ConfigError(
                f"sizes (--sizes) = {sizes!r} is not allowed: every size must be an integer number of units in "
                f"[1, {MAX_SIZE}] (got {size!r})"
            )
    repeated = sorted({size for size in sizes if sizes.count(size) > 1})
    if repeated:
        raise ConfigError(
            f"sizes (--sizes) = {sizes!r} is not allowed: each size may appear once (repeated: {repeated})"
        )
    return tuple(sorted(sizes))


def _check_seeds(seeds: Any) -> int:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(
            f"seeds (--seeds) = {seeds!r} is not allowed: it must be an integer in [1, {MAX_SEEDS}] "
            "(networks per size, with train.seed = 0, ..., seeds - 1)"
        )
    return seeds


def _set_field(data: dict[str, Any], dotted: str, value: Any) -> None:
    *tables, leaf = dotted.split(".")
    for table in tables:
        data = data[table]
    data[leaf] = value


def _check_axis_field(config: RunConfig, axis: Axis) -> None:
    field = axis.field
    if field in _NOT_AN_AXIS:
        raise ConfigError(f"axis (--axis) field {field!r} is not allowed: {_NOT_AN_AXIS[field]}")
    node: Any = config_to_dict(config)
    parts = field.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the top level"
            allowed = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a table)"
            raise ConfigError(
                f"axis (--axis) field {field!r} is not allowed: no field {part!r} in {where}; allowed: {allowed}"
            )
        node = node[part]
    if isinstance(node, dict):
        raise ConfigError(
            f"axis (--axis) field {field!r} is not allowed: it is a table; name one of its fields, "
            f"e.g. {field}.{next(iter(node))}"
        )
    if isinstance(node, list) and not all(isinstance(v, list) for v in axis.values):
        raise ConfigError(
            f"axis (--axis) field {field!r} is not allowed: it holds a list, which a comma-separated axis cannot give"
        )
    _check_axis_values(axis)


def _check_axis_values(axis: Axis) -> None:
    if len(set(map(repr, axis.values))) != len(axis.values):
        raise ConfigError(f"axis (--axis) = {axis.field}={list(axis.values)} is not allowed: each value may appear once")


def _resolved_value(base: dict[str, Any], dotted: str, value: Any) -> Any:
    """`value` as the validated config stores it in field `dotted` (raises ConfigError if not allowed)."""
    data = json.loads(json.dumps(base))
    _set_field(data, dotted, value)
    node: Any = config_to_dict(config_from_dict(data, source=f"axis (--axis) {dotted}"))
    for part in dotted.split("."):
        node = node[part]
    return node


def _value_label(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "_", str(value).lower())


def _network_name(size: int, seed: int, width: int, axis: Axis | None, value: Any) -> str:
    name = f"n{size:0{width}d}_s{seed}"
    return name if axis is None else f"{name}_{axis.field.rsplit('.', 1)[-1]}{_value_label(value)}"


def make_spec(config: RunConfig, *, sizes: Any, seeds: Any, axis: Axis | None = None) -> SweepSpec:
    """Validate a sweep and build its jobs (every network's config is validated here, before any work).

    Args:
        config: the base run configuration (its model.n_units and train.seed are overridden).
        sizes: network sizes (units), distinct positive integers; sorted ascending.
        seeds: networks per size, seeds 0, ..., seeds - 1 of train.seed.
        axis: optional extra axis (`parse_axis`), any config field but n_units, seed and stop_on_success.

    Raises:
        ConfigError: one line naming the argument or field, the value and what is allowed.
    """
    if not isinstance(config, RunConfig):
        raise ConfigError(f"config must be a RunConfig (see load_config), got {type(config).__name__}")
    sizes = _check_sizes(sizes)
    seeds = _check_seeds(seeds)
    if config.train.stop_on_success:
        raise ConfigError(
            "train.stop_on_success = true is not allowed in a sweep: every network must train for the same "
            "train.max_iters; set it to false (as configs/sweep.toml does)"
        )
    if axis is not None:
        if not isinstance(axis, Axis):
            raise ConfigError(
                f"axis (--axis) = {axis!r} is not allowed: give an Axis (see parse_axis), e.g. model.g=1.0,1.5"
            )
        _check_axis_field(config, axis)
    base = config_to_dict(config)
    if axis is not None:  # the values as the config holds them (model.g = 1 is 1.0), so 1 and 1.0 name one network
        axis = Axis(axis.field, tuple(_resolved_value(base, axis.field, value) for value in axis.values))
        _check_axis_values(axis)
    width = max(3, len(str(max(sizes))))
    values = (None,) if axis is None else axis.values
    jobs = []
    for size in sizes:
        for seed in range(seeds):
            for value in values:
                data = json.loads(json.dumps(base))
                data["model"]["n_units"] = size
                data["train"]["seed"] = seed
                source = f"sweep network size {size}, seed {seed}"
                if axis is not None:
                    _set_field(data, axis.field, value)
                    source += f", {axis.field} = {value!r}"
                jobs.append(NetworkJob(_network_name(size, seed, width, axis, value), size, seed, value,
                                       config_from_dict(data, source=source)))
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ConfigError(
            f"axis (--axis) = {axis.field}={list(axis.values)} is not allowed: values that differ only in case "
            "or punctuation would share a directory name"
        )
    return SweepSpec(config, sizes, seeds, axis, tuple(jobs))


# ------------------------------------------------------------------------------ the sweep directory


def _first_difference(old: Any, new: Any, path: str) -> str | None:
    """'field = old there, new now' for the first field (depth first, sorted) where two tables differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = _first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else key)
            if found:
                return found
        return None
    return None if old == new else f"{path} = {json.dumps(old)} there, {json.dumps(new)} now"


def _describe_difference(recorded: dict[str, Any], wanted: dict[str, Any]) -> str:
    for name, option in (("sizes", "--sizes"), ("seeds", "--seeds"), ("axis", "--axis")):
        if recorded.get(name) != wanted[name]:
            return f"{name} ({option}) {json.dumps(recorded.get(name))} there, {json.dumps(wanted[name])} now"
    found = _first_difference(recorded.get("config"), wanted["config"], "")
    return f"config field {found}" if found else "the sweep record"


def check_sweep_dir(out: str | Path, spec: SweepSpec) -> Path:
    """Check that `out` is new, empty, or holds this very sweep (then it is continued).

    Raises:
        RunDirError: `out` is a file, a non-empty directory that is not a sweep, or holds a sweep
            with other arguments (the message names the first difference).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}' exists and is not a directory")
    record_path = out / SWEEP_FILE
    if storage.holds_nothing(out):  # a sweep killed before it wrote its first file: start it again
        storage.remove_stale_temporaries(out)
    if not record_path.is_file():
        if out.is_dir() and not storage.holds_nothing(out):
            raise RunDirError(f"--out '{out}' is not empty and holds no {SWEEP_FILE}; choose a new or empty directory")
        return out
    recorded = storage.read_json(record_path)
    if recorded.get("format") != SWEEP_FORMAT:
        raise RunDirError(f"{record_path}: not an rnncondense sweep record")
    wanted = json.loads(json.dumps(spec.record()))
    if recorded != wanted:
        raise RunDirError(
            f"--out '{out}' holds a different sweep ({_describe_difference(recorded, wanted)}); rerun with the same "
            "config and arguments to continue it, or choose another --out"
        )
    return out


def write_sweep_file(out: Path, spec: SweepSpec) -> Path:
    """Create DIR/networks and write DIR/sweep.json (atomically) unless it is there (`check_sweep_dir`
    has then found it equal to this sweep's record)."""
    (out / NETWORKS_DIR).mkdir(parents=True, exist_ok=True)
    if not (out / SWEEP_FILE).is_file():
        storage.write_json(out / SWEEP_FILE, spec.record())
    return out / SWEEP_FILE
