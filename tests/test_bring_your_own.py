"""A task of trials from a file and a model variant through the whole command line: train ->
analyze -> plot -> condense (iterative, judged by --max-mse-increase) -> report, checked against a
numpy simulation of the rate form with relu, and the one-line refusals of what does not apply.

The file is a tiny synthetic task (a pulse to remember, four conditions); the network has 6 units
and trains for a few iterations, so the whole chain takes seconds. The real NeuroGym run is
benchmarks/neurogym_end_to_end.py.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rnncondense import layout, storage
from rnncondense.cli import app
from rnncondense.tasks.arrays import split_trials

runner = CliRunner()
B, T, N = 32, 12, 6
ALPHA = 0.2  # dt 10 ms / tau 50 ms


def _trials(path):
    rng = np.random.default_rng(0)
    condition = np.arange(B) % 4
    amplitude = np.array([-1.0, -0.5, 0.5, 1.0])[condition]
    inputs = np.zeros((B, T, 2))
    inputs[:, 1:3, 0] = amplitude[:, None]
    inputs[:, :, 1] = 1.0
    inputs += 0.05 * rng.standard_normal(inputs.shape)
    targets = np.zeros((B, T, 1))
    targets[:, 6:, 0] = amplitude[:, None]
    mask = np.ones((B, T))
    mask[:, 3:6] = 0.0
    np.savez(path, inputs=inputs, targets=targets, mask=mask, condition=condition)
    return inputs, targets, mask, condition


def _config(path, trials):
    path.write_text(f"""\
[task]
name = "arrays"
path = "{trials}"
dt_ms = 10.0

[model]
n_units = {N}
tau_ms = 50.0
sigma_rec = 0.0
form = "rate"
nonlinearity = "relu"

[train]
trainer = "adam"
max_iters = 10
eval_every = 5
val_noise_repeats = 1

