"""Importing networks trained elsewhere: small synthetic files in each format, simulated against the
reference package's equations written out in numpy, and every bad file refused in one line."""

import builtins
import json

import numpy as np
import pytest
import safetensors.numpy
from typer.testing import CliRunner

from rnncondense import layout, rnn, storage
from rnncondense.cli import app
from rnncondense.errors import FileFormatError
from rnncondense.importers import import_arrays, import_network, import_neurogym_ctrnn, import_psychrnn, import_torch_rnn

runner = CliRunner()
N, I, O = 6, 2, 1


class _Bomb:
    """An object whose unpickling writes `marker`: it must never happen."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').write('unpickled')",)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _relu(x):
    return np.maximum(x, 0.0)


def _psychrnn_file(path, marker, *, dale_ratio=None, seed=0):
    """What PsychRNN's model.save writes (np.savez of get_weights), with random masks."""
    rng = _rng(seed)
    arrays = {
        "W_rec": rng.normal(0, 0.5, (N, N)), "W_in": rng.normal(0, 1, (N, I)), "W_out": rng.normal(0, 1, (O, N)),
        "b_rec": rng.normal(0, 0.2, N), "b_out": rng.normal(0, 0.2, O), "init_state": rng.normal(0, 0.5, (1, N)),
        "rec_connectivity": (rng.random((N, N)) < 0.7).astype(float),
        "input_connectivity": (rng.random((N, I)) < 0.8).astype(float),
        "output_connectivity": (rng.random((O, N)) < 0.8).astype(float),
    }
    signs = np.ones(N)
    if dale_ratio is not None:
        signs[int(dale_ratio * N):] = -1
    arrays["Dale_rec"] = np.diag(signs)
    arrays["Dale_out"] = np.diag(np.where(signs > 0, 1.0, 0.0)) if dale_ratio is not None else np.eye(N)
    # None and the transfer function are written as pickled object arrays; a number as a float array
    dale = np.array(_Bomb(marker), dtype=object) if dale_ratio is None else np.array(dale_ratio)
    np.savez(path, **arrays, dale_ratio=dale, transfer_function=np.array(_Bomb(marker), dtype=object))
    return arrays


def _psychrnn_reference(a, inputs, *, alpha, dale):
    """PsychRNN 1.0 Basic with relu, its get_effective_W_* written out in numpy."""
    W_rec, W_in, W_out = a["W_rec"] * a["rec_connectivity"], a["W_in"] * a["input_connectivity"], a["W_out"] * a["output_connectivity"]
    if dale:
        W_rec, W_in, W_out = np.abs(W_rec) @ a["Dale_rec"], np.abs(W_in), np.abs(W_out) @ a["Dale_out"]
    state = np.tile(a["init_state"], (inputs.shape[0], 1))
    outputs = []
    for t in range(inputs.shape[1]):
        state = (1 - alpha) * state + alpha * (_relu(state) @ W_rec.T + inputs[:, t] @ W_in.T + a["b_rec"])
        outputs.append(_relu(state) @ W_out.T + a["b_out"])
    return np.stack(outputs, 1)


def _outputs(imported, inputs):
    return np.asarray(rnn.simulate(imported.params, inputs.astype(np.float32), alpha=imported.alpha, dynamics=imported.dynamics).outputs)


@pytest.mark.parametrize("dale_ratio", [None, 0.5])
def test_psychrnn_masks_dale_and_no_unpickling(tmp_path, dale_ratio):
    marker = tmp_path / "unpickled"
    arrays = _psychrnn_file(tmp_path / "model.npz", marker, dale_ratio=dale_ratio)
    imported = import_psychrnn(tmp_path / "model.npz", dt_ms=10.0, tau_ms=50.0)
    assert not marker.exists()
    assert imported.ignored == (("dale_ratio", "transfer_function") if dale_ratio is None else ("transfer_function",))
    assert imported.dynamics == rnn.Dynamics("current", "relu") and imported.alpha == pytest.approx(0.2)
    inputs = _rng(1).normal(0, 1, (3, 30, I))
    expected = _psychrnn_reference(arrays, inputs, alpha=0.2, dale=dale_ratio is not None)
    np.testing.assert_allclose(_outputs(imported, inputs), expected, atol=1e-5)
    assert np.all(np.asarray(imported.params.W_rec)[arrays["rec_connectivity"] == 0] == 0)
    if dale_ratio is not None:  # excitatory columns >= 0, inhibitory <= 0, inhibitory units do not reach the output
        W = np.asarray(imported.params.W_rec)
        assert (W[:, :3] >= 0).all() and (W[:, 3:] <= 0).all() and not np.asarray(imported.params.W_out)[:, 3:].any()


