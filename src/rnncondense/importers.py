"""Networks trained elsewhere, read into Params and the [model] settings that run them the same way.

Formats (`FORMATS`), each a pure reader from a file to an `Imported`:

    psychrnn        PsychRNN 1.0 `Basic`, saved by `model.save(path)` (np.savez). Current form,
                    x_t = (1 - a) x_{t-1} + a (W_rec f(x_{t-1}) + W_in u_t + b_rec) + noise,
                    z_t = W_out f(x_t) + b_out, x_{-1} = init_state; f is relu unless told (the
                    file holds the transfer function only as a pickled object, never read), a = dt / tau.
                    The weights are masked as PsychRNN's `get_effective_W_*` do on loading:
                    W_rec * rec_connectivity, W_in * input_connectivity, W_out * output_connectivity,
                    and with Dale's law on: |W_rec| Dale_rec, |W_in|, |W_out| Dale_out. The file
                    already holds effective weights and masking is idempotent, so this is the
                    network PsychRNN itself runs after `load_weights_path`. Dale's law is on when
                    `dale_ratio` is a number; PsychRNN writes None as a pickled object array, which
                    is therefore read as "off" without ever being unpickled.
                    PsychRNN's noise is sqrt(2 a) rec_noise xi: give sigma_rec = sqrt(2) rec_noise.
    torch-rnn       a PyTorch `nn.RNN` (one layer, tanh or relu, unidirectional) with a `Linear`
                    readout, state dict saved by `safetensors.torch.save_file`: keys
                    `<rnn>.weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0` and one
                    `<readout>.weight` / `.bias`. Discrete time, h_t = f(W_ih u_t + b_ih + W_hh h_{t-1}
                    + b_hh), b = b_ih + b_hh, h_{-1} = 0.
    neurogym-ctrnn  the CTRNN of NeuroGym's examples (`rnn.input2h`, `rnn.h2h`, readout `fc`, each a
                    Linear with bias): rate form, h_t = (1 - a) h_{t-1} + a relu(input2h(u_t) + h2h(h_{t-1})),
                    b = input2h.bias + h2h.bias, h_{-1} = 0, a = dt / tau (the example's tau is 100 ms).
    arrays          plain arrays in .npz or .safetensors named as Params: W_rec (N, N), W_in (N, I),
                    W_out (O, N), and optionally b (N,), b_out (O,), x0 (N,) (zero when absent);
                    form and nonlinearity are options.

Every file is read without unpickling: .npz members are parsed with numpy.lib.format, and a member
whose dtype holds Python objects is recorded by name and never read; safetensors are read with
safetensors.numpy (never torch). Any missing array, wrong shape or non-finite value is refused as a
FileFormatError naming the field and the expected shape.
"""

from __future__ import annotations

import math
import re
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rnncondense.errors import FileFormatError, shown
from rnncondense.rnn import FORMS, NONLINEARITIES, Dynamics, Params

FORMATS: tuple[str, ...] = ("psychrnn", "torch-rnn", "neurogym-ctrnn", "arrays")
PSYCHRNN_DEFAULT_TRANSFER = "relu"  # PsychRNN's default transfer function (tf.nn.relu)
NEUROGYM_TAU_MS = 100.0  # the tau of NeuroGym's CTRNN example
# reader options per format, and the command-line flag of each
OPTIONS: dict[str, tuple[str, ...]] = {
    "psychrnn": ("dt_ms", "tau_ms", "transfer", "sigma_rec"),
    "torch-rnn": ("dt_ms", "transfer", "sigma_rec"),
    "neurogym-ctrnn": ("dt_ms", "tau_ms", "transfer", "sigma_rec"),
    "arrays": ("form", "dt_ms", "tau_ms", "transfer", "sigma_rec"),
}
_OPTION_FLAGS = {"dt_ms": "--dt", "tau_ms": "--tau", "transfer": "--transfer", "sigma_rec": "--sigma-rec", "form": "--form"}
_TORCH_RNN_KEY = re.compile(r"(weight|bias)_(ih|hh)_l\d+(_reverse)?$")