[train.adam]
learning_rate = 0.01
batch_size = 16
""")


def _rate_relu(params, inputs):
    """The rate form with relu in numpy: r_t = (1 - a) r_{t-1} + a relu(W r_{t-1} + W_in u_t + b), z = W_out r + b_out."""
    w, w_in, b, w_out, b_out, x0 = (np.asarray(p, np.float64) for p in params)
    r = np.tile(x0, (inputs.shape[0], 1))
    rates, outputs = [], []
    for t in range(inputs.shape[1]):
        r = (1 - ALPHA) * r + ALPHA * np.maximum(r @ w.T + inputs[:, t] @ w_in.T + b, 0.0)
        rates.append(r)
        outputs.append(r @ w_out.T + b_out)
    return np.stack(rates, 1), np.stack(outputs, 1)


def _one_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("byo")
    arrays = _trials(root / "trials.npz")
    _config(root / "run.toml", root / "trials.npz")
    result = runner.invoke(app, ["train", str(root / "run.toml"), "--out", str(root / "run")])
    assert result.exit_code == 0, result.output
    assert "lowest validation mse" in result.stderr and "output_correlation" in result.stdout
    return root, arrays


def test_train_keeps_the_network_whose_mse_numpy_reproduces(trained):
    root, (inputs, targets, mask, condition) = trained
    run = root / "run"
    metrics = json.loads((run / layout.METRICS_FILE).read_text())
    assert metrics["criterion"].startswith("task-independent")
    validation = metrics["validation"]
    assert validation["success"] is None and validation["timing_rel_error"] is None  # not applicable
    params, _ = storage.load_params(run / layout.PARAMS_FILE)
    _, val = split_trials(condition, 0.25, 0)
    _, outputs = _rate_relu(params, inputs[val])
    expected = (mask[val] * ((outputs - targets[val]) ** 2).sum(-1)).sum() / mask[val].sum()
    assert validation["mse"] == pytest.approx(expected, rel=1e-4)
    history = storage.read_rows(run / layout.HISTORY_FILE)
    validated = [float(row["val_mse"]) for row in history if row.get("val_mse") not in (None, "")]
    assert validation["mse"] == pytest.approx(min(validated), rel=1e-4)  # the best validated network is kept


def test_analyze_and_plot_report_timing_metrics_as_not_applicable(trained):
    root, (inputs, _, _, condition) = trained
    run = root / "run"
    result = runner.invoke(app, ["analyze", str(run), "--k", "2"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("not applicable") >= 2
    numbers = json.loads((run / layout.ANALYSIS_DIR / layout.ANALYSIS_METRICS_FILE).read_text())
    assert numbers["scaling_index"] is None and numbers["ramp_fraction"] is None and numbers["produced_ms"] is None
    assert {"scaling_index", "ramp_fraction", "produced_ms"} <= set(numbers["not_applicable"])
    # the condition means of the rate form with relu, and their PCA, from numpy
    params, _ = storage.load_params(run / layout.PARAMS_FILE)
    rates, _ = _rate_relu(params, inputs)
    means = np.stack([rates[condition == c].mean(0) for c in range(4)]).reshape(-1, N)
    variance = np.linalg.svd(means - means.mean(0), compute_uv=False) ** 2
    assert numbers["participation_ratio"] == pytest.approx(variance.sum() ** 2 / (variance**2).sum(), rel=1e-3)
    assert numbers["pcs_90"] == int(np.searchsorted(np.cumsum(variance) / variance.sum(), 0.9 - 1e-12) + 1)
    result = runner.invoke(app, ["plot", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / layout.FIGURES_DIR / layout.figure_file("task")).is_file()
    result = runner.invoke(app, ["compare", str(run), str(run), "--k", "2", "--n-delays", "2", "--rank", "2"])
    assert result.exit_code == 0, result.output  # a network against itself: identical geometry and dynamics
    row = next(line for line in result.stdout.splitlines() if "Procrustes" in line)
    assert "1.000" in row


def test_condense_iteratively_by_the_mse_criterion_and_report(trained):
    root, _ = trained
    out = root / "condense"
    result = runner.invoke(app, ["condense", str(root / "run"), "--out", str(out), "--pairs", "2", "--target", "4",
                                 "--k", "2", "--retrain-iters", "5", "--max-mse-increase", "0.5"])
    assert result.exit_code == 0, result.output
    assert "max_mse_increase 0.5" in result.stderr
    summary = json.loads((out / layout.CONDENSE_RESULT_FILE).read_text())
    records = [json.loads(p.read_text()) for p in sorted((out / layout.STEPS_DIR).glob("step_*/record.json"))]
    assert [r["n_units"] for r in records] == [6, 4]
    limit = 1.5 * records[0]["mse"]
    assert "task-independent" in summary["criterion"] and f"{limit:.3g}" in summary["criterion"]
    for record in records:  # "the task is kept" is exactly the stated threshold
        assert record["success"] == (record["mse"] <= limit)
        assert record["scaling_index"] is None and record["timing_rel_error"] is None
        assert record["output_correlation"] is not None
    assert records[0]["similarity_procrustes"] == pytest.approx(1.0, abs=1e-6)  # the original against itself
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / layout.REPORT_FILE).read_text()
    assert "max_mse_increase 0.5" in page and "n/a" in page and "missing figure" not in page
    result = runner.invoke(app, ["report", str(root / "run")])
    assert result.exit_code == 0, result.output
    page = (root / "run" / layout.REPORT_FILE).read_text()
    assert "task-independent metrics" in page and "missing figure" not in page


def test_what_does_not_apply_is_refused_in_one_line(trained):
    root, _ = trained
    run = root / "run"
    line = _one_line(runner.invoke(app, ["condense", str(run), "--out", str(root / "p"), "--method", "preserving"]))
    assert "method = 'preserving' is not allowed for task.name = 'arrays'" in line
    assert not (root / "p").exists()
    line = _one_line(runner.invoke(app, ["condense", str(run), "--out", str(root / "m"), "--max-mse-increase", "-1"]))
    assert "max_mse_increase" in line and "-1" in line
    _config(root / "gone.toml", root / "gone.npz")  # a task whose file of trials does not exist
    line = _one_line(runner.invoke(app, ["train", str(root / "gone.toml"), "--out", str(root / "g")]))
    assert str(root / "gone.npz") in line and "not found" in line
    assert not (root / "g").exists()


def _cue_set_go_variant(n=5, seed=1):
    import jax

    from rnncondense.config import config_from_dict
    from rnncondense.rnn import Params

    config = config_from_dict({"model": {"n_units": n, "form": "rate", "nonlinearity": "relu", "sigma_rec": 0.0},
                               "task": {"intervals_ms": [500.0, 700.0]}})
    rng = np.random.default_rng(seed)
    params = Params(*(jax.numpy.asarray(a, jax.numpy.float32) for a in (
        rng.normal(0, 0.4, (n, n)), rng.uniform(-1, 1, (n, 2)), rng.normal(0, 0.1, n), rng.normal(0, 1, (1, n)),
        np.array([0.1]), rng.uniform(0, 0.2, n))))
    return config, params


def test_cue_set_go_activity_simulates_the_variant():
    """The Set-aligned activity that analyze, condense and compare use runs the network's own form
    and nonlinearity: the rate form with relu, against numpy."""
    import jax.numpy as jnp

    from rnncondense.analysis.activity import condition_activity
    from rnncondense.tasks import make_task

    global ALPHA
    config, params = _cue_set_go_variant()
    task = make_task(config.task)
    activity = condition_activity(params, config, n_trials=1)  # one trial per interval, the shortest delay
    delay = int(round(config.task.set_delay_ms[0] / config.task.dt_ms))
    batch = task.trials(jnp.arange(2), jnp.full((2,), delay, jnp.int32))
    saved, ALPHA = ALPHA, config.alpha
    try:
        rates, _ = _rate_relu(params, np.asarray(batch.inputs, np.float64))
    finally:
        ALPHA = saved
    offsets = np.rint(activity["time"].values / config.task.dt_ms).astype(int)
    for c in range(2):
        set_step = int(round(float(batch.set_time_ms[c]) / config.task.dt_ms))
        np.testing.assert_allclose(activity["rate"].values[c], rates[c, set_step + offsets], rtol=1e-4, atol=1e-5)


def test_max_mse_increase_judges_cue_set_go_by_mse_too():
    """--max-mse-increase replaces Cue-Set-Go's timing success by the stated mse threshold."""
    from rnncondense.analysis.behavior import evaluate
    from rnncondense.condense.config import CondenseConfig
    from rnncondense.condense.schedules import Context

    config, params = _cue_set_go_variant()
    context = Context.create(config, CondenseConfig(max_mse_increase=0.1, k=2), params)
    import jax

    k_eval = jax.random.fold_in(jax.random.PRNGKey(0), 2**31 - 1)
    reference = evaluate(params, make_task_of(config), alpha=config.alpha, sigma_rec=0.0, key=k_eval,
                         repeats=config.train.val_noise_repeats, dynamics=config.dynamics).mse
    assert context.criterion.reference_mse == pytest.approx(reference, rel=1e-6)
    assert context.evaluate(params).success is True  # mse <= 1.1 x its own
    worse = params._replace(b_out=params.b_out + 10.0)  # output shifted by 10: mse grows by about 100
    judged = context.evaluate(worse)
    assert judged.mse > 1.1 * reference and judged.success is False
    assert "max_mse_increase 0.1" in context.describe_criterion()


def make_task_of(config):
    from rnncondense.tasks import make_task

    return make_task(config.task)


def test_a_sweep_network_on_trials_trains_and_analyses(trained, tmp_path):
    """One network of a sweep (what a Dask worker runs) on a task of trials: its result holds the
    task-independent metrics and the solution type with what does not apply as null."""
    from rnncondense.config import load_config
    from rnncondense.runs.sweep_network import train_network
    from rnncondense.sweep import make_spec

    root, _ = trained
    config = load_config(root / "run.toml")
    config = config.model_copy(update={"train": config.train.model_copy(update={"stop_on_success": False, "max_iters": 5})})
    (job,) = make_spec(config, sizes=[4], seeds=1).jobs
    result = train_network(job, tmp_path / job.name)
    assert result["status"] == "done" and result["size"] == 4
    assert result["task"]["output_correlation"] is not None and result["task"]["timing_rel_error"] is None
    assert result["solution"]["scaling_index"] is None and result["solution"]["pcs_90"] >= 1
