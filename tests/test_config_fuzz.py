"""Config loading under generated input: never a traceback, always a valid config or one clear line."""

import typing

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncondense.config import RunConfig, load_config
from rnncondense.errors import ConfigError
from rnncondense.validation import Strict



def _models(annotation) -> list[type[Strict]]:
    """The settings models an annotation holds: itself, or the members of a (tagged) union."""
    if isinstance(annotation, type) and issubclass(annotation, Strict):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models(arg)]


def _tables(model: type[Strict], path: tuple[str, ...] = ()) -> dict[tuple[str, ...], list[str]]:
    """Every table of the config models (task, model, train, train.hf, train.adam, ...) and its
    fields, read from the models themselves so that a new field is fuzzed the day it is added;
    a table that is a union of models (the task) gets the fields of every member."""
    tables: dict[tuple[str, ...], list[str]] = {path: []} if path else {}
    for name, info in model.model_fields.items():
        members = _models(info.annotation)
        if members:
            for member in members:
                for table, names in _tables(member, (*path, name)).items():
                    tables.setdefault(table, [])
                    tables[table] += [n for n in names if n not in tables[table]]
        elif path:
            tables[path].append(name)
    return tables


FIELDS = _tables(RunConfig)

scalars = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from([0, 1, 10, 100, 1000.0, 0.05, -1, 1e-9, 1e12, "hf", "adam", "cue_set_go", "rate", "discrete", "relu", "identity", "arrays", "t.npz"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=6), st.dictionaries(st.text(max_size=6), scalars, max_size=3))


@st.composite
def configs(draw):
    data: dict = {}
    for path, names in FIELDS.items():
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(names + ["bogus_field"]), unique=True, max_size=4))
            table = data
            for part in path:
                table = table.setdefault(part, {}) if isinstance(table.get(part, {}), dict) else table
            table.update({name: draw(values) for name in chosen})
    if draw(st.integers(0, 9)) == 0:
        data[draw(st.sampled_from(["preset", "other", "task"]))] = draw(values)
    return data


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=configs())
def test_generated_configs_load_or_fail_with_one_line(tmp_path, data):
    path = tmp_path / "fuzz.toml"
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):
        text = repr(data)  # not TOML at all: must be refused cleanly too
    path.write_text(text)
    try:
        config = load_config(path)
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message and "Traceback" not in message
        assert str(path) in message or "config file" in message
    else:
        assert isinstance(config, RunConfig)
        assert config.model.form == "discrete" or config.task.dt_ms <= config.model.tau_ms
        if config.task.name == "cue_set_go":
            assert config.task.intervals_ms == sorted(config.task.intervals_ms)


def test_the_fuzz_reaches_every_table_and_field():
    assert {".".join(path) for path in FIELDS} >= {"task", "model", "train", "train.hf", "train.adam"}
    assert "cg_max_iters" in FIELDS[("train", "hf")] and "learning_rate" in FIELDS[("train", "adam")]
    assert {"intervals_ms", "path", "validation_fraction"} <= set(FIELDS[("task",)])  # both task kinds
    assert {"form", "nonlinearity"} <= set(FIELDS[("model",)])
