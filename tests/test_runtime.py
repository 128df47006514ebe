"""The persistent compilation cache setting."""

import jax

from rnncondense import runtime


def test_cache_directory_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(runtime.ENV, "off")
    assert runtime.cache_dir() is None and runtime.enable_compilation_cache() is None
    monkeypatch.setenv(runtime.ENV, str(tmp_path / "c"))
    assert runtime.cache_dir() == tmp_path / "c"
    before = jax.config.jax_compilation_cache_dir
    try:
        assert runtime.enable_compilation_cache() == tmp_path / "c"
        assert (tmp_path / "c").is_dir() and jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
    monkeypatch.delenv(runtime.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.cache_dir() == tmp_path / "xdg" / "rnncondense" / "jax"


def test_release_memory_drops_compiled_programs_and_later_calls_still_work():
    square = jax.jit(lambda x: x * x)
    assert float(square(3.0)) == 9.0 and square._cache_size() == 1
    runtime.release_memory()
    assert square._cache_size() == 0
    assert float(square(4.0)) == 16.0


def test_lean_compiler_adds_its_flag_once_and_keeps_a_users_choice():
    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert runtime.lean_compiler(env)
    assert env["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {runtime.LEAN_COMPILER_FLAG}"
    assert runtime.lean_compiler(env) and env["XLA_FLAGS"].count("fusion_emitters") == 1
    mine = {"XLA_FLAGS": "--xla_cpu_use_fusion_emitters=true"}
    assert not runtime.lean_compiler(mine) and mine["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=true"
    empty = {}
    assert runtime.lean_compiler(empty) and empty["XLA_FLAGS"] == runtime.LEAN_COMPILER_FLAG


def test_lean_compiler_leaves_a_jaxlib_whose_xla_may_not_know_the_flag_alone(monkeypatch):
    monkeypatch.setattr(runtime, "LEAN_COMPILER_JAXLIB", (0, 11))  # XLA aborts on unknown flags
    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert not runtime.lean_compiler(env) and env == {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    empty = {}
    assert not runtime.lean_compiler(empty) and empty == {}


_FAULTS = """
import resource, sys
import jax, jax.numpy as jnp
from rnncondense import runtime
applied = runtime.steady_heap() if sys.argv[1] == "steady" else None
double = jax.jit(lambda x: x * 2.0)
x = jnp.ones((runtime._MAP_ABOVE // 8,), jnp.float32)  # half the mapping threshold (8 MB): a new buffer per call
for _ in range(60):  # until the heap holds as many such buffers as are ever alive at once
    jax.block_until_ready(double(x))
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    jax.block_until_ready(double(x))
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def test_a_steady_heap_reuses_freed_buffers_instead_of_faulting_them_in_again():
    import os
    import subprocess
    import sys

    def faults(mode):
        env = {**_without_heap_settings(os.environ), "MALLOC_TRIM_THRESHOLD_": "65536"}  # as a Dask nanny starts its workers
        out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True,
                             env=env).stdout
        applied, count = out.split()
        return applied, int(count)

    _, plain = faults("plain")
    applied, steady = faults("steady")
    pages = 20 * (runtime._MAP_ABOVE // 2) // 4096  # the kernel's count if every call's buffer were new pages
    assert applied == "True"  # glibc
    assert plain > pages / 2  # without it, freed buffers go back to the kernel and fault in again
    # below the size from which blocks are mapped on their own; a loaded machine holds a few
    # buffers more alive at once: 8 MB each stays under the 128 MB of free memory the heap keeps
    assert steady < pages / 8, (plain, steady)
    runtime.release_memory()  # still hands memory back between jobs (malloc_trim), settings or not


def _without_heap_settings(environ):
    """`environ` without glibc's heap variables (a local cluster's nanny sets them in its own
    process's environment, and a test of this process may have started one)."""
    return {name: value for name, value in environ.items() if not name.startswith("MALLOC_")}


_ARENAS = """
import threading
from rnncondense import runtime
together = threading.Barrier(8)
def allocate():
    together.wait()  # all alive at once, so none takes the arena another one left
    blocks = [bytearray(4096) for _ in range(256)]  # from glibc's malloc (above Python's small-object allocator)
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(runtime.malloc_arenas())
"""


def test_heap_environ_gives_every_thread_of_a_new_process_one_heap():
    """A process with eight threads that allocate at once: several heaps (arenas) with glibc's
    settings, one when it starts with `heap_environ` in its environment (how a sweep's local
    workers start), which is also what `malloc_arenas` counts."""
    import os
    import subprocess
    import sys

    def arenas(extra):
        env = {**_without_heap_settings(os.environ), **extra}
        return int(subprocess.run([sys.executable, "-c", _ARENAS], capture_output=True, text=True, check=True,
                                  env=env).stdout)

    assert arenas({}) > 1
    assert arenas(runtime.heap_environ()) == 1
    assert arenas({"MALLOC_ARENA_MAX": "3"}) == 3  # counted, not assumed
