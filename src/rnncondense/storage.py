"""Files of a run: atomic writes, checksummed safetensors weights, JSON, CSV and run directories.

Nothing here unpickles. Weights and checkpoints are safetensors files whose JSON header carries
`format = "rnncondense"`, a `kind` (params, checkpoint, ...), the SHA-256 of every tensor's
name, dtype, shape and bytes and the SHA-256 of the JSON metadata, both checked on load.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any, Iterable

import jax
import numpy as np
import safetensors.numpy
import tomli_w

from rnncondense import layout
from rnncondense.dirlock import is_lock_file
from rnncondense.errors import FileFormatError, RunDirError
from rnncondense.rnn import Params

FORMAT = "rnncondense"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 100 * 1024 * 1024
_UMASK = os.umask(0)
os.umask(_UMASK)


# ------------------------------------------------------------------------------ atomic writes


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{TEMPORARY_TAG}", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename is None:  # write() and fsync() name no file: say which (a full disk, say)
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# the temporary files of `atomic_write_bytes`: .NAME.rnncondense-partial-XXXXXXXX.tmp (mkstemp's 8
# random characters). A user's file named like .notes.abcdefgh.tmp was once taken for one and
# deleted by `train --out`; the tag makes the name one that only this package writes.
TEMPORARY_TAG = "rnncondense-partial-"
_TEMPORARY = re.compile(r"^\..+\." + re.escape(TEMPORARY_TAG) + r"[A-Za-z0-9_]{8}\.tmp$")


def is_temporary(path: str | Path) -> bool:
    """Whether `path` is named like the temporary file of an interrupted atomic write."""
    return bool(_TEMPORARY.match(Path(path).name))


def remove_stale_temporaries(directory: str | Path, *, recursive: bool = False) -> list[Path]:
    """Delete the temporary files that interrupted atomic writes left in `directory` (and, with
    `recursive`, below it); returns them. Only the process that holds the directory's lock
    (`dirlock`) may call this: a temporary of a write in progress elsewhere would be removed too."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for path in directory.rglob(".*.tmp") if recursive else directory.glob(".*.tmp"):
        if is_temporary(path) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def holds_nothing(directory: str | Path) -> bool:
    """Whether `directory` exists and holds nothing but temporaries of interrupted atomic writes
    (what a process killed before it wrote its first file leaves) and its lock file (`dirlock`)."""
    directory = Path(directory)
    return directory.is_dir() and all((is_temporary(p) or is_lock_file(p)) and p.is_file() for p in directory.iterdir())


def _json_safe(value: Any) -> Any:
    """NaN and inf become null; numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2, allow_nan=False) + "\n")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (this project writes NaN and inf as null)")


def read_json(path: str | Path, *, top: type | None = dict) -> Any:
    """Parse a JSON file strictly: NaN, Infinity and -Infinity are refused, and so is a top-level
    value that is not of type `top` (default: an object; None allows any).

    Raises:
        FileFormatError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FileFormatError(f"{path}: not a valid JSON file ({_one_line(error)})") from None
    except OSError as error:
        raise FileFormatError(f"{path}: cannot be read ({error.strerror or error})") from None
    if top is not None and not isinstance(data, top):
        raise FileFormatError(f"{path}: holds a JSON {_json_type(data)} at the top, expected {_json_type(top())}")
    return data


NUMBER = (int, float)  # bool is refused unless a kind lists it
OPTIONAL_NUMBER = (int, float, type(None))


def check_entries(path: str | Path, data: dict, required: dict[str, type | tuple[type, ...]]) -> None:
    """Refuse `data` (read from `path`) unless each `required` entry has one of its types.

    Raises:
        FileFormatError: one line naming the file, the entry, its value and what is allowed.
    """
    for key, kinds in required.items():
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        value = data.get(key)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise FileFormatError(f"{path}: {key} = {value!r:.60} is not allowed: expected {_describe(kinds)}")


def _describe(kinds: tuple[type, ...]) -> str:
    names = ["a number" if k is float else "null" if k is type(None) else k.__name__
             for k in kinds if not (k is int and float in kinds)]
    return " or ".join(names)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 160 else text[:157] + "..."


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """Rows of dicts to CSV; missing values are written empty, floats in full precision."""
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def write_toml(path: str | Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, tomli_w.dumps(data))


