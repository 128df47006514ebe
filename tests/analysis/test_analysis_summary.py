"""solution_metrics and analyze_run: JSON-ready metrics, files written into the run, bad input."""

import json

import jax
import numpy as np
import pytest
import xarray as xr
from conftest import SMALL_TASK, random_network

from rnncondense import layout, storage
from rnncondense.analysis.activity import time_normalized
from rnncondense.analysis.pca import pca
from rnncondense.analysis.ramps import classify_ramps
from rnncondense.analysis.scaling import scaling_index
from rnncondense.analysis.similarity import similarity
from rnncondense.analysis.summary import solution_metrics
from rnncondense.runs.analyze import analyze_run
from rnncondense.config import config_from_dict, config_to_dict
from rnncondense.errors import ConfigError, RunDirError

SCALARS = ("pcs_90", "participation_ratio", "scaling_index", "ramp_fraction")


def test_solution_metrics_agree_with_the_parts(small_config):
    params = random_network(3, 24)
    metrics = solution_metrics(params, small_config, k=2)
    trajectories = time_normalized(metrics.activity)
    np.testing.assert_array_equal(metrics.trajectories.values, trajectories.values)
    reference = pca(trajectories.values)
    assert metrics.numbers["pcs_90"] == reference.pcs_90
    assert metrics.numbers["participation_ratio"] == pytest.approx(reference.participation_ratio)
    assert metrics.numbers["scaling_index"] == pytest.approx(scaling_index(trajectories.values).population)
    assert metrics.numbers["ramp_fraction"] == pytest.approx(classify_ramps(trajectories.values).fraction)
    assert len(metrics.numbers["scaling_index_pcs"]) == 2 and metrics.pc_scores.shape == (3, 50, 2)
    radius = float(np.abs(np.linalg.eigvals(np.asarray(params.W_rec))).max())
    assert metrics.numbers["spectral_radius"] == pytest.approx(radius, rel=1e-6)
    summary = metrics.numbers
    json.dumps(summary, allow_nan=True)  # JSON-ready
    for name in SCALARS:
        assert isinstance(summary[name], (int, float))
    # the trajectories feed similarity directly
    assert similarity(metrics.trajectories, metrics.activity, k=2).procrustes == pytest.approx(1.0, abs=1e-9)


def test_same_key_same_numbers(small_config):
    params = random_network(4, 24)
    key = jax.random.PRNGKey(7)
    first = solution_metrics(params, small_config, key=key).numbers
    second = solution_metrics(params, small_config, key=key).numbers
    assert first == second and first["settings"]["noise"] == "recurrent+cue"
    assert solution_metrics(params, small_config, key=jax.random.PRNGKey(8)).numbers != first
    message = r"^k = 25 is not allowed: it must be an integer in \[1, 24\] \(the number of units\)$"
    with pytest.raises(ConfigError, match=message):
        solution_metrics(params, small_config, k=25)


def _run_dir(root, *, trained=True, n_units=16):
    config = config_from_dict({"task": SMALL_TASK, "model": {"n_units": n_units}})
    root.mkdir(parents=True)
    storage.write_toml(root / layout.CONFIG_FILE, config_to_dict(config))
    if trained:
        storage.save_params(root / layout.PARAMS_FILE, random_network(5, n_units))
    return root


def test_analyze_run_writes_activity_metrics_and_figures(tmp_path):
    run = _run_dir(tmp_path / "run")
    result = analyze_run(run, k=3)
    written = json.loads((run / "analysis" / "metrics.json").read_text())
    assert {name: value for name, value in result.items() if name != "files"} == written
    for name in SCALARS:
        assert name in written
    assert written["settings"]["k"] == 3 and written["n_units"] == 16
    with xr.open_dataset(run / "analysis" / "activity.nc", engine="h5netcdf") as activity:
        assert activity["rate"].dims == ("interval", "time", "unit") and activity.sizes["unit"] == 16
    names = {
        "variance_explained", "pc_trajectories_2d", "pc_trajectories_3d", "unit_responses",
        "unit_responses_normalized", "eigenvalues", "scaling_index", *layout.DYNAMICS_FIGURES,
    }
    assert len(written["fixed_points"]["slowest_time_constant_ms"]) == 3  # every context, by default
    for name in names:
        png = run / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(result["files"]) == 2 + len(names)


def test_analyze_run_with_noise_and_without_figures(tmp_path):
    run = _run_dir(tmp_path / "run")
    first = analyze_run(run, noise=True, figures=False, n_trials=2)
    assert first["settings"]["noise"] == "recurrent+cue" and len(first["files"]) == 2
    assert not (run / "figures").exists()
    again = analyze_run(run, noise=True, figures=False, n_trials=2)  # the key comes from train.seed
    assert {k: v for k, v in again.items() if k != "files"} == {k: v for k, v in first.items() if k != "files"}


def test_analyze_run_refuses_bad_input(tmp_path):
    untrained = _run_dir(tmp_path / "untrained", trained=False)
    with pytest.raises(RunDirError, match="holds no trained network"):
        analyze_run(untrained)
    assert not (untrained / "analysis").exists()
    with pytest.raises(RunDirError, match="does not exist"):
        analyze_run(tmp_path / "missing")
    run = _run_dir(tmp_path / "run")
    with pytest.raises(ConfigError, match=r"^k = 17 is not allowed: it must be an integer in \[1, 16\]"):
        analyze_run(run, k=17)
    assert not (run / "analysis").exists()  # refused before any work
