"""Config loading under generated input: never a traceback, always a valid config or one clear line."""

import typing

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytest

from rnncondense.condense.config import CondenseConfig, condense_config
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


# Configs that pass every field check but need more memory than the machine has: refused by the
# command before any allocation. The truth is independent of rnncondense.memory: a simulation of B
# trials of T steps of N units holds at least one float32 (B, T, N) array (its rates), and
# T >= (cue onset + longest delay + longest interval + tail) / dt.
@st.composite
def huge_configs(draw):
    dt = draw(st.sampled_from([0.5, 1.0, 2.0, 5.0, 10.0]))
    interval = draw(st.floats(500.0, 20000.0))
    trainer = draw(st.sampled_from(["adam", "hf"]))
    batch = draw(st.integers(512, 4096))
    data = {
        "task": {"dt_ms": dt, "intervals_ms": [interval], "set_duration_ms": max(20.0, dt), "val_trials_per_interval": 1},
        "model": {"n_units": draw(st.integers(2000, 20000)), "tau_ms": 100.0},
        "train": {"trainer": trainer, **({"adam": {"batch_size": batch}} if trainer == "adam" else
                                          {"hf": {"gradient_batch_size": batch, "curvature_batch_size": 1,
                                                 "gradient_by_minibatch": False}})},
    }
    steps = (100.0 + 200.0 + interval + 200.0) / dt
    return data, batch * steps * data["model"]["n_units"] * 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drawn=huge_configs())
def test_configs_that_exceed_memory_are_refused_before_allocation(tmp_path, drawn):
    import resource

    from hypothesis import assume
    from typer.testing import CliRunner

    from rnncondense.cli import app
    from rnncondense.memory import available_bytes

    data, at_least = drawn
    available = available_bytes()
    assume(available is not None and at_least > available)
    path = tmp_path / "huge.toml"
    path.write_text(tomli_w.dumps(data))
    assert isinstance(load_config(path), RunConfig)  # it passes validation
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs at least" in lines[0] and "memory available" in lines[0] and str(path) in lines[0]
    assert not out.exists()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 500_000  # < 0.5 GB more than before


def _refused_before_allocation(result, path_name, peak_before):
    import resource

    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "needs at least" in lines[0] and "memory available" in lines[0] and path_name in lines[0]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 500_000  # < 0.5 GB more than before


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drawn=huge_configs(), seeds=st.integers(1, 3))
def test_sweeps_that_exceed_memory_are_refused_before_allocation(tmp_path, drawn, seeds):
    """The same configs as a sweep over their size: refused before a worker or a directory exists."""
    import resource

    from hypothesis import assume
    from typer.testing import CliRunner

    from rnncondense.cli import app
    from rnncondense.memory import available_bytes

    data, at_least = drawn
    available = available_bytes()
    assume(available is not None and at_least > available)
    data = {**data, "train": {**data["train"], "stop_on_success": False}}  # as a sweep requires
    path = tmp_path / "huge.toml"
    path.write_text(tomli_w.dumps(data))
    assert isinstance(load_config(path), RunConfig)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--sizes", str(data["model"]["n_units"]),
                                      "--seeds", str(seeds), "--workers", "1"])
    _refused_before_allocation(result, str(path), peak_before)
    assert not out.exists()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(drawn=huge_configs(), members=st.integers(1, 4), adam=st.booleans())
def test_ensembles_that_exceed_memory_are_refused_before_allocation(tmp_path, drawn, members, adam):
    """An ensemble holds every member's buffers at once: members x (B, T, N) float32 at least."""
    import resource

    import pytest
    from hypothesis import assume

    from rnncondense.config import config_from_dict
    from rnncondense.memory import available_bytes
    from rnncondense.runs.ensemble import train_ensemble

    data, at_least = drawn
    if adam and data["train"]["trainer"] == "hf":  # ensembles train both; draw Adam as often as HF
        batch = data["train"]["hf"]["gradient_batch_size"]
        data = {**data, "train": {"trainer": "adam", "adam": {"batch_size": batch}}}
    available = available_bytes()
    assume(available is not None and members * at_least > available)
    configs = [config_from_dict({**data, "train": {**data["train"], "seed": k}}) for k in range(members)]
    dirs = [tmp_path / f"member{k}" for k in range(members)]
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ConfigError, match=r"needs? at least .* memory available"):
        train_ensemble(configs, dirs)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 500_000
    assert not any(d.exists() for d in dirs)


def test_an_ensemble_whose_members_fit_alone_but_not_together_is_refused():
    """3 members each needing 40 % of the memory available: each passes alone, together they do not."""
    import pytest

    from rnncondense.config import config_from_dict
    from rnncondense.memory import check_ensemble, check_memory, largest_buffer

    config = config_from_dict({"model": {"n_units": 200}})
    available = int(largest_buffer(config).bytes / 0.4)
    check_memory(config, available=available)
    check_ensemble([config, config], available=available)
    with pytest.raises(ConfigError, match=r"ensemble: 3 members trained at once need at least"):
        check_ensemble([config] * 3, available=available)


# The condense options (`rnncondense condense`), max_mse_increase among them: a valid CondenseConfig
# or one clear line naming the field.
@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(st.sampled_from([*CondenseConfig.model_fields, "bogus_field"]), values, max_size=4))
def test_generated_condense_options_load_or_fail_with_one_line(data):
    try:
        settings_ = condense_config(data, source="condense")
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message and "Traceback" not in message and message.startswith("condense")
    else:
        assert isinstance(settings_, CondenseConfig)
        assert settings_.max_mse_increase is None or 0 < settings_.max_mse_increase <= 1000


def test_the_condense_fuzz_reaches_the_criterion():
    assert "max_mse_increase" in CondenseConfig.model_fields
    for bad in (-1, 0, float("nan"), float("inf"), "x", [0.1]):
        with pytest.raises(ConfigError, match="max_mse_increase"):
            condense_config({"max_mse_increase": bad}, source="condense")
