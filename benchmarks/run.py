"""`make bench`: run every benchmark in one process and write one JSON file.

Usage: python benchmarks/run.py [--out PATH] [--only NAME,...]
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine  # noqa: E402
from rnncondense.storage import write_json  # noqa: E402
from rnncondense.runtime import lean_compiler, steady_heap  # noqa: E402

BENCHMARKS = ["simulator", "hessian_free", "training", "analysis", "circuits", "sweep", "dsa", "fixed_points", "separation",
              "ensemble", "batching_floor", "default_sweep"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/bench.json")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS))
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only = {','.join(unknown)} is not allowed: choose from {', '.join(BENCHMARKS)}")
    lean_compiler()  # measure programs compiled as the command line compiles them,
    steady_heap()  # and allocating as it allocates
    report = {"machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "benchmarks": {}}
    for name in names:
        print(f"benchmark {name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        result = module.run()
        result["wall_s"] = time.perf_counter() - start
        report["benchmarks"][name] = result
        write_json(args.out, report)  # keep what is done if a later step fails
        if hasattr(module, "checks"):
            result["checks"] = module.checks(result)
            write_json(args.out, report)
    print_checks(report)
    print(f"wrote {args.out}", file=sys.stderr)


def print_checks(report: dict) -> None:
    """One line per goal of every benchmark that has goals: met, missed or n/a (not measured, e.g.
    without the `hessianfree` environment), the value and the limit."""
    for name, result in report["benchmarks"].items():
        for row in result.get("checks", []):
            if row["measured"] is None:
                status, measured = "n/a   ", "not measured"
            else:
                status, measured = ("met   " if row["met"] else "MISSED"), f"{row['measured']:.3g}"
            print(f"{status}  {name:<13} {row['goal']:<52} {measured:>12}  {row['limit']}")


if __name__ == "__main__":
    main()