def test_psychrnn_effective_weights_import_to_the_same_network(tmp_path):
    """PsychRNN saves effective weights and masks again on loading: the masks are idempotent."""
    marker = tmp_path / "unpickled"
    _psychrnn_file(tmp_path / "raw.npz", marker, dale_ratio=0.5)
    first = import_psychrnn(tmp_path / "raw.npz")
    with np.load(tmp_path / "raw.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k not in ("transfer_function",)}
    arrays.update(W_rec=np.asarray(first.params.W_rec), W_in=np.asarray(first.params.W_in), W_out=np.asarray(first.params.W_out))
    np.savez(tmp_path / "effective.npz", **arrays)
    second = import_psychrnn(tmp_path / "effective.npz")
    for a, b in zip(first.params, second.params):
        np.testing.assert_array_equal(a, b)
    assert not marker.exists()


def _torch_rnn_file(path, *, prefix="rnn.", readout="fc.", seed=2, extra=None):
    rng = _rng(seed)
    tensors = {
        f"{prefix}weight_ih_l0": rng.normal(0, 1, (N, I)), f"{prefix}weight_hh_l0": rng.normal(0, 0.4, (N, N)),
        f"{prefix}bias_ih_l0": rng.normal(0, 0.1, N), f"{prefix}bias_hh_l0": rng.normal(0, 0.1, N),
        f"{readout}weight": rng.normal(0, 1, (O, N)), f"{readout}bias": rng.normal(0, 0.1, O),
        **(extra or {}),
    }
    tensors = {k: v.astype(np.float32) for k, v in tensors.items()}
    safetensors.numpy.save_file(tensors, str(path))
    return tensors


@pytest.mark.parametrize("transfer", ["tanh", "relu"])
def test_torch_rnn_matches_the_nn_rnn_equation(tmp_path, transfer):
    t = _torch_rnn_file(tmp_path / "rnn.safetensors")
    imported = import_torch_rnn(tmp_path / "rnn.safetensors", transfer=transfer)
    assert imported.dynamics == rnn.Dynamics("discrete", transfer) and imported.alpha == 1.0
    f = np.tanh if transfer == "tanh" else _relu
    inputs = _rng(3).normal(0, 1, (2, 20, I))
    h, expected = np.zeros((2, N)), []
    for k in range(20):
        h = f(inputs[:, k] @ t["rnn.weight_ih_l0"].T + t["rnn.bias_ih_l0"] + h @ t["rnn.weight_hh_l0"].T + t["rnn.bias_hh_l0"])
        expected.append(h @ t["fc.weight"].T + t["fc.bias"])
    np.testing.assert_allclose(_outputs(imported, inputs), np.stack(expected, 1), atol=1e-5)


def test_neurogym_ctrnn_matches_the_example_equation(tmp_path):
    rng = _rng(4)
    t = {
        "rnn.input2h.weight": rng.normal(0, 1, (N, I)), "rnn.input2h.bias": rng.normal(0, 0.1, N),
        "rnn.h2h.weight": rng.normal(0, 0.4, (N, N)), "rnn.h2h.bias": rng.normal(0, 0.1, N),
        "fc.weight": rng.normal(0, 1, (O, N)), "fc.bias": rng.normal(0, 0.1, O),
    }
    safetensors.numpy.save_file({k: v.astype(np.float32) for k, v in t.items()}, str(tmp_path / "ct.safetensors"))
    imported = import_neurogym_ctrnn(tmp_path / "ct.safetensors", dt_ms=20.0)
    assert imported.dynamics == rnn.Dynamics("rate", "relu") and imported.alpha == pytest.approx(0.2)
    inputs = _rng(5).normal(0, 1, (2, 25, I))
    h, expected = np.zeros((2, N)), []
    for k in range(25):
        new = _relu(inputs[:, k] @ t["rnn.input2h.weight"].T + t["rnn.input2h.bias"] + h @ t["rnn.h2h.weight"].T + t["rnn.h2h.bias"])
        h = h * 0.8 + new * 0.2
        expected.append(h @ t["fc.weight"].T + t["fc.bias"])
    np.testing.assert_allclose(_outputs(imported, inputs), np.stack(expected, 1), atol=1e-5)


def test_plain_arrays_in_npz_and_safetensors(tmp_path):
    rng = _rng(6)
    full = {"W_rec": rng.normal(0, 0.3, (N, N)), "W_in": rng.normal(0, 1, (N, I)), "W_out": rng.normal(0, 1, (O, N)),
            "b": rng.normal(0, 0.1, N), "b_out": rng.normal(0, 0.1, O), "x0": rng.normal(0, 0.1, N)}
    np.savez(tmp_path / "a.npz", **full)
    safetensors.numpy.save_file({k: v.astype(np.float32) for k, v in full.items() if k in ("W_rec", "W_in", "W_out")},
                                str(tmp_path / "a.safetensors"))
    a = import_arrays(tmp_path / "a.npz", form="rate", transfer="softplus", dt_ms=5.0, tau_ms=20.0)
    assert a.dynamics == rnn.Dynamics("rate", "softplus") and a.alpha == pytest.approx(0.25)
    np.testing.assert_allclose(a.params.x0, full["x0"], rtol=1e-6)
    b = import_arrays(tmp_path / "a.safetensors")
    assert b.dynamics == rnn.CURRENT_TANH and not np.asarray(b.params.b).any() and not np.asarray(b.params.x0).any()


@pytest.mark.parametrize(
    "fmt,arrays,expected",
    [
        ("arrays", {"W_in": np.ones((N, I)), "W_out": np.ones((O, N))}, "missing array 'W_rec' (expected shape (N, N))"),
        ("arrays", {"W_rec": np.ones((N, N)), "W_in": np.ones((N + 1, I)), "W_out": np.ones((O, N))},
         "array 'W_in' has shape (7, 2), expected (N, I) = (6, ?)"),
        ("arrays", {"W_rec": np.ones((N, N)), "W_in": np.ones((N, I)), "W_out": np.ones((O, N)), "b": np.ones(N + 2)},
         "array 'b' has shape (8,), expected (N,) = (6,)"),
        ("arrays", {"W_rec": np.full((N, N), np.nan), "W_in": np.ones((N, I)), "W_out": np.ones((O, N))},
         "array 'W_rec' (shape (N, N)) contains NaN or inf"),
        ("arrays", {"W_rec": np.ones((N, N - 1)), "W_in": np.ones((N, I)), "W_out": np.ones((O, N))},
         "array 'W_rec' has shape (6, 5), expected (N, N)"),
        ("arrays", {"W_rec": np.full((N, N), 1e300), "W_in": np.ones((N, I)), "W_out": np.ones((O, N))},
         "W_rec holds values beyond float32's range (largest 1e+300)"),
        ("psychrnn", {"W_rec": np.ones((N, N)), "W_in": np.ones((N, I)), "W_out": np.ones((O, N)), "b_rec": np.ones(N),
                      "b_out": np.ones(O)}, "missing array 'init_state' (expected shape (1, N_rec))"),
        ("psychrnn", {"W_rec": np.ones((N, N)), "W_in": np.ones((N, I)), "W_out": np.ones((O, N)), "b_rec": np.ones(N),
                      "b_out": np.ones(O), "init_state": np.ones((1, N)), "rec_connectivity": np.ones((N, 2))},
         "array 'rec_connectivity' has shape (6, 2), expected (N_rec, N_rec) = (6, 6)"),
        ("torch-rnn", {"rnn.weight_ih_l0": np.ones((N, I))}, "missing array '*weight_hh_l0' (expected shape (N, N))"),
        ("neurogym-ctrnn", {"rnn.input2h.weight": np.ones((N, I))}, "missing array '*input2h.bias' (expected shape (N,))"),
    ],
)
def test_bad_files_are_refused_with_field_and_shape(tmp_path, fmt, arrays, expected):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(FileFormatError) as error:
        import_network(path, fmt)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_other_refusals(tmp_path):
    _torch_rnn_file(tmp_path / "deep.safetensors", extra={"rnn.weight_ih_l1": np.ones((N, N)), "rnn.weight_hh_l1": np.ones((N, N))})
    cases = [
        (lambda: import_network(tmp_path / "x.npz", "keras"), "--format = 'keras' is not allowed: choose one of psychrnn, torch-rnn"),
        (lambda: import_network(tmp_path / "missing.npz", "arrays"), "missing.npz: file not found"),
        (lambda: import_network(tmp_path / "deep.safetensors", "torch-rnn"), "only a one-layer, unidirectional nn.RNN"),
        (lambda: import_network(tmp_path / "deep.safetensors", "torch-rnn", tau_ms=5.0), "option --tau does not apply to format torch-rnn"),
        (lambda: import_network(tmp_path / "deep.safetensors", "torch-rnn", transfer="sigmoid"),
         "--transfer = 'sigmoid' is not allowed: choose one of tanh, relu"),
        (lambda: import_network(tmp_path / "deep.safetensors", "arrays", form="leaky"), "--form = 'leaky' is not allowed"),
    ]
    (tmp_path / "junk.npz").write_bytes(b"PK not really a zip")
    cases.append((lambda: import_network(tmp_path / "junk.npz", "arrays"), "not a readable .npz file"))
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 5)
    cases.append((lambda: import_network(tmp_path / "junk.safetensors", "arrays"), "not a readable safetensors file"))
    for call, expected in cases:
        with pytest.raises(FileFormatError, match=None) as error:
            call()
        assert expected in str(error.value), str(error.value)