def write_netcdf(path: str | Path, dataset: Any) -> Path:
    """Write an xarray Dataset as NetCDF-4 (h5netcdf engine), atomically.

    Inside a Dask worker xarray would take a cluster-wide lock named after the target, which
    fails for an in-memory write; the data are in memory, so they are written with the
    synchronous scheduler and a local lock.
    """
    import dask

    with dask.config.set(scheduler="synchronous"):
        data = bytes(dataset.to_netcdf(engine="h5netcdf"))
    atomic_write_bytes(path, data)
    return Path(path)


# ------------------------------------------------------------------------------ tensors


def _checksum(tensors: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = np.asarray(tensors[name], order="C")
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_tensors(path: str | Path, tensors: dict[str, np.ndarray], *, kind: str, meta: dict | None = None) -> None:
    """Save named arrays as safetensors with a checksum and JSON metadata, atomically."""
    tensors = {name: np.asarray(value, order="C") for name, value in tensors.items()}
    meta_text = json.dumps(_json_safe(meta or {}), allow_nan=False)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "sha256": _checksum(tensors),
        "meta": meta_text,
        "meta_sha256": hashlib.sha256(meta_text.encode()).hexdigest(),
    }
    atomic_write_bytes(path, safetensors.numpy.save(tensors, metadata=header))


