"""The registry and `run_circuit`: every circuit end to end, and the error messages users see."""

import json

import pytest

from rnncondense.circuits import CIRCUITS, CircuitConfig, describe_parameters, make_config
from rnncondense.runs.circuits import run_circuit
from rnncondense.circuits._config import config_from_overrides
from rnncondense.errors import ConfigError, RunDirError

# Reduced settings so that every circuit runs in a few seconds.
REDUCED = {
    "lif": {"n": "20", "duration_ms": "200", "fi_points": "4"},
    "linear2": {"duration_ms": "40", "dt_ms": "1", "animation_frames": "4"},
    "respiratory": {"duration_ms": "8000", "transient_ms": "2000", "sample_ms": "2"},
    "ring": {"n_units": "32", "duration_ms": "300", "settle_ms": "150", "dt_ms": "0.5", "animation_frames": "4"},
}

EXPECTED_FILES = {
    "lif": {"lif_voltage.png", "lif_raster.png", "lif_fi_curve.png"},
    "linear2": {"linear2_time_courses.png", "linear2_phase_plane.png", "linear2_phase_plane.gif"},
    "respiratory": {"respiratory_traces.png"},
    "ring": {"ring_heatmap_stationary.png", "ring_heatmap_rotating.png", "ring_profile.png", "ring_bump.gif"},
}


def test_registry_covers_the_four_circuits_with_references():
    assert set(CIRCUITS) == {"lif", "linear2", "respiratory", "ring"} == set(REDUCED)
    for name, spec in CIRCUITS.items():
        assert spec.name == name
        assert spec.reference and spec.title
        for field, info in describe_parameters(spec.config).items():
            assert info["description"], f"{name}.{field} has no help text"


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_every_circuit_runs_end_to_end(name, tmp_path):
    stages = []
    summary = run_circuit(name, REDUCED[name], tmp_path / name, progress=lambda *args: stages.append(args))
    out = tmp_path / name
    for file in EXPECTED_FILES[name] | {"summary.json"}:
        assert (out / file).is_file() and (out / file).stat().st_size > 0, file
    assert set(summary["files"]) >= EXPECTED_FILES[name] | {"summary.json"}
    written = json.loads((out / "summary.json").read_text())
    assert written["circuit"] == name
    assert written["text"] == summary["text"]
    for key, value in REDUCED[name].items():
        assert str(written["config"][key]) in {value, str(float(value))}
    assert stages and stages[-1][1] == stages[-1][2]  # progress reached its total
    for file in EXPECTED_FILES[name]:
        if file.endswith(".gif"):
            assert (out / file).read_bytes()[:6] in {b"GIF87a", b"GIF89a"}
        else:
            assert (out / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_circuit_measures_what_it_reports(tmp_path):
    summary = run_circuit("lif", {**REDUCED["lif"], "input": "constant", "current_na": "0.2"}, tmp_path)
    fi = summary["fi_curve"]
    for simulated, analytic in zip(fi["simulated_hz"], fi["analytic_hz"]):
        assert simulated == pytest.approx(analytic, rel=1e-3, abs=1e-9)
    assert summary["single_neuron"]["rate_hz"] > 50


def test_unknown_circuit_lists_the_choices(tmp_path):
    with pytest.raises(ConfigError) as error:
        run_circuit("hopfield", {}, tmp_path)
    message = str(error.value)
    assert "'hopfield'" in message
    for name in CIRCUITS:
        assert name in message


def test_unknown_parameter_lists_the_allowed_ones():
    with pytest.raises(ConfigError) as error:
        make_config("respiratory", {"D4": "1"})
    message = str(error.value)
    assert "'D4'" in message and "respiratory" in message
    for allowed in ("D1", "D2", "D3", "g_nap_ns", "rtol"):
        assert allowed in message


def test_matrix_that_is_not_2x2_is_rejected_with_its_shape():
    with pytest.raises(ConfigError) as error:
        make_config("linear2", {"M": "[[1, 2, 3], [4, 5, 6]]"})
    message = str(error.value)
    assert message.startswith("circuit 'linear2': M = [[1, 2, 3], [4, 5, 6]] is not allowed")
    assert "2x2" in message and "lengths [3, 3]" in message


def test_negative_time_constant_is_rejected_with_value_and_rule():
    for circuit, field in (("linear2", "tau_ms"), ("lif", "tau_m_ms"), ("ring", "tau_ms")):
        with pytest.raises(ConfigError) as error:
            make_config(circuit, {field: "-3"})
        message = str(error.value)
        assert f"circuit '{circuit}': {field} = -3.0 is not allowed" in message
        assert "greater than 0" in message


def test_value_that_is_not_a_number_is_rejected():
    with pytest.raises(ConfigError, match=r"circuit 'ring': j2 = 'six' is not allowed: expected a number"):
        make_config("ring", {"j2": "six"})
    with pytest.raises(ConfigError, match=r"n = '1\.5' is not allowed: expected an integer"):
        make_config("lif", {"n": "1.5"})
    with pytest.raises(ConfigError, match=r"input = 'noise' is not allowed: .*'poisson' or 'constant'"):
        make_config("lif", {"input": "noise"})


def test_whole_config_rules_name_both_fields():
    with pytest.raises(ConfigError, match=r"transient_ms \(=9000\.0\) must be shorter than duration_ms \(=8000\.0\)"):
        make_config("respiratory", {"duration_ms": "8000", "transient_ms": "9000"})


def test_strings_are_converted_by_field_type():
    config = make_config("linear2", {"M": "[[0, .5], [-.5, 0]]", "h": "(1, 2)", "tau_ms": "20"})
    assert config.M == [[0.0, 0.5], [-0.5, 0.0]] and config.h == [1.0, 2.0] and config.tau_ms == 20.0
    config = make_config("respiratory", {"d1": "0", "method": "BDF"})  # names are case-insensitive
    assert config.D1 == 0.0 and config.method == "BDF"
    assert make_config("lif", {"n": "300"}).n == 300
    assert make_config("lif", {"tau-m-ms": "30"}).tau_m_ms == 30.0


def test_optional_and_boolean_fields_parse_from_strings():
    assert make_config("respiratory", {"sample_ms": "none"}).sample_ms is None
    assert make_config("respiratory", {"sample_ms": "2"}).sample_ms == 2.0

    class Switches(CircuitConfig):
        flag: bool = False

    assert config_from_overrides(Switches, {"flag": "yes"}, circuit="demo").flag is True
    assert config_from_overrides(Switches, {"flag": "0"}, circuit="demo").flag is False
    with pytest.raises(ConfigError, match=r"circuit 'demo': flag = 'maybe' is not allowed: expected true or false"):
        config_from_overrides(Switches, {"flag": "maybe"}, circuit="demo")


def test_configs_are_frozen_and_reject_unknown_fields_from_python():
    config = make_config("ring")
    with pytest.raises(Exception):
        config.j2 = 3.0
    with pytest.raises(ConfigError, match="allowed"):
        make_config("ring", {"J3": 1.0})


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(RunDirError, match="not a directory"):
        run_circuit("linear2", REDUCED["linear2"], target)
