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
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rnncondense.errors import FileFormatError

__all__ = ["CONFIG_KEY", "METRICS_KEY", "RECORD_KEY", "json_digest", "check"]

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
