"""Safe loading, read from the source itself: nothing unpickles, evaluates or executes text that
came from a file or the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import rnncondense

SOURCE = Path(rnncondense.__file__).parent
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "joblib", "yaml", "torch"}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__", "input"}
LOADERS = {"load", "loads", "load_pickle", "fromfile"}  # np.load & co.: only safetensors/JSON/TOML/CSV/NetCDF readers


def _modules() -> list[Path]:
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 20  # the whole package, not an empty glob
    return files


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(SOURCE)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_CALLS:
                found.append(f"{where}: {func.id}(...)")
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                if func.value.id in {"np", "numpy", "jnp"} and func.attr in LOADERS:
                    found.append(f"{where}: {func.value.id}.{func.attr}(...)")
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    found.append(f"{where}: allow_pickle")
    return found


def test_no_pickle_eval_or_exec_anywhere_in_the_package():
    problems = [problem for path in _modules() for problem in _problems(path)]
    assert not problems, "\n".join(problems)


def test_the_scan_itself_finds_what_it_forbids(tmp_path):
    """The check above must be able to fail: it flags each forbidden form in a planted file."""
    planted = SOURCE / "_planted_for_test.py"
    planted.write_text("import pickle\nfrom yaml import load\nx = eval('1')\nimport numpy as np\n"
                       "np.load('a.npy', allow_pickle=True)\n", encoding="utf-8")
    try:
        problems = _problems(planted)
    finally:
        planted.unlink()
    assert len(problems) == 5, problems


def test_config_text_is_parsed_as_data_never_run(tmp_path):
    """A TOML value or a circuit parameter that looks like code stays a string or is refused."""
    from rnncondense.circuits import make_config
    from rnncondense.config import load_config
    from rnncondense.errors import ConfigError

    marker = tmp_path / "ran"
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    (tmp_path / "run.toml").write_text(f'[model]\nn_units = "{code}"\n')
    try:
        load_config(tmp_path / "run.toml")
    except ConfigError:
        pass
    try:
        make_config("lif", {"tau_m_ms": code})
    except ConfigError:
        pass
    assert not marker.exists()
