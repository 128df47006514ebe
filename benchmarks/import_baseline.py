"""Imported networks against the packages that built them: the same inputs, the same outputs.

Each reference package builds and runs its own network in a throwaway environment (never a
dependency of the project): PyTorch `nn.RNN` (tanh and relu) and NeuroGym's example CTRNN
(benchmarks/torch_reference.py), and PsychRNN 1.0 `Basic` on TensorFlow
(benchmarks/psychrnn_reference.py) where such an environment exists. The files they write (state
dict or `model.save` .npz, inputs and outputs) are imported here with `rnncondense.importers` and
simulated by `rnn.simulate` in float32, as every command runs them; the goal is a largest absolute
output difference of at most 1e-5.

Usage: python benchmarks/import_baseline.py [--out PATH]
The environments' Pythons: RNNCONDENSE_TORCH_PYTHON (default .import-baseline/torch/bin/python)
and RNNCONDENSE_TF_PYTHON (default .import-baseline/tf/bin/python); `make import-baseline`
creates the first. A missing environment is reported as not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import safetensors.numpy  # noqa: E402

from benchmarks.common import check  # noqa: E402
from rnncondense import rnn  # noqa: E402
from rnncondense.importers import import_network  # noqa: E402
from rnncondense.storage import write_json  # noqa: E402

GOAL_MAX_ABS_DIFF = 1e-5
REFERENCES = {
    "torch": ("RNNCONDENSE_TORCH_PYTHON", ROOT / ".import-baseline" / "torch" / "bin" / "python", "torch_reference.py"),
    "psychrnn": ("RNNCONDENSE_TF_PYTHON", ROOT / ".import-baseline" / "tf" / "bin" / "python", "psychrnn_reference.py"),
}
EXPECTED_CASES = ("torch-rnn-tanh", "torch-rnn-relu", "neurogym-ctrnn", "psychrnn-relu", "psychrnn-dale")


def _reference(kind: str, directory: Path) -> dict:
    """Run one reference script in its environment; {} (with the reason) when it cannot run."""
    variable, default, script = REFERENCES[kind]
    python = Path(os.environ.get(variable, default))
    if not python.exists():
        return {"error": f"no environment at {python} (set {variable})"}
    done = subprocess.run(
        [str(python), str(ROOT / "benchmarks" / script), str(directory)], capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        return {"error": f"{script} failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(directory: Path, name: str, settings: dict) -> dict:
    """Import case `name` from `directory` and compare its outputs with the reference's."""
    settings = dict(settings)
    fmt = settings.pop("format")
    suffix = ".npz" if fmt == "psychrnn" else ".safetensors"
    imported = import_network(directory / f"{name}{suffix}", fmt, **settings)
    data = safetensors.numpy.load_file(str(directory / f"{name}.data.safetensors"))
    inputs, expected = data["inputs"].astype(np.float32), data["outputs"].astype(np.float64)
    outputs = np.asarray(rnn.simulate(imported.params, inputs, alpha=imported.alpha, dynamics=imported.dynamics).outputs)
    with jax.enable_x64(True):
        params64 = rnn.Params(*(jax.numpy.asarray(np.asarray(a), jax.numpy.float64) for a in imported.params))
        outputs64 = np.asarray(
            rnn.simulate(params64, inputs.astype(np.float64), alpha=imported.alpha, dynamics=imported.dynamics).outputs
        )
    return {
        "summary": imported.summary(),
        "shape": list(expected.shape),
        "output_scale": float(np.abs(expected).max()),
        "max_abs_diff": float(np.abs(outputs - expected).max()),
        "max_abs_diff_float64": float(np.abs(outputs64 - expected).max()),
    }


def run() -> dict:
    result: dict = {"goal_max_abs_diff": GOAL_MAX_ABS_DIFF, "references": {}, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in REFERENCES:
            directory = Path(tmp) / kind
            reference = _reference(kind, directory)
            result["references"][kind] = {k: v for k, v in reference.items() if k != "cases"}
            for name, settings in reference.get("cases", {}).items():
                result["cases"][name] = {"settings": settings, **compare(directory, name, settings)}
    return result


def checks(result: dict) -> list[dict]:
    """One goal per expected case: its largest absolute output difference (n/a where not run)."""
    cases = result.get("cases", {})
    return [
        check(f"{name} max |z - z_ref|", cases.get(name, {}).get("max_abs_diff"), GOAL_MAX_ABS_DIFF)
        for name in EXPECTED_CASES
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/import_baseline.json")
    args = parser.parse_args()
    result = run()
    write_json(args.out, result)
    result["checks"] = checks(result)
    write_json(args.out, result)
    for kind, reference in result["references"].items():
        if "error" in reference:
            print(f"{kind}: not run ({reference['error']})")
    for goal in result["checks"]:
        state = "met" if goal["met"] else ("n/a" if goal["measured"] is None else "MISSED")
        print(f"{goal['goal']}: {goal['measured']} ({goal['limit']}) {state}")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
