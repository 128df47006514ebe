"""Time to success on the default task: Hessian-free against Adam, with the peak memory of each run.

Each trainer trains the default 200-unit network (`configs/default.toml`; Adam with its own
defaults) until `success`, twice, each time in a fresh `rnncondense train` process: `cold` starts
from an empty compilation cache and compiles every program, `warm` finds them all in that cache.
A run reports the training time to success (as in metrics.json: from the first iteration,
compilation included), the iterations, the total CG iterations (HF), the validation mse and
timing_mae_ms of the kept network, and the process's peak resident memory (VmHWM, read by the
process itself at exit; goal of `train` with Adam: under 500 MB).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `python benchmarks/bench_training.py`

from benchmarks.common import check  # noqa: E402

CONFIG = ROOT / "configs" / "default.toml"
GOALS = {"adam_time_to_success_s": 60.0, "adam_peak_rss_mb": 500.0, "hf_time_to_success_s": 15.0,
         "hf_timing_mae_ms": 10.0}

# `rnncondense train`, then the process's own peak memory (MB) as the last line of stdout
_CHILD = """
import sys
from rnncondense.cli import main
from rnncondense.runtime import peak_rss_mb
sys.argv = ["rnncondense", "train", sys.argv[1], "--out", sys.argv[2]]
try:
    main()
finally:
    print("peak_rss_mb", peak_rss_mb(), flush=True)
"""


def _train(config: Path, out: Path, cache: Path) -> dict:
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "RNNCONDENSE_CACHE_DIR": str(cache), "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(config), str(out)], capture_output=True, text=True,
                          env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"rnncondense train failed: {proc.stderr.strip().splitlines()[-1:]}")
    peak_mb = float(proc.stdout.strip().splitlines()[-1].split()[1])
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    training, validation = metrics["training"], metrics["validation"]
    return {
        "success_iteration": training["success_iteration"],
        "time_to_success_s": training["time_to_success_s"],
        "first_iteration_s": float(rows[0]["elapsed_s"]),  # mostly compilation when cold
        "cg_iters_total": sum(float(r["cg_iters"]) for r in rows) if "cg_iters" in rows[0] else None,
        "mse": validation["mse"],
        "timing_mae_ms": validation["timing_mae_ms"],
        "peak_rss_mb": peak_mb,
    }


def run() -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        adam = tmp / "adam.toml"
        adam.write_text('[train]\ntrainer = "adam"\n')
        for name, config in (("hf", CONFIG), ("adam", adam)):
            cache = tmp / f"cache_{name}"
            results[name] = {when: _train(config, tmp / f"{name}_{when}", cache) for when in ("cold", "warm")}
    hf, adam = results["hf"]["warm"]["time_to_success_s"], results["adam"]["warm"]["time_to_success_s"]
    return {
        "description": __doc__.strip().splitlines()[0],
        "goals": GOALS,
        "config": str(CONFIG.relative_to(ROOT)),
        **results,
        "hf_over_adam_time_to_success_warm": hf / adam if hf and adam else None,
    }


def checks(result: dict) -> list[dict]:
    """The acceptance goals: times and mae of the cold runs (a first `rnncondense train` compiles
    everything), the higher peak memory of the two Adam runs, and HF against Adam when both are warm."""
    hf, adam = result["hf"], result["adam"]
    return [
        check("Adam: time to success, cold (s)", adam["cold"]["time_to_success_s"], GOALS["adam_time_to_success_s"]),
        check("Adam: peak memory of train (MB)", max(adam[w]["peak_rss_mb"] for w in ("cold", "warm")),
              GOALS["adam_peak_rss_mb"]),
        check("HF: time to success, cold (s)", hf["cold"]["time_to_success_s"], GOALS["hf_time_to_success_s"]),
        check("HF: timing_mae_ms at success", hf["cold"]["timing_mae_ms"], GOALS["hf_timing_mae_ms"]),
        check("HF time to success / Adam's, warm", result["hf_over_adam_time_to_success_warm"], 1.0),
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
