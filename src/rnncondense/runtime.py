"""Process-wide JAX settings the command line applies: a persistent compilation cache.

Compiling the simulation, the Hessian-free solver and the evaluation takes tens of seconds on a
CPU, often longer than a short training run itself. JAX can keep compiled programs on disk and
reuse them in later processes; `enable_compilation_cache` turns that on. The directory is
$RNNCONDENSE_CACHE_DIR if set ("off" disables the cache), else ~/.cache/rnncondense/jax.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "RNNCONDENSE_CACHE_DIR"


def cache_dir() -> Path | None:
    setting = os.environ.get(ENV, "").strip()
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnncondense" / "jax"


def enable_compilation_cache(path: str | Path | None = None) -> Path | None:
    """Keep compiled programs in `path` (default: `cache_dir()`) for later processes; returns it."""
    directory = Path(path) if path is not None else cache_dir()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    return directory


def release_memory() -> None:
    """Hand memory that finished work no longer needs back to the operating system.

    Drops JAX's in-process caches of traced and compiled programs (a later call recompiles, or
    loads from the persistent cache), collects garbage and, on glibc, trims the heap, whose
    freed pages otherwise stay resident. A long-lived process that runs one job after another
    (a sweep worker) calls it between jobs, so its memory does not grow with each job.
    """
    import ctypes
    import gc

    jax.clear_caches()
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
