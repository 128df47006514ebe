"""Config validation: every bad value gets one line naming the field, the value and what is allowed."""

import pytest

from rnncondense.config import config_from_dict, config_to_dict, load_config
from rnncondense.errors import ConfigError


def _error(data) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, source="run.toml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_the_design_defaults():
    config = config_from_dict({})
    assert config.task.dt_ms == 10.0 and config.model.tau_ms == 100.0 and config.model.n_units == 200
    assert len(config.task.intervals_ms) == 8
    assert config.task.intervals_ms[0] == 500.0 and config.task.intervals_ms[-1] == pytest.approx(1700.0)
    assert config.alpha == pytest.approx(0.1)


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"model": {"tau_ms": -5.0}}, "run.toml: model.tau_ms = -5.0 is not allowed: Input should be greater than 0"),
        ({"task": {"intervals_ms": []}}, "task.intervals_ms = [] is not allowed: List should have at least 1 item"),
        ({"task": {"intervals_ms": [900.0, 500.0]}}, "task.intervals_ms = [900.0, 500.0] is not allowed: intervals must be strictly increasing"),
        ({"task": {"dt_ms": "ten"}}, "task.dt_ms = 'ten' is not allowed: Input should be a valid number"),
        ({"model": {"n_units": 12.5}}, "model.n_units = 12.5 is not allowed: Input should be a valid integer"),
        ({"model": {"tau": 3.0}}, "run.toml: unknown field 'model.tau'; allowed here: form, g, n_units, nonlinearity, sigma_rec, tau_ms, x0_std"),
        ({"bogus": 1}, "unknown field 'bogus'; allowed here: model, task, train"),
        ({"train": {"trainer": "sgd"}}, "train.trainer = 'sgd' is not allowed: Input should be 'hf' or 'adam'"),
        ({"preset": "nope"}, "preset = 'nope' is not allowed: choose one of default, wang2018"),
        ({"task": {"set_delay_ms": [200.0, 100.0]}}, "task.set_delay_ms = [200.0, 100.0] is not allowed: must be [low, high]"),
        ({"task": {"dt_ms": 200.0, "set_duration_ms": 200.0}}, "run.toml: task.dt_ms (=200.0) must not exceed model.tau_ms (=100.0)"),
        ({"task": {"dt_ms": 30.0}}, "run.toml: task.set_duration_ms (=20.0) must be at least task.dt_ms (=30.0)"),
        ({"model": {"sigma_rec": float("nan")}}, "model.sigma_rec = nan is not allowed"),
        ({"train": {"stop_on_success": "yes"}}, "train.stop_on_success = 'yes' is not allowed: Input should be a valid boolean"),
        ({"task": {"\n": 0}}, "unknown field 'task.\\n'; allowed here: cue_levels"),  # a control character stays escaped
    ],
)
def test_bad_values_get_one_clear_line(data, expected):
    message = _error(data)
    assert expected in message and "\n" not in message


def test_validation_and_checkpoint_frequency_depend_on_the_trainer():
    hf, adam = config_from_dict({}).train, config_from_dict({"train": {"trainer": "adam"}}).train
    assert hf.trainer == "hf" and (hf.eval_every, hf.checkpoint_every) == (1, 5)
    assert (adam.eval_every, adam.checkpoint_every) == (10, 50)
    assert config_from_dict({"train": {"trainer": "adam", "eval_every": 3}}).train.eval_every == 3


def test_preset_values_can_be_overridden():
    config = config_from_dict({"preset": "wang2018", "model": {"n_units": 50}})
    assert config.model.n_units == 50 and config.model.tau_ms == 10.0


def test_round_trip_through_toml(tmp_path):
    import tomli_w

    config = config_from_dict({"model": {"n_units": 33}, "task": {"intervals_ms": [600.0, 800.0]}})
    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps(config_to_dict(config)))
    assert load_config(path) == config


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nn_units = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
