"""Text files that a later command trusts, tied to the weights they describe.

A run's `config.toml` and `metrics.json` and a condensation step's `record.json` are plain text a
user can edit. An edit (sigma_rec 0.05 -> 0.04 in config.toml, a step's success flipped in
record.json) used to be accepted by evaluate, analyze, plot, condense and report, which then gave
other numbers for the same weights. The weights file is written with the SHA-256 of each such
record in its safetensors metadata (`storage.save_tensors(meta=...)`, itself checksummed); a reader
compares the record it read with that digest and refuses an edited one by name (`check`).

What is digested is the record's content, not its bytes: the resolved config (`config_digest`,
as the checkpoint already does for --resume) and the JSON value as read back (`json_digest`), so
reformatting or a comment added to config.toml is accepted and any changed value is not.

Files written before the digests existed (no entry in the metadata) are accepted without a check:
refusing them would strand every earlier run, and the checksums of the weights still hold.

Records written where no weights are written (a run's analysis/metrics.json and activity.nc, a
condensation's condense.json, summary.csv and result.json, a sweep's sweep.json, results.csv and
results.nc and each network's result.json and attempt.json, a study's study.json, a circuit's
summary.json) carry a checksummed sidecar instead: NAME.sha256 beside NAME (`layout.SIDECAR_SUFFIX`),
one line "<sha256 of the bytes>  NAME" as `sha256sum` writes it, so `sha256sum -c NAME.sha256`
checks it too. Their writers go through `write_json`, `write_csv` or `sealed`, their readers through
`read_json`, `read_rows` or `verify`. Here the bytes are digested, not the content: these files are
only ever written by rnncondense, and a user can check them with standard tools. A writer deletes
the old sidecar before it replaces a record and writes the new one after: a process killed in
between leaves a record without a sidecar (accepted unchecked, like an older file), never a record
refused for a change it made itself. A record without a sidecar is accepted for the same reason as
above; deleting the sidecar therefore turns the check off, which is a deliberate act, not a slip of
an editor. therefore turns the check off, which is a deliberate act, not a slip of an editor.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable

from rnncondense.errors import FileFormatError
from rnncondense.layout import SIDECAR_SUFFIX

__all__ = ["CONFIG_KEY", "METRICS_KEY", "RECORD_KEY", "SIDECAR_SUFFIX", "json_digest", "check", "sidecar", "sealed",
           "write_json", "write_csv", "verify", "read_json", "read_rows"]

CONFIG_KEY = "config_sha256"  # of config.toml, in params.safetensors
METRICS_KEY = "metrics_sha256"  # of metrics.json, in params.safetensors
RECORD_KEY = "record_sha256"  # of a condensation step's record.json, in its network.safetensors


def json_digest(data: Any) -> str:
    """SHA-256 of a JSON value as it reads back from a file written by `storage.write_json`
    (NaN and inf written as null, numpy scalars as numbers, keys sorted)."""
    from rnncondense.storage import _json_safe

    text = json.dumps(json.loads(json.dumps(_json_safe(data), allow_nan=False)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def check(record: str | Path, digest: str, meta: dict, key: str, weights: str | Path) -> None:
    """Refuse `record` if the digest `key` that `weights` recorded in its metadata differs from
    `digest` (the digest of the record as read now); no entry there: accepted (an older file).

    Raises:
        FileFormatError: one line naming the record, the weights file and what to do.
    """
    expected = meta.get(key)
    if expected is not None and expected != digest:
        raise FileFormatError(
            f"{record}: changed after {Path(weights).name} was written (its content no longer matches the digest "
            f"recorded with the weights); restore the file, or train again"
        )


# ------------------------------------------------------------------------------ checksummed sidecars


def sidecar(path: str | Path) -> Path:
    """The sidecar that holds the digest of the record `path` (NAME.sha256 beside NAME)."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sealed(path: str | Path, write: Callable[[], Any]) -> Any:
    """Call `write()` (which writes the record `path` atomically) between deleting the record's old
    sidecar and writing its new one; returns what `write` returned."""
    from rnncondense import storage

    path = Path(path)
    sidecar(path).unlink(missing_ok=True)
    result = write()
    storage.atomic_write_text(sidecar(path), f"{_file_digest(path)}  {path.name}\n")
    return result


def write_json(path: str | Path, data: Any) -> None:
    """`storage.write_json` with a sidecar."""
    from rnncondense import storage

    sealed(path, lambda: storage.write_json(path, data))


def write_csv(path: str | Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """`storage.write_csv` with a sidecar."""
    from rnncondense import storage

    sealed(path, lambda: storage.write_csv(path, rows, columns))


def verify(path: str | Path) -> None:
    """Refuse the record `path` if its sidecar holds another digest than its bytes have now; no
    sidecar (or no record): nothing to check.

    Raises:
        FileFormatError: one line naming the record and its sidecar.
    """
    path = Path(path)
    side = sidecar(path)
    if side.is_symlink():
        raise FileFormatError(f"{side}: is a symbolic link; rnncondense never writes one, remove it")
    if not side.is_file() or not path.is_file():
        return
    try:
        words = side.read_text(encoding="utf-8", errors="replace").split()
        actual = _file_digest(path)
    except OSError as error:
        raise FileFormatError(f"{side}: cannot be read ({error.strerror or error})") from None
    if len(words) != 2 or words[1] != path.name or len(words[0]) != 64:
        raise FileFormatError(f"{side}: not a digest this program wrote (expected '<sha256>  {path.name}')")
    if words[0] != actual:
        raise FileFormatError(
            f"{path}: changed after it was written (its SHA-256 no longer matches {side.name}); restore the file, "
            "or run the command that wrote it again"
        )


def read_json(path: str | Path, *, top: type | None = dict) -> Any:
    """`storage.read_json`, after `verify`."""
    from rnncondense import storage

    verify(path)
    return storage.read_json(path, top=top)


def read_rows(path: str | Path, *, required: Iterable[str] = ()) -> list[dict[str, str]]:
    """`storage.read_rows`, after `verify`."""
    from rnncondense import storage

    verify(path)
    return storage.read_rows(path, required=required)
