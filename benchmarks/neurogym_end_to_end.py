"""A NeuroGym task end to end from the command line: sample, train, condense to half size, report.

Every stage is the `rnncondense` command a user would type:

    rnncondense neurogym-trials PerceptualDecisionMaking-v0 --out DIR/trials.npz --n-trials 512 --dt 20
    rnncondense train DIR/config.toml --out DIR/run             (64 units, Adam)
    rnncondense analyze DIR/run;  rnncondense plot DIR/run
    rnncondense condense DIR/run --out DIR/condense --method iterative --pairs 8   (64 -> 32 units)
    rnncondense report DIR/condense;  rnncondense report DIR/run

A task of trials from a file has no success of its own: the condensation keeps "the task" while the
validation mse stays within `--max-mse-increase` (default 0.2) of the original's, and result.json
says so. The result (JSON) holds each stage's wall time, the units kept, the criterion, the mse
and output correlation before and after, and the decision accuracy (the choice read out during the
decision period, `decision_accuracy`) of the original and the condensed network; `checks` says whether the acceptance holds (32 units
reached with the task kept, the report written).

NeuroGym is an optional extra: the sampling runs in the Python of RNNCONDENSE_NEUROGYM_PYTHON (an
environment where `import neurogym` works, e.g. after `pip install -e '.[neurogym]'`; default: this
Python), with this checkout's src on its path; everything after it runs in this Python.

Usage: python benchmarks/neurogym_end_to_end.py [--dir DIR] [--out result.json] [--iters 1500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import check  # noqa: E402

ENV_NAME = "PerceptualDecisionMaking-v0"
N_UNITS = 64
DT_MS = 20.0


def _config(trials: Path, iters: int) -> str:
    return f"""\
[task]
name = "arrays"
path = "{trials}"
dt_ms = {DT_MS}

[model]
n_units = {N_UNITS}
tau_ms = 100.0

[train]
trainer = "adam"
max_iters = {iters}
eval_every = 50
checkpoint_every = 100

[train.adam]
learning_rate = 0.003
batch_size = 32
"""


def _run(args: list[str], *, python: str = sys.executable) -> float:
    """Run `rnncondense ARGS` (as `python -m rnncondense.cli`); its wall time in seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run([python, "-m", "rnncondense.cli", *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"rnncondense {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return elapsed


def decision_accuracy(params, config) -> float:
    """Fraction of validation trials whose choice is right: the larger of the non-fixation outputs
    (actions 1, 2, ...), averaged over the steps where the target is a choice, against the target's
    choice; noise-free. Chance is 1 / (number of choices)."""
    import jax.numpy as jnp
    import numpy as np

    from rnncondense.rnn import simulate
    from rnncondense.tasks import make_task

    batch = make_task(config.task).validation_batch()
    outputs = np.asarray(simulate(params, jnp.asarray(batch.inputs), alpha=config.alpha, dynamics=config.dynamics).outputs)
    targets, mask = np.asarray(batch.targets), np.asarray(batch.mask)
    deciding = (targets[..., 1:].max(-1) > 0) & (mask > 0)  # (B, T): the target is a choice
    kept = deciding.any(1)
    weights = deciding[kept][..., None]
    chosen = (outputs[kept][..., 1:] * weights).sum(1).argmax(-1)
    right = (targets[kept][..., 1:] * weights).sum(1).argmax(-1)
    return float((chosen == right).mean())


def run(directory: Path, *, iters: int) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    trials, config = directory / "trials.npz", directory / "config.toml"
    run_dir, condense_dir = directory / "run", directory / "condense"
    seconds = {}
    seconds["sample"] = _run(["neurogym-trials", ENV_NAME, "--out", str(trials), "--n-trials", "512", "--dt", str(DT_MS)],
                             python=os.environ.get("RNNCONDENSE_NEUROGYM_PYTHON", sys.executable))
    config.write_text(_config(trials, iters), encoding="utf-8")
    seconds["train"] = _run(["train", str(config), "--out", str(run_dir)])
    seconds["analyze"] = _run(["analyze", str(run_dir)])
    seconds["plot"] = _run(["plot", str(run_dir)])
    seconds["condense"] = _run(["condense", str(run_dir), "--out", str(condense_dir), "--method", "iterative",
                                "--pairs", "8", "--retrain-iters", "300"])
    seconds["report"] = _run(["report", str(condense_dir)]) + _run(["report", str(run_dir)])
    result = json.loads((condense_dir / "result.json").read_text())
    steps = [json.loads(p.read_text()) for p in sorted((condense_dir / "steps").glob("step_*/record.json"))]
    first, final = steps[0], result["final"]
    from rnncondense.runs.condense import load_step
    from rnncondense.runs.train import load_run

    config, original = load_run(run_dir)
    condensed = load_step(condense_dir, final["step"])[0].compact()[0]
    return {
        "task": ENV_NAME,
        "dt_ms": DT_MS,
        "train_iters": iters,
        "seconds": seconds,
        "units_before": first["n_units"],
        "units_after": final["n_units"],
        "task_kept": final["success"],
        "criterion": result["criterion"],
        "reason": result["reason"],
        "mse_before": first["mse"],
        "mse_after": final["mse"],
        "output_correlation_before": first["output_correlation"],
        "output_correlation_after": final["output_correlation"],
        "similarity_procrustes_after": final["similarity_procrustes"],
        "decision_accuracy_before": decision_accuracy(original, config),
        "decision_accuracy_after": decision_accuracy(condensed, config),
        "retrain_iterations": [s.get("retrain_iterations") for s in steps[1:]],
        "report": str(condense_dir / "report.html"),
        "report_written": (condense_dir / "report.html").is_file() and (run_dir / "report.html").is_file(),
    }


def checks(result: dict) -> list[dict]:
    return [
        check("units after condensation (half of 64)", result["units_after"], result["units_before"] // 2),
        check("task kept at half size (1 = yes)", float(bool(result["task_kept"])), 1.0, at_most=False),
        check("reports written (1 = yes)", float(bool(result["report_written"])), 1.0, at_most=False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ROOT / "runs" / "neurogym-demo")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--iters", type=int, default=1500)
    args = parser.parse_args()
    start = time.perf_counter()
    result = run(args.dir, iters=args.iters)
    result["total_s"] = time.perf_counter() - start
    result["checks"] = checks(result)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