def test_cli_import_writes_a_run_that_evaluate_reads(tmp_path):
    marker = tmp_path / "unpickled"
    _psychrnn_file(tmp_path / "model.npz", marker, dale_ratio=None)
    out = tmp_path / "run"
    result = runner.invoke(app, ["import", str(tmp_path / "model.npz"), "--format", "psychrnn", "--out", str(out),
                                 "--dt", "10", "--tau", "100"])
    assert result.exit_code == 0, result.output
    assert "6 units, 2 inputs, 1 outputs, form current, nonlinearity relu, alpha 0.1" in result.stdout
    assert not marker.exists()
    params, meta = storage.load_params(out / layout.PARAMS_FILE)  # checksummed
    assert meta["imported"]["format"] == "psychrnn" and params.W_rec.shape == (N, N)
    metrics = json.loads((out / layout.METRICS_FILE).read_text())
    assert set(metrics) == {"validation", "criterion", "import"} and "timing_rel_error" in metrics["validation"]
    assert metrics["criterion"].startswith("Cue-Set-Go task metrics")
    config = (out / layout.CONFIG_FILE).read_text()
    assert 'form = "current"' in config and 'nonlinearity = "relu"' in config
    result = runner.invoke(app, ["evaluate", str(out), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["analyze", str(out), "--no-figures"])  # the variant is simulated as imported
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--format", "caffe"], "--format = 'caffe' is not allowed"),
        (["--format", "arrays"], "missing array 'W_rec' (expected shape (N, N))"),
        (["--format", "arrays", "--dt", "-1"], "--dt = -1.0 is not allowed: must be a positive number (ms)"),
    ],
)
def test_cli_import_refusals_are_one_line_with_status_2(tmp_path, args, expected):
    np.savez(tmp_path / "w.npz", W_in=np.ones((N, I)))
    result = runner.invoke(app, ["import", str(tmp_path / "w.npz"), "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
