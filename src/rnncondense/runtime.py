"""Process-wide settings and facts: lean compilation, a persistent cache, and peak memory.

Compiling the simulation, the Hessian-free solver and the evaluation takes tens of seconds on a
CPU, often longer than a short training run itself. JAX can keep compiled programs on disk and
reuse them in later processes; `enable_compilation_cache` turns that on. The directory is
$RNNCONDENSE_CACHE_DIR if set ("off" disables the cache), else ~/.cache/rnncondense/jax.
`peak_rss_mb` reads the process's peak resident memory (sweep workers and benchmarks report it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import jax

ENV = "RNNCONDENSE_CACHE_DIR"
LEAN_COMPILER_FLAG = "--xla_cpu_use_fusion_emitters=false"
# The jaxlib series whose XLA knows that flag: the one pyproject.toml pins. XLA stops the process
# on a flag it does not know, and jaxlib 0.11's no longer knows this one.
LEAN_COMPILER_JAXLIB = (0, 10)


def lean_compiler(environ: dict[str, str] | None = None) -> bool:
    """Have XLA compile CPU programs with its classic emitters instead of the MLIR fusion emitters.

    The fusion emitters need 130-180 MB more memory while they compile, which sets a training
    process's peak: `rnncondense train` on the default 200-unit task peaked at 510-550 MB with
    them and 380-410 MB without (Adam), 850 against 730 MB (Hessian-free, 256/64 trials), with
    the same results and training speed. Adds the flag to XLA_FLAGS of `environ` (default
    os.environ) unless that already sets it or the installed jaxlib is not of the series
    LEAN_COMPILER_JAXLIB; it takes effect only if JAX has not started its backend yet (no
    computation has run), and passes to processes started later (sweep workers). Returns whether
    the classic emitters are asked for.
    """
    import jaxlib.version

    environ = os.environ if environ is None else environ
    if tuple(jaxlib.version.__version_info__[:2]) == LEAN_COMPILER_JAXLIB:
        add_xla_flag(LEAN_COMPILER_FLAG, environ)
    return LEAN_COMPILER_FLAG in environ.get("XLA_FLAGS", "").split()


def add_xla_flag(flag: str, environ: dict[str, str]) -> None:
    """Append `flag` ("--name=value") to XLA_FLAGS of `environ` unless XLA_FLAGS already sets name."""
    flags = environ.get("XLA_FLAGS", "")
    if flag.split("=")[0].lstrip("-") not in flags:
        environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


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


def compilation_cache_in_use() -> str | None:
    """The persistent compilation cache this process uses (set by `enable_compilation_cache`), if
    any: worker processes are handed it, so that they reuse what this one compiled."""
    return jax.config.jax_compilation_cache_dir or None


def prepare_worker(cache: str | None) -> None:
    """Compile and allocate in a worker process as the command line does (`lean_compiler`,
    `steady_heap`), with the command's persistent cache: a worker of a cluster (especially an
    existing scheduler's) did not inherit any of them."""
    lean_compiler()
    steady_heap()
    if cache:
        enable_compilation_cache(cache)


_TRIM_ABOVE = 128 * 2**20  # bytes of free memory at the heap's top that glibc keeps for the next call
_MAP_ABOVE = 16 * 2**20  # bytes from which a block is mapped on its own (and handed back when freed)
# steady_heap's settings: glibc's mallopt parameter (malloc.h), the same as an environment variable, value
_HEAP_SETTINGS = (
    (-8, "MALLOC_ARENA_MAX", 1),  # M_ARENA_MAX: one heap for all threads
    (-4, "MALLOC_MMAP_MAX_", 65536),  # M_MMAP_MAX, glibc's default: as many mapped blocks as it likes
    (-3, "MALLOC_MMAP_THRESHOLD_", _MAP_ABOVE),  # M_MMAP_THRESHOLD
    (-1, "MALLOC_TRIM_THRESHOLD_", _TRIM_ABOVE),  # M_TRIM_THRESHOLD
)


def steady_heap() -> bool:
    """Keep the memory a compiled call frees for the next call, instead of handing it back to the
    kernel after every call; True where applied (glibc), False elsewhere.

    Every execution of a compiled program allocates and frees its buffers (tens of MB for a
    200-unit network). By default glibc maps the large ones fresh (mmap) and returns freed memory
    at the top of each thread's heap, and a Dask worker starts with a trim threshold of 64 kB, so
    the next call faults every page back in, zeroed by the kernel: the default sweep's workers
    spent a quarter of their CPU time in the kernel (README, "Ensembles"). Here blocks below 16 MB
    come from the heap (M_MMAP_THRESHOLD), up to 128 MB of freed memory at its top stays there
    (M_TRIM_THRESHOLD) and all threads share one heap (M_ARENA_MAX = 1; XLA's threads would each
    grow and shrink their own). Blocks of 16 MB and more are still mapped on their own: taken from
    the heap as well (M_MMAP_MAX = 0), they left fragments that raised a 200-unit network's peak by
    97-225 MB, at no gain in speed. `release_memory` still hands free memory back between jobs
    (malloc_trim ignores the threshold).

    A thread that allocated before the call keeps the heap (arena) it has: a Dask worker starts
    threads of its own before its first task, and one ended with four arenas, each with freed
    memory of its own. A process that is about to be started gets these settings in its environment
    instead (`heap_environ`), where they hold from its first allocation.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return all(mallopt(parameter, value) == 1 for parameter, _, value in _HEAP_SETTINGS)


def heap_environ() -> dict[str, str]:
    """`steady_heap`'s settings as glibc's environment variables, for a process about to start
    (a sweep's local workers, `sweep.cluster`): every thread of it then shares one heap."""
    return {variable: str(value) for _, variable, value in _HEAP_SETTINGS}


def malloc_arenas() -> int | None:
    """The heaps (arenas) glibc's malloc has in this process, from `malloc_info`; None elsewhere."""
    import ctypes
    import tempfile

    try:
        libc = ctypes.CDLL("libc.so.6")
        malloc_info = libc.malloc_info
    except (OSError, AttributeError):  # not glibc
        return None
    libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes, malloc_info.argtypes = [ctypes.c_void_p], [ctypes.c_int, ctypes.c_void_p]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "malloc.xml")
        stream = libc.fopen(path.encode(), b"w")
        malloc_info(0, stream)
        libc.fclose(stream)
        with open(path) as report:
            return report.read().count("<heap nr=")


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


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    On Linux VmHWM of /proc/self/status, not getrusage's ru_maxrss: a process started by fork
    and exec (a Dask worker, which its nanny spawns) carries in ru_maxrss the resident size of
    the process it was forked from, if that was larger, so a worker spawned by a large parent
    would report the parent's memory. Elsewhere ru_maxrss (kB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource  # POSIX only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


# ------------------------------------------------------------------------------ one thread per worker

XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false"
THREAD_ENV = {
    "XLA_FLAGS": XLA_SINGLE_THREAD,
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def limit_threads(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Add the single-thread settings of THREAD_ENV to `environ` (default os.environ), keeping
    values already there; the XLA flag is appended to existing XLA_FLAGS. Returns `environ`."""
    environ = os.environ if environ is None else environ
    for name, value in THREAD_ENV.items():
        if name == "XLA_FLAGS":
            add_xla_flag(value, environ)
        else:
            environ.setdefault(name, value)
    return environ