class Imported(NamedTuple):
    """A network read from another package's file."""

    params: Params  # float32 arrays
    dynamics: Dynamics  # update form and nonlinearity
    alpha: float  # dt / tau (1 in discrete time)
    model: dict[str, Any]  # [model] fields: n_units, tau_ms, form, nonlinearity, sigma_rec
    dt_ms: float  # the time step the network runs at
    ignored: tuple[str, ...]  # members of the file that were not read (pickled objects)

    def summary(self) -> str:
        n, n_in, n_out = self.params.W_rec.shape[0], self.params.W_in.shape[1], self.params.W_out.shape[0]
        return (
            f"{n} units, {n_in} inputs, {n_out} outputs, form {self.dynamics.form}, "
            f"nonlinearity {self.dynamics.nonlinearity}, alpha {self.alpha:g} (dt {self.dt_ms:g} ms, "
            f"tau {self.model['tau_ms']:g} ms)"
        )


# ------------------------------------------------------------------------------ reading files


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The numeric arrays of an .npz, and the names of members holding Python objects (never read)."""
    arrays: dict[str, np.ndarray] = {}
    objects: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                name = member[: -len(".npy")]
                with archive.open(member) as stream:
                    version = np.lib.format.read_magic(stream)
                    if version == (1, 0):
                        _, _, dtype = np.lib.format.read_array_header_1_0(stream)
                    elif version in ((2, 0), (3, 0)):
                        _, _, dtype = np.lib.format.read_array_header_2_0(stream)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                    if dtype.hasobject:
                        objects.append(name)
                        continue
                with archive.open(member) as stream:
                    arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected an .npz file") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise FileFormatError(f"{path}: not a readable .npz file ({error})") from None
    return arrays, tuple(objects)


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    import safetensors.numpy

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected a .safetensors file") from None
    try:
        return dict(safetensors.numpy.load(data))
    except Exception as error:  # the Rust reader raises its own error type
        raise FileFormatError(f"{path}: not a readable safetensors file ({error})") from None


def read_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """Numeric arrays of an .npz or .safetensors file (by its content), and the object members skipped."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(4)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected an .npz or .safetensors file") from None
    if head.startswith(b"PK"):
        return _read_npz(path)
    return _read_safetensors(path), ()


# ------------------------------------------------------------------------------ checking arrays


def _pick(path: Path, arrays: dict[str, np.ndarray], name: str, expected: str) -> np.ndarray:
    """arrays[name] as float64, refusing a missing, non-numeric or non-finite one."""
    if name not in arrays:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise FileFormatError(f"{path}: missing array '{name}' (expected shape {expected}); found: {shown(found, 200)}")
    array = arrays[name]
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise FileFormatError(f"{path}: array '{name}' has dtype {array.dtype}, expected float (shape {expected})")
    array = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise FileFormatError(f"{path}: array '{name}' (shape {expected}) contains NaN or inf")
    return array


def _shaped(path: Path, name: str, array: np.ndarray, shape: tuple[int, ...], expected: str) -> np.ndarray:
    if array.shape != shape:
        raise FileFormatError(f"{path}: array '{name}' has shape {array.shape}, expected {expected} = {shape}")
    return array


def _square(path: Path, name: str, array: np.ndarray) -> int:
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise FileFormatError(f"{path}: array '{name}' has shape {array.shape}, expected (N, N)")
    return array.shape[0]


def _matrix(path: Path, name: str, array: np.ndarray, rows: int | None, cols: int | None, expected: str) -> np.ndarray:
    ok = array.ndim == 2 and min(array.shape) >= 1
    ok = ok and (rows is None or array.shape[0] == rows) and (cols is None or array.shape[1] == cols)
    if not ok:
        wanted = tuple("?" if d is None else d for d in (rows, cols))
        raise FileFormatError(f"{path}: array '{name}' has shape {array.shape}, expected {expected} = ({wanted[0]}, {wanted[1]})")
    return array


def _params(W_rec, W_in, b, W_out, b_out, x0, *, source: Path) -> Params:
    """Params in float32, the package's precision, refusing values beyond its range."""
    import jax.numpy as jnp

    arrays = dict(W_rec=W_rec, W_in=W_in, b=b, W_out=W_out, b_out=b_out, x0=x0)
    for name, array in arrays.items():
        if np.any(np.abs(array) > np.finfo(np.float32).max):
            raise FileFormatError(f"{source}: {name} holds values beyond float32's range (largest {np.abs(array).max():.3g})")
    return Params(**{name: jnp.asarray(array, jnp.float32) for name, array in arrays.items()})


