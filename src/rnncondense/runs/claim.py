"""Claiming an output directory: the same job continues there, another job is refused.

Every runner (train, condense, sweep, study) records what it is doing in a small JSON or TOML
file in its directory (its identity: config, settings, source network). Run again into the same
directory, the same identity continues the work where it stopped; another identity is refused
with one line naming the first field that differs and both values, so that nothing is mixed and
nothing is overwritten. A directory holding only the temporary files of a job killed before its
first write counts as empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnncondense import storage, ties
from rnncondense.errors import RunDirError, shown

__all__ = ["ABSENT", "claim", "first_difference", "refuse_other_job"]


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT = _Absent()  # the value of a field that one of two records lacks


def first_difference(there: Any, here: Any, name: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted field at which two records differ, with both values (ABSENT where one
    record lacks the field), depth first in the order of `there`'s keys; None if they are equal."""
    if isinstance(there, dict) and isinstance(here, dict):
        for key in [*there, *(k for k in here if k not in there)]:
            a, b = there.get(key, ABSENT), here.get(key, ABSENT)
            if a != b:
                return first_difference(a, b, f"{name}.{key}" if name else key)
        return None
    return None if there == here else (name, there, here)


def refuse_other_job(out: Path, recorded: Any, identity: Any, *, what: str, record: str) -> None:
    """Raise RunDirError when `recorded` (read from `out/record`) is not `identity`."""
    found = first_difference(recorded, identity)
    if found is not None:
        field, there, here = found
        raise RunDirError(
            f"--out '{out}' holds {what} that differs in {field or record} ({shown(there, 60)} there, "
            f"{shown(here, 60)} here); run the same job to continue it, or choose another --out"
        )


def claim(out: str | Path, record: str, identity: dict, *, what: str, write: bool = True) -> bool:
    """Claim `out` for the job `identity` (JSON-ready), recorded in `out/record`.

    Args:
        out: the output directory; created if missing.
        record: the file name (`layout`) of the job's identity inside `out`.
        identity: what makes the job this job.
        what: the job in words, for messages ("a sweep").
        write: write the record now when the directory is new (False: the caller writes it later).

    Returns:
        True when `out` already holds this job (continue it), False when it starts afresh.

    Raises:
        RunDirError: `out` is a file, holds another job, or holds files but no record.
    """
    out = Path(out)
    identity = json.loads(json.dumps(identity))  # as it reads back (tuples become lists)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}' exists and is not a directory")
    if storage.holds_nothing(out):  # killed before its first write: start again
        storage.remove_stale_temporaries(out)
    path = out / record
    if path.is_file():
        refuse_other_job(out, ties.read_json(path), identity, what=what, record=record)
        return True
    if out.is_dir() and not storage.holds_nothing(out):  # the lock file of this command does not count
        raise RunDirError(f"--out '{out}' is not empty and holds no {record}; choose a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    if write:
        ties.write_json(path, identity)  # with a sidecar (ties)
    return False
