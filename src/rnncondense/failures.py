"""Operating-system errors and memory exhaustion as one line for the user.

A full disk (ENOSPC), a read-only directory, a name too long or a missing permission used to end
every command with a 48-61-line traceback and exit status 1. They are faults of the place the user
asked us to write (or read), not of the program, so the command line (`cli.user_errors`) prints
`describe(error)`, one line naming the path, the cause and what to do, and exits with status 2,
like any other user error. Nothing finished is lost: every file is written atomically
(`storage.atomic_write_bytes`), so a write that fails leaves the previous file, and every runner
keeps what it had finished (checkpoints, sweep networks, condensation steps) before the failure.

Memory exhaustion (Python's MemoryError, XLA's RESOURCE_EXHAUSTED) is the same kind of fault: the
config asked for more than the machine has (`memory.check_memory` refuses most such configs before
any work starts; this catches the rest).
"""

from __future__ import annotations

import errno
import os

__all__ = ["describe", "is_memory_exhaustion", "is_failure"]

_ADVICE = {
    errno.ENOSPC: "the disk is full: free space, then run the same command again (finished work is kept)",
    errno.EDQUOT: "the disk quota is exceeded: free space, then run the same command again (finished work is kept)",
    errno.EROFS: "the file system is read-only: choose a directory you can write to",
    errno.EACCES: "permission denied: choose a directory you can write to, or change its permissions",
    errno.EPERM: "operation not permitted: choose a directory you can write to, or change its permissions",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter --out path",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EISDIR: "it is a directory, not a file",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer workers",
    errno.ENOMEM: "out of memory: lower model.n_units, the batch size or the number of workers",
}


def is_memory_exhaustion(error: BaseException) -> bool:
    """MemoryError, or an XLA runtime error that reports RESOURCE_EXHAUSTED (an allocation failed)."""
    return isinstance(error, MemoryError) or (
        type(error).__name__ in ("XlaRuntimeError", "JaxRuntimeError") and "RESOURCE_EXHAUSTED" in str(error)
    )


def is_failure(error: BaseException) -> bool:
    """Whether `describe` covers `error` (an OSError or memory exhaustion)."""
    return isinstance(error, OSError) or is_memory_exhaustion(error)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(error: BaseException) -> str:
    """One line: the path(s), the cause (errno name) and what to do."""
    if is_memory_exhaustion(error):
        detail = _one_line(str(error), 160)
        return ("out of memory" + (f" ({detail})" if detail else "") +
                ": lower model.n_units, the batch size, the trial length or the number of workers")
    if not isinstance(error, OSError):
        return _one_line(f"{type(error).__name__}: {error}")
    paths = [os.fsdecode(p) for p in (error.filename, error.filename2) if p is not None]
    where = " -> ".join(_one_line(repr(p)[1:-1], 300) for p in paths)
    code = errno.errorcode.get(error.errno, "") if error.errno is not None else ""
    cause = _ADVICE.get(error.errno) or _one_line(error.strerror or str(error) or type(error).__name__)
    head = f"cannot use '{where}'" if where else "operating-system error"
    return f"{head}: {cause}" + (f" [{code}]" if code else "")