def _check_options(*, dt_ms: float, tau_ms: float, sigma_rec: float) -> None:
    for name, value in (("--dt", dt_ms), ("--tau", tau_ms)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise FileFormatError(f"{name} = {shown(value)} is not allowed: must be a positive number (ms)")
    if not (math.isfinite(sigma_rec) and sigma_rec >= 0):
        raise FileFormatError(f"--sigma-rec = {shown(sigma_rec)} is not allowed: must be a number >= 0")


def _transfer(name: str | None, default: str, allowed: tuple[str, ...] = NONLINEARITIES) -> str:
    name = default if name is None else name
    if name not in allowed:
        raise FileFormatError(f"--transfer = {shown(name)} is not allowed: choose one of {', '.join(allowed)}")
    return name


def _imported(params, dynamics, *, dt_ms, tau_ms, sigma_rec, ignored=()) -> Imported:
    if dynamics.form != "discrete" and dt_ms > tau_ms:
        raise FileFormatError(f"--dt (={dt_ms:g}) must not exceed --tau (={tau_ms:g}): the step dt / tau must be at most 1")
    alpha = 1.0 if dynamics.form == "discrete" else dt_ms / tau_ms
    model = {
        "n_units": int(params.W_rec.shape[0]),
        "tau_ms": float(tau_ms),
        "sigma_rec": float(sigma_rec),
        "form": dynamics.form,
        "nonlinearity": dynamics.nonlinearity,
    }
    return Imported(params, dynamics, alpha, model, float(dt_ms), tuple(ignored))


# ------------------------------------------------------------------------------ the formats


def import_psychrnn(
    path: str | Path,
    *,
    dt_ms: float = 10.0,
    tau_ms: float = 100.0,
    transfer: str | None = None,
    sigma_rec: float = 0.0,
) -> Imported:
    """A PsychRNN `Basic` network from its `model.save` .npz (see the module docstring); its noise
    rec_noise is sigma_rec = sqrt(2) rec_noise here."""
    path = Path(path)
    _check_options(dt_ms=dt_ms, tau_ms=tau_ms, sigma_rec=sigma_rec)
    dynamics = Dynamics("current", _transfer(transfer, PSYCHRNN_DEFAULT_TRANSFER))
    arrays, objects = read_arrays(path)
    W_rec = _pick(path, arrays, "W_rec", "(N_rec, N_rec)")
    n = _square(path, "W_rec", W_rec)
    W_in = _matrix(path, "W_in", _pick(path, arrays, "W_in", "(N_rec, N_in)"), n, None, "(N_rec, N_in)")
    W_out = _matrix(path, "W_out", _pick(path, arrays, "W_out", "(N_out, N_rec)"), None, n, "(N_out, N_rec)")
    n_in, n_out = W_in.shape[1], W_out.shape[0]
    b_rec = _shaped(path, "b_rec", _pick(path, arrays, "b_rec", "(N_rec,)"), (n,), "(N_rec,)")
    b_out = _shaped(path, "b_out", _pick(path, arrays, "b_out", "(N_out,)"), (n_out,), "(N_out,)")
    init_state = _pick(path, arrays, "init_state", "(1, N_rec)")
    if init_state.shape not in ((1, n), (n,)):
        raise FileFormatError(f"{path}: array 'init_state' has shape {init_state.shape}, expected (1, N_rec) = (1, {n})")
    masks = {
        "rec_connectivity": ((n, n), "(N_rec, N_rec)"),
        "input_connectivity": ((n, n_in), "(N_rec, N_in)"),
        "output_connectivity": ((n_out, n), "(N_out, N_rec)"),
    }
    mask = {
        name: _shaped(path, name, _pick(path, arrays, name, text), shape, text) if name in arrays else np.ones(shape)
        for name, (shape, text) in masks.items()
    }
    W_rec, W_in, W_out = W_rec * mask["rec_connectivity"], W_in * mask["input_connectivity"], W_out * mask["output_connectivity"]
    dale_ratio = None
    if "dale_ratio" in arrays:
        value = _pick(path, arrays, "dale_ratio", "(), a number in [0, 1]")
        if value.size != 1 or not 0 <= float(value.reshape(())) <= 1:
            raise FileFormatError(f"{path}: array 'dale_ratio' = {shown(value.tolist())} is not allowed: a number in [0, 1]")
        dale_ratio = float(value.reshape(()))
    if dale_ratio is not None:
        dale_rec = _shaped(path, "Dale_rec", _pick(path, arrays, "Dale_rec", "(N_rec, N_rec)"), (n, n), "(N_rec, N_rec)")
        dale_out = _shaped(path, "Dale_out", _pick(path, arrays, "Dale_out", "(N_rec, N_rec)"), (n, n), "(N_rec, N_rec)")
        W_rec, W_in, W_out = np.abs(W_rec) @ dale_rec, np.abs(W_in), np.abs(W_out) @ dale_out
    params = _params(W_rec, W_in, b_rec, W_out, b_out, init_state.reshape(n), source=path)
    return _imported(params, dynamics, dt_ms=dt_ms, tau_ms=tau_ms, sigma_rec=sigma_rec, ignored=objects)


def _ending(path: Path, arrays: dict[str, np.ndarray], suffix: str, expected: str) -> str:
    """The one key of `arrays` that is `suffix` or ends in `.suffix`."""
    keys = [k for k in arrays if k == suffix or k.endswith("." + suffix)]
    if len(keys) == 1:
        return keys[0]
    if not keys:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise FileFormatError(f"{path}: missing array '*{suffix}' (expected shape {expected}); found: {shown(found, 200)}")
    raise FileFormatError(f"{path}: several arrays end in '{suffix}' ({', '.join(sorted(keys))}); expected one network")


def import_torch_rnn(path: str | Path, *, transfer: str | None = None, sigma_rec: float = 0.0, dt_ms: float = 10.0) -> Imported:
    """A one-layer PyTorch nn.RNN with a Linear readout, from a safetensors state dict."""
    path = Path(path)
    _check_options(dt_ms=dt_ms, tau_ms=dt_ms, sigma_rec=sigma_rec)
    dynamics = Dynamics("discrete", _transfer(transfer, "tanh", ("tanh", "relu")))
    arrays, _ = read_arrays(path)
    recurrent = [k for k in arrays if _TORCH_RNN_KEY.search(k)]
    extra = sorted(k for k in recurrent if not k.endswith("_l0"))
    if extra:
        raise FileFormatError(f"{path}: holds {', '.join(extra)}: only a one-layer, unidirectional nn.RNN can be imported")
    keys = {name: _ending(path, arrays, name, shape) for name, shape in (
        ("weight_ih_l0", "(N, I)"), ("weight_hh_l0", "(N, N)"), ("bias_ih_l0", "(N,)"), ("bias_hh_l0", "(N,)"))}
    W_hh = _pick(path, arrays, keys["weight_hh_l0"], "(N, N)")
    n = _square(path, keys["weight_hh_l0"], W_hh)
    W_ih = _matrix(path, keys["weight_ih_l0"], _pick(path, arrays, keys["weight_ih_l0"], "(N, I)"), n, None, "(N, I)")
    b_ih = _shaped(path, keys["bias_ih_l0"], _pick(path, arrays, keys["bias_ih_l0"], "(N,)"), (n,), "(N,)")
    b_hh = _shaped(path, keys["bias_hh_l0"], _pick(path, arrays, keys["bias_hh_l0"], "(N,)"), (n,), "(N,)")
    readout = sorted(k for k in arrays if k not in recurrent and (k == "weight" or k.endswith(".weight")))
    if len(readout) != 1:
        raise FileFormatError(
            f"{path}: expected one Linear readout '<name>.weight' (O, N) beside the RNN, found {', '.join(readout) or 'none'}"
        )
    W_out = _matrix(path, readout[0], _pick(path, arrays, readout[0], "(O, N)"), None, n, "(O, N)")
    bias_key = readout[0][: -len("weight")] + "bias"
    b_out = _shaped(path, bias_key, _pick(path, arrays, bias_key, "(O,)"), (W_out.shape[0],), "(O,)")
    params = _params(W_hh, W_ih, b_ih + b_hh, W_out, b_out, np.zeros(n), source=path)
    return _imported(params, dynamics, dt_ms=dt_ms, tau_ms=dt_ms, sigma_rec=sigma_rec)


def import_neurogym_ctrnn(
    path: str | Path, *, dt_ms: float = 100.0, tau_ms: float = NEUROGYM_TAU_MS, transfer: str | None = None,
    sigma_rec: float = 0.0,
) -> Imported:
    """NeuroGym's example CTRNN (rnn.input2h, rnn.h2h, fc) from a safetensors state dict."""
    path = Path(path)
    _check_options(dt_ms=dt_ms, tau_ms=tau_ms, sigma_rec=sigma_rec)
    dynamics = Dynamics("rate", _transfer(transfer, "relu"))
    arrays, _ = read_arrays(path)
    key = {name: _ending(path, arrays, name, shape) for name, shape in (
        ("input2h.weight", "(N, I)"), ("input2h.bias", "(N,)"), ("h2h.weight", "(N, N)"), ("h2h.bias", "(N,)"),
        ("fc.weight", "(O, N)"), ("fc.bias", "(O,)"))}
    W_hh = _pick(path, arrays, key["h2h.weight"], "(N, N)")
    n = _square(path, key["h2h.weight"], W_hh)
    W_ih = _matrix(path, key["input2h.weight"], _pick(path, arrays, key["input2h.weight"], "(N, I)"), n, None, "(N, I)")
    b_ih = _shaped(path, key["input2h.bias"], _pick(path, arrays, key["input2h.bias"], "(N,)"), (n,), "(N,)")
    b_hh = _shaped(path, key["h2h.bias"], _pick(path, arrays, key["h2h.bias"], "(N,)"), (n,), "(N,)")
    W_out = _matrix(path, key["fc.weight"], _pick(path, arrays, key["fc.weight"], "(O, N)"), None, n, "(O, N)")
    b_out = _shaped(path, key["fc.bias"], _pick(path, arrays, key["fc.bias"], "(O,)"), (W_out.shape[0],), "(O,)")
    params = _params(W_hh, W_ih, b_ih + b_hh, W_out, b_out, np.zeros(n), source=path)
    return _imported(params, dynamics, dt_ms=dt_ms, tau_ms=tau_ms, sigma_rec=sigma_rec)


def import_arrays(
    path: str | Path,
    *,
    form: str = "current",
    transfer: str | None = None,
    dt_ms: float = 10.0,
    tau_ms: float = 100.0,
    sigma_rec: float = 0.0,
) -> Imported:
    """A network from plain arrays named as Params (b, b_out and x0 optional, zero when absent)."""
    path = Path(path)
    _check_options(dt_ms=dt_ms, tau_ms=tau_ms, sigma_rec=sigma_rec)
    if form not in FORMS:
        raise FileFormatError(f"--form = {shown(form)} is not allowed: choose one of {', '.join(FORMS)}")
    dynamics = Dynamics(form, _transfer(transfer, "tanh"))
    arrays, objects = read_arrays(path)
    W_rec = _pick(path, arrays, "W_rec", "(N, N)")
    n = _square(path, "W_rec", W_rec)
    W_in = _matrix(path, "W_in", _pick(path, arrays, "W_in", "(N, I)"), n, None, "(N, I)")
    W_out = _matrix(path, "W_out", _pick(path, arrays, "W_out", "(O, N)"), None, n, "(O, N)")
    n_out = W_out.shape[0]
    optional = {"b": ((n,), "(N,)"), "b_out": ((n_out,), "(O,)"), "x0": ((n,), "(N,)")}
    rest = {
        name: _shaped(path, name, _pick(path, arrays, name, text), shape, text) if name in arrays else np.zeros(shape)
        for name, (shape, text) in optional.items()
    }
    params = _params(W_rec, W_in, rest["b"], W_out, rest["b_out"], rest["x0"], source=path)
    tau = dt_ms if form == "discrete" else tau_ms
    return _imported(params, dynamics, dt_ms=dt_ms, tau_ms=tau, sigma_rec=sigma_rec, ignored=objects)


def import_network(path: str | Path, fmt: str, **options: Any) -> Imported:
    """Read `path` in format `fmt` (one of FORMATS) with that reader's keyword options."""
    readers = {
        "psychrnn": import_psychrnn,
        "torch-rnn": import_torch_rnn,
        "neurogym-ctrnn": import_neurogym_ctrnn,
        "arrays": import_arrays,
    }
    if fmt not in readers:
        raise FileFormatError(f"--format = {shown(fmt)} is not allowed: choose one of {', '.join(FORMATS)}")
    allowed = OPTIONS[fmt]
    for name in options:
        if name not in allowed:
            shown_allowed = ", ".join(_OPTION_FLAGS[a] for a in allowed)
            raise FileFormatError(f"option {_OPTION_FLAGS.get(name, name)} does not apply to format {fmt}; allowed: {shown_allowed}")
    return readers[fmt](path, **options)
