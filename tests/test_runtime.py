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
