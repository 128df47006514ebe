"""One writer per directory: an advisory lock that a command takes on its output directory.

A command that writes into a directory (a run, a condensation, a sweep, a study, a report, a
circuit) holds `hold(directory)` from before its first write to its end. The lock is
`fcntl.flock(LOCK_EX | LOCK_NB)` on the file DIRECTORY/.rnncondense.lock, which also holds the
holder's process id and host. A second writer is refused at once with one line naming the
directory and the holder's pid (`DirectoryBusy`, exit status 2): waiting would only let it
overwrite what the first one wrote.

Why flock. The kernel drops the lock when its process ends, however it ends (kill -9 too), so a
lock can never outlive its holder on one machine: a lock file found with a pid in it but no lock
on it is stale (its process is gone) and is taken over, which is said on stderr. Two sweeps with
different configs started together into one --out used to mix their networks silently (2 of 3
tries), and a `train --resume` deleted the in-flight temporary files of a `train` writing into the
same directory; both are refused now. flock is advisory and may not reach across NFS hosts: two
machines writing one directory over NFS are not caught.

Release. On a normal end the lock file is deleted (while still locked) and, if `hold` created the
directory and nothing else was written there, the directory too, so a refused command leaves no
trace. A second process could have opened the file just before it was deleted and lock the
deleted file; `hold` therefore checks after locking that the path still names the file it locked
(same inode), and tries again if not.

Nesting. Within one thread of one process `hold` is re-entrant (a study holds its directory and
writes its report there); a different thread of the same process is refused like another process.
The holder's worker processes (a sweep's Dask workers) write below the holder's directory under its
lock; each worker also holds the network directory it writes (`sweep.network.train_network`), so
two workers of two clients never write one network.

Directories inside directories. A lock covers its directory's whole tree: a writer may not hold a
directory inside one another process holds (`condense RUN --out RUN/sub` while RUN is trained;
`train --out STUDY/base` while a study runs), nor one that contains a directory another process
holds (a study started over a running sweep). Both are refused with one line naming the other
directory and its holder, before anything is created. The exception is a subtree its holder hands
to its own workers: `hold(out, delegate=("networks",))` writes "delegate networks" into the lock
file, and a worker process may then hold OUT/networks/<name> (and the ancestors of OUT held by that
same process do not refuse it either: a study's sweep). Each side checks after it has locked its
own directory too, so of two writers racing for a parent and a child at least one sees the other;
both may be refused, never both let in. The tree below a directory is searched for held locks to a
depth of `_DEPTH` (rnncondense's own layouts nest 4 deep at most) and over at most `_ENTRIES`
entries, so a lock below that in a huge tree is not seen; the directory's own lock still holds.

`holding("out")` is the decorator form: it holds the directory passed as the function's argument
`out` for the whole call.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import inspect
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from rnncondense.errors import RunDirError

__all__ = ["LOCK_FILE", "DirectoryBusy", "hold", "holding", "is_lock_file"]

LOCK_FILE = ".rnncondense.lock"
_ATTEMPTS = 20  # tries against the release race described above; each is a few system calls
_DEPTH = 5  # how deep below a directory held locks are searched for
_ENTRIES = 20000  # and over how many entries at most
_DELEGATE = "delegate"  # a line "delegate <relative path>" in a lock file hands that subtree to workers

_held: dict[str, tuple[int, int]] = {}  # resolved directory -> (thread id, depth) of this process
_registry = threading.Lock()


class DirectoryBusy(RunDirError):
    """Another process (or thread) holds the lock of the directory."""


def is_lock_file(path: str | Path) -> bool:
    """Whether `path` is the lock file of a directory (a file commands may find and ignore)."""
    return Path(path).name == LOCK_FILE


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _holder(path: Path) -> str:
    """What the lock file says about its holder, e.g. 'pid 1234 on host'; waits briefly for a
    holder that has just locked the file and not yet written into it."""
    for _ in range(20):
        try:
            text = path.read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            text = []
        if len(text) >= 2 and text[0].isdigit():
            return f"pid {text[0]} on {text[1][:64]}"
        time.sleep(0.01)
    return "a process that has not written its pid yet"


def _missing_parents(directory: Path) -> list[Path]:
    """`directory` and those of its ancestors that do not exist, deepest first."""
    missing = []
    for path in (directory, *directory.parents):
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    return missing


def _probe(lock: Path) -> tuple[bool, list[str]]:
    """(held by another open file, the lock file's words) of the lock file `lock`; a lock file this
    process holds counts as held (callers skip those first)."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False, []
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, os.pread(fd, 4096, 0).decode("utf-8", errors="replace").split("\n")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, []
    finally:
        os.close(fd)


def _mine(key: str) -> bool:
    """Whether this thread holds the directory whose real path is `key`."""
    with _registry:
        owner = _held.get(key)
    return owner is not None and owner[0] == threading.get_ident()


def _refuse_inside(directory: Path, real: Path) -> None:
    """Refuse `directory` (real path `real`) if an ancestor is held by another process that did not
    hand the subtree holding `directory` to its workers."""
    granted: set[str] = set()  # pids that handed a subtree holding `directory` to their workers
    for ancestor in real.parents:
        lock = ancestor / LOCK_FILE
        if not os.path.lexists(lock) or _mine(str(ancestor)):
            continue
        held, lines = _probe(lock)
        if not held:
            continue
        words = lines[0].split() if lines else []
        pid = words[0] if words and words[0].isdigit() else ""
        handed = [line.split(maxsplit=1)[1] for line in lines[1:] if line.startswith(_DELEGATE + " ")]
        if pid and (pid in granted or any(ancestor / part == real or ancestor / part in real.parents for part in handed)):
            granted.add(pid)
            continue
        raise DirectoryBusy(
            f"'{directory}' is inside '{ancestor}', which is in use by another rnncondense command "
            f"({_holder(lock)}); wait for it to finish, or stop it, or choose a directory outside it"
        )


def _refuse_containing(directory: Path, real: Path, delegate: tuple[str, ...]) -> None:
    """Refuse `directory` (real path `real`) if a directory below it (but not in a subtree handed to
    workers, `delegate`) is held by another process or thread."""
    handed = [real / part for part in delegate]
    seen = 0
    for top, dirs, files in os.walk(real):
        here = Path(top)
        depth = len(here.relative_to(real).parts)
        seen += len(dirs) + len(files)
        if any(here == h or h in here.parents for h in handed):
            dirs[:] = []
            continue
        if here != real and LOCK_FILE in files and not _mine(str(here)):
            held, _ = _probe(here / LOCK_FILE)
            if held:
                shown = directory / here.relative_to(real)
                raise DirectoryBusy(
                    f"'{directory}' contains '{shown}', which is in use by another rnncondense command "
                    f"({_holder(here / LOCK_FILE)}); wait for it to finish, or stop it, or choose another directory"
                )
        if depth >= _DEPTH or seen > _ENTRIES:
            dirs[:] = []


def _refuse_nested(directory: Path, delegate: tuple[str, ...]) -> None:
    """Refuse `directory` if it lies inside, or contains, a directory another writer holds."""
    real = Path(os.path.realpath(directory))
    _refuse_inside(directory, real)
    if real.is_dir():
        _refuse_containing(directory, real, delegate)


def _acquire(directory: Path, say: Callable[[str], None], delegate: tuple[str, ...] = ()) -> int:
    """Lock `directory`'s lock file; returns its descriptor. Raises DirectoryBusy."""
    path = directory / LOCK_FILE
    for _ in range(_ATTEMPTS):
        directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # the directory was removed by a holder releasing it: again
            continue
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise RunDirError(f"{path} is a symbolic link; remove it (it is not a file rnncondense wrote)") from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DirectoryBusy(
                f"'{directory}' is in use by another rnncondense command ({_holder(path)}); wait for it to finish, "
                "or stop it, then run this command again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # locked a file that its holder deleted on release: lock the new one
            os.close(fd)
            continue
        try:
            previous = os.pread(fd, 200, 0).decode("utf-8", errors="replace").split()
            if len(previous) >= 2 and previous[0].isdigit():
                say(f"note: taking over the stale lock of '{directory}' (pid {previous[0]} on {previous[1][:64]} "
                    "is no longer running)")
            os.ftruncate(fd, 0)
            handed = "".join(f"{_DELEGATE} {part}\n" for part in delegate)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n{handed}".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        return fd
    raise DirectoryBusy(f"'{directory}' is being locked and released by other processes too quickly; try again")


def _release(directory: Path, fd: int, created: list[Path]) -> None:
    path = directory / LOCK_FILE
    try:
        with contextlib.suppress(OSError):
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                path.unlink()
    finally:
        os.close(fd)
    for made in created:  # deepest first; only what is still empty
        try:
            made.rmdir()
        except OSError:
            break


@contextlib.contextmanager
def hold(directory: str | Path, *, create: bool = True, say: Callable[[str], None] = _say,
         delegate: tuple[str, ...] = ()) -> Iterator[Path]:
    """Hold the advisory lock of `directory` (created if missing) for the `with` block.

    Args:
        directory: the directory a command writes into.
        create: create `directory` if it is missing; with False a missing directory is not locked
            (for commands that write into an existing run and refuse a missing one themselves).
        say: where the one-line note of a stale lock taken over goes (default: stderr).
        delegate: subdirectories (relative paths) that the holder's worker processes may hold
            while it holds `directory` (a sweep's networks/).

    Yields:
        `directory` as a Path.

    Raises:
        DirectoryBusy: another process, or another thread of this one, holds the lock, or a
            directory that contains `directory` or lies inside it (one line naming that directory
            and the holder's pid).
        RunDirError: `directory` exists and is not a directory.
        OSError: the directory or its lock file cannot be created (read-only, permissions, ...).
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RunDirError(f"'{directory}' exists and is not a directory")
    if not create and not directory.is_dir():
        yield directory
        return
    key = os.path.realpath(directory)
    me = threading.get_ident()
    with _registry:
        owner = _held.get(key)
        if owner is not None and owner[0] == me:
            _held[key] = (me, owner[1] + 1)
            nested = True
        elif owner is not None:
            raise DirectoryBusy(f"'{directory}' is in use by another thread of this process (pid {os.getpid()})")
        else:
            nested = False
    if nested:
        try:
            yield directory
        finally:
            with _registry:
                thread, depth = _held[key]
                _held[key] = (thread, depth - 1)
        return
    _refuse_nested(directory, delegate)  # before anything is created
    created = _missing_parents(directory)
    fd = _acquire(directory, say, delegate)
    with _registry:
        _held[key] = (me, 1)
    try:
        _refuse_nested(directory, delegate)  # again, now that this lock is visible to the other side
    except BaseException:
        with _registry:
            _held.pop(key, None)
        _release(directory, fd, created)
        raise
    try:
        yield directory
    finally:
        with _registry:
            _held.pop(key, None)
        _release(directory, fd, created)


def holding(parameter: str, *, create: bool = True, delegate: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator: hold the directory given as argument `parameter` of the function for the call
    (`create` and `delegate` as in `hold`)."""

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            directory = signature.bind(*args, **kwargs).arguments[parameter]
            with hold(directory, create=create, delegate=delegate):
                return function(*args, **kwargs)

        return wrapper

    return decorate
