"""Ctrl-C: the first stops a command where it stands, a second stops it at once.

The first Ctrl-C raises KeyboardInterrupt in the main thread, as Python always does (JAX's
compiler and its waits for a computation let it through within a fraction of a second): the
command stops, writes what it has (a training run its checkpoint), says what is kept, and
leaves with status 130 (`leave`) without running the interpreter's exit handlers, because JAX's
would wait for the compilation or computation the interrupt abandoned; on a loaded machine that
wait took minutes, and once it never ended.

While the command says goodbye a further Ctrl-C raises nothing in Python (`first_caught`), so
that it cannot cut the goodbye short with a traceback. Every Ctrl-C is also written, by the
interpreter's C-level handler and at the instant it arrives, into a pipe (`signal.set_wakeup_fd`,
the mechanism asyncio uses) that a watcher thread reads: at the second, it prints the command's
farewell line and ends the process with status 130, whatever the main thread is doing. That is
safe: every file is written atomically (storage) and every run resumes from its last checkpoint,
so stopping at any instant is no worse than kill -9, which the tests exercise; a directory lock
left behind names a process that is gone and is taken over by the next command (dirlock).

A command states what its farewell says with `farewell`; the default is the generic line below.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

DEFAULT_FAREWELL = "interrupted; what had finished is kept"

_farewell: Callable[[], str] = lambda: DEFAULT_FAREWELL
_watching = False


def farewell(message: Callable[[], str]) -> None:
    """Have an interrupted command end with the line `message()` (computed when it is needed,
    so that it can say what is on disk at that moment)."""
    global _farewell
    _farewell = message


def say_farewell() -> str:
    """The current farewell line."""
    try:
        return _farewell()
    except Exception:  # a farewell must never turn an interrupt into a traceback
        return DEFAULT_FAREWELL


def first_caught() -> None:
    """Call where a command catches the first KeyboardInterrupt: from now on a Ctrl-C raises
    nothing in Python, and (with the watcher on) the next one ends the process at once."""
    signal.signal(signal.SIGINT, lambda signum, frame: None)


def leave(status: int) -> NoReturn:
    """End the process with `status` now, after flushing the standard streams, without the exit
    handlers (for an interrupted command, whose abandoned compilations JAX's handlers wait for)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def watch() -> bool:
    """Start the watcher of repeated Ctrl-C (once; only from the main thread, where Python allows
    `set_wakeup_fd`). Returns whether it is watching."""
    global _watching
    if _watching or threading.current_thread() is not threading.main_thread():
        return _watching
    read, write = os.pipe()
    os.set_blocking(write, False)  # the C handler must never block on a full pipe
    signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read,), name="rnncondense-interrupts", daemon=True).start()
    _watching = True
    return True


def _watch(read: int) -> None:
    seen = 0
    while True:
        try:
            data = os.read(read, 512)
        except OSError:
            return
        if not data:
            return
        seen += data.count(signal.SIGINT)  # one byte per signal, its number
        if seen >= 2:
            try:
                sys.stderr.write(say_farewell() + "\n")
                sys.stderr.flush()
            finally:
                os._exit(130)
