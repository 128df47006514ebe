"""One source of truth for defaults: the config models. Every library signature, command-line
option and preset that repeats a default must agree with its model, and configs/default.toml is
generated from the models."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import pytest

from rnncondense.cli import app
from rnncondense.condense.config import CondenseConfig
from rnncondense.condense.merge import merge_units
from rnncondense.config import HFConfig, RunConfig, config_to_dict, default_config_toml, load_config
from rnncondense.runs.study import StudyPlan
from rnncondense.train.hessian_free import hessian_free
from rnncondense.validation import Strict

ROOT = Path(__file__).resolve().parents[2]


def _defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def test_hessian_free_signature_defaults_are_the_hf_config_defaults():
    config = HFConfig()
    shared = {name: value for name, value in _defaults(hessian_free).items() if name in HFConfig.model_fields}
    assert len(shared) >= 15, sorted(shared)
    assert shared == {name: getattr(config, name) for name in shared}


def test_merge_ridge_default_is_the_condense_config_default():
    assert _defaults(merge_units)["ridge"] == CondenseConfig().ridge


def test_study_plan_defaults_are_the_condense_config_defaults():
    plan, condense = StudyPlan.model_fields, CondenseConfig()
    for name in ("pairs_per_step", "retrain_iters", "preserve_weight"):
        assert plan[name].default == getattr(condense, name), name
    assert plan["iterative_operator"].default == condense.operator
    assert plan["iterative_retrain_until"].default_factory() == [condense.retrain_until]


def test_condense_command_defaults_are_the_condense_config_defaults():
    command = next(c for c in app.registered_commands if c.callback.__name__ == "condense")
    options = _defaults(command.callback)
    names = {"pairs": "pairs_per_step", "weight": "preserve_weight", "target": "target_units"}
    config = CondenseConfig()
    checked = 0
    for option, value in options.items():
        field = names.get(option, option)
        if field not in CondenseConfig.model_fields:
            continue
        expected = getattr(config, field)
        if field == "clusters":
            value = [int(part) for part in value.split(",")]
        assert value == expected, option
        checked += 1
    assert checked >= 11


def test_default_toml_is_generated_from_the_models():
    text = (ROOT / "configs" / "default.toml").read_text()
    assert text == default_config_toml(), "regenerate it: make configs/default.toml"


def test_default_toml_loads_to_the_defaults_and_names_every_field(tmp_path):
    assert config_to_dict(load_config(ROOT / "configs" / "default.toml")) == config_to_dict(RunConfig())
    text = default_config_toml()

    def fields(model, prefix=""):
        for name in type(model).model_fields:
            if isinstance(getattr(model, name), Strict):
                yield from fields(getattr(model, name), f"{prefix}{name}.")
            else:
                yield prefix, name

    listed = set()
    section = ""
    for line in text.splitlines():
        stripped = line.lstrip("# ").strip()
        if stripped.startswith("["):
            section = stripped.strip("[]").split("]")[0] + "."
        elif "=" in stripped:
            listed.add(section + stripped.split("=")[0].strip())
    every = {prefix + name for prefix, name in fields(RunConfig())}
    assert every <= listed, sorted(every - listed)
    # switching the trainer in a copy of the file still gives that trainer's own defaults
    adam = text.replace('trainer = "hf"', 'trainer = "adam"')
    path = tmp_path / "adam.toml"
    path.write_text(adam)
    assert load_config(path).train.eval_every == RunConfig.model_validate({"train": {"trainer": "adam"}}).train.eval_every
    assert tomllib.loads(text)  # plain TOML


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_config_in_configs_loads(path):
    load_config(path)
