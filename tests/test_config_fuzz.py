"""Config loading under generated input: never a traceback, always a valid config or one clear line."""

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncondense.config import RunConfig, load_config
from rnncondense.errors import ConfigError

FIELDS = {
    "task": ["dt_ms", "intervals_ms", "cue_onset_ms", "set_delay_ms", "set_duration_ms", "set_amplitude",
             "cue_levels", "cue_noise_std", "tail_ms", "val_trials_per_interval", "name", "path", "validation_fraction",
             "split_seed"],
    "model": ["n_units", "tau_ms", "g", "sigma_rec", "x0_std", "form", "nonlinearity"],
    "train": ["trainer", "seed", "max_iters", "eval_every", "checkpoint_every", "stop_on_success", "stop_rel_error",
              "val_noise_repeats"],
}

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
    data = {}
    for table, names in FIELDS.items():
        if draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(names + ["bogus_field"]), unique=True, max_size=4))
            data[table] = {name: draw(values) for name in chosen}
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