def _read_header(path: Path, data: bytes) -> dict:
    if len(data) < 8:
        raise FileFormatError(f"{path}: truncated file ({len(data)} bytes), not a weights file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise FileFormatError(f"{path}: not a safetensors file or truncated (header of {size} bytes)")
    try:
        header = json.loads(data[8 : 8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise FileFormatError(f"{path}: corrupt safetensors header") from None
    if not isinstance(header, dict):
        raise FileFormatError(f"{path}: corrupt safetensors header")
    return header


def load_tensors(path: str | Path, *, kind: str) -> tuple[dict[str, np.ndarray], dict]:
    """Load a file written by `save_tensors`, checking its format, kind and checksum."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected a {kind} file") from None
    except OSError as error:
        raise FileFormatError(f"{path}: cannot be read ({error.strerror or error})") from None
    header = _read_header(path, data)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise FileFormatError(f"{path}: not an rnncondense file (written by another program)")
    if metadata.get("kind") != kind:
        raise FileFormatError(f"{path}: holds '{metadata.get('kind')}', expected '{kind}'")
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as error:  # the Rust reader raises its own error type
        raise FileFormatError(f"{path}: corrupt or truncated tensor data ({error})") from None
    if _checksum(tensors) != metadata.get("sha256"):
        raise FileFormatError(f"{path}: checksum mismatch, the file is corrupt")
    meta_text = metadata.get("meta", "{}")
    if "meta_sha256" in metadata and (
        not isinstance(meta_text, str) or hashlib.sha256(meta_text.encode()).hexdigest() != metadata["meta_sha256"]
    ):
        raise FileFormatError(f"{path}: checksum mismatch in the metadata, the file is corrupt")
    try:
        meta = json.loads(meta_text, parse_constant=_refuse_constant)
    except (TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path}: corrupt metadata")
    return tensors, meta


# ------------------------------------------------------------------------------ pytrees and params


def pytree_to_tensors(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """Flatten a pytree of arrays into {prefix/path: array}."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {f"{prefix}{jax.tree_util.keystr(path)}": np.asarray(leaf) for path, leaf in leaves}


def tensors_to_pytree(template: Any, tensors: dict[str, np.ndarray], prefix: str, source: Path) -> Any:
    """Fill the structure of `template` from `tensors`, checking every name, shape and dtype."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    filled = []
    for path, leaf in leaves:
        name = f"{prefix}{jax.tree_util.keystr(path)}"
        if name not in tensors:
            raise FileFormatError(f"{source}: missing tensor '{name}'")
        value = tensors[name]
        expected = np.asarray(leaf)
        if value.shape != expected.shape or value.dtype != expected.dtype:
            raise FileFormatError(
                f"{source}: tensor '{name}' has shape {value.shape} {value.dtype}, "
                f"expected {expected.shape} {expected.dtype}"
            )
        filled.append(jax.numpy.asarray(value))
    return jax.tree_util.tree_unflatten(treedef, filled)


def params_from_tensors(tensors: dict[str, np.ndarray], source: Path, prefix: str = "") -> Params:
    """Params from tensors named W_rec, W_in, ..., checking that their shapes agree."""
    missing = [f for f in Params._fields if prefix + f not in tensors]
    if missing:
        raise FileFormatError(f"{source}: missing tensors {', '.join(prefix + m for m in missing)}")
    p = {f: np.asarray(tensors[prefix + f]) for f in Params._fields}
    n = p["W_rec"].shape[0] if p["W_rec"].ndim == 2 else -1
    n_out = p["W_out"].shape[0] if p["W_out"].ndim == 2 else -1
    expected = {
        "W_rec": (n, n),
        "W_in": (n, p["W_in"].shape[-1] if p["W_in"].ndim == 2 else -1),
        "b": (n,),
        "W_out": (n_out, n),
        "b_out": (n_out,),
        "x0": (n,),
    }
    for field, shape in expected.items():
        if p[field].shape != shape or min(shape) < 1:
            raise FileFormatError(f"{source}: tensor '{prefix + field}' has shape {p[field].shape}, expected {shape}")
        if not np.issubdtype(p[field].dtype, np.floating):
            raise FileFormatError(f"{source}: tensor '{prefix + field}' has dtype {p[field].dtype}, expected float")
        if not np.all(np.isfinite(p[field])):
            raise FileFormatError(f"{source}: tensor '{prefix + field}' contains NaN or inf")
    return Params(**{f: jax.numpy.asarray(v) for f, v in p.items()})


def save_params(path: str | Path, params: Params, meta: dict | None = None) -> None:
    save_tensors(path, {f: np.asarray(v) for f, v in params._asdict().items()}, kind="params", meta=meta)


def load_params(path: str | Path) -> tuple[Params, dict]:
    path = Path(path)
    tensors, meta = load_tensors(path, kind="params")
    return params_from_tensors(tensors, path), meta


# ------------------------------------------------------------------------------ run directories


def prepare_new_run_dir(path: str | Path) -> Path:
    """A directory for a new run: it must not exist or be empty, so nothing is overwritten."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out '{path}' exists and is not a directory")
    if holds_nothing(path):  # a run killed before its first file: start it again
        remove_stale_temporaries(path)
    if path.is_dir() and not holds_nothing(path):
        if (path / layout.CONFIG_FILE).exists():
            raise RunDirError(f"--out '{path}' already holds a run; continue it with --resume or choose another directory")
        raise RunDirError(f"--out '{path}' is not empty; choose a new or empty directory")
    return path


def require_run_dir(path: str | Path, *, trained: bool = True) -> Path:
    """Check that `path` is a run directory (and, if `trained`, holds trained parameters)."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"run directory '{path}' does not exist")
    if not (path / layout.CONFIG_FILE).is_file():
        raise RunDirError(f"'{path}' is not a run directory (no {layout.CONFIG_FILE})")
    if trained and not (path / layout.PARAMS_FILE).is_file():
        raise RunDirError(f"'{path}' holds no trained network (no {layout.PARAMS_FILE}); train it first")
    return path


def safe_child(run_dir: str | Path, name: str) -> Path:
    """`run_dir / name`, refusing names that would escape the run directory."""
    root = Path(run_dir).resolve()
    child = (root / name).resolve()
    if child != root and root not in child.parents:
        raise RunDirError(f"path '{name}' escapes the run directory '{run_dir}'")
    return child


def read_rows(path: str | Path, *, required: Iterable[str] = ()) -> list[dict[str, str]]:
    """The rows of a CSV file as dicts of strings, checking that it has the `required` columns.

    Raises:
        FileFormatError: the file is missing, not UTF-8 CSV, or lacks a required column.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a directory, expected a CSV file") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise FileFormatError(f"{path}: not a valid CSV file ({_one_line(error)})") from None
    missing = [name for name in required if name not in columns]
    if missing:
        raise FileFormatError(f"{path}: lacks the column(s) {', '.join(missing)}; not a file this program wrote")
    return rows
