"""Analysis speed: `analyze_run` on a 500-unit network (goal: under 10 s), and its parts.

The network is an initialised one with a random readout (W_out ~ N(0, 1/N)), written as a run
directory under a temporary folder; the cost of the analysis does not depend on training. Parts,
each a median over repeats measured in this run (compilation excluded by a warm-up call):
  - `metrics_ms`: `solution_metrics` (simulation of 8 noise-free trials per interval, time
    normalisation, PCA, scaling index, ramps, eigenvalues of W_rec);
  - `write_ms`: activity.nc (NetCDF-4) and metrics.json;
  - `figures_ms`: drawing and saving the seven figures;
  - `analyze_run_ms`: the whole call, loading included.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python benchmarks/bench_analysis.py`

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import check, median_ms  # noqa: E402
from rnncondense import layout
from rnncondense import storage  # noqa: E402
from rnncondense.runs.analyze import analyze_run, write_activity  # noqa: E402
from rnncondense.analysis.summary import solution_metrics  # noqa: E402
from rnncondense.config import config_from_dict, config_to_dict  # noqa: E402
from rnncondense.rnn import init_params  # noqa: E402

GOAL_S = 10.0


def _network(n_units: int):
    params = init_params(jax.random.PRNGKey(0), n_units)
    readout = jax.random.normal(jax.random.PRNGKey(1), (1, n_units)) / np.sqrt(n_units)
    return params._replace(W_out=readout, b_out=jnp.zeros(1))


def run(n_units: int = 500, repeats: int = 3) -> dict:
    from rnncondense.plots.analysis import (
        eigenvalue_spectrum,
        pc_trajectories_2d,
        pc_trajectories_3d,
        scaling_histogram,
        top_variance_units,
        unit_responses,
        variance_explained,
    )
    from rnncondense.plots.common import save_figure

    config = config_from_dict({"model": {"n_units": n_units}})
    params = _network(n_units)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        storage.write_toml(run_dir / layout.CONFIG_FILE, config_to_dict(config))
        storage.save_params(run_dir / layout.PARAMS_FILE, params)
        out = Path(tmp) / "out"

        metrics = solution_metrics(params, config)

        def write():
            write_activity(metrics.activity, out / "activity.nc")
            storage.write_json(out / "metrics.json", metrics.numbers)

        def figures():
            activity, trajectories, pcs = metrics.activity, metrics.trajectories, metrics.pca
            units = top_variance_units(trajectories, 12)
            drawn = [
                variance_explained(pcs),
                pc_trajectories_2d(activity, pcs),
                pc_trajectories_3d(activity, pcs),
                unit_responses(activity, units, scaling=metrics.scaling, ramps=metrics.ramps),
                unit_responses(activity, units, trajectories=trajectories),
                eigenvalue_spectrum(metrics.spectrum),
                scaling_histogram(metrics.scaling, pcs=metrics.scaling_pcs),
            ]
            for i, fig in enumerate(drawn):
                save_figure(fig, out / f"figure_{i}.png")

        row = {
            "n_units": n_units,
            "n_intervals": len(config.task.intervals_ms),
            "n_steps": int(metrics.activity.sizes["time"]),
            "metrics_ms": median_ms(lambda: solution_metrics(params, config), repeats=repeats + 2, warmup=1),
            "write_ms": median_ms(write, repeats=repeats + 2, warmup=1),
            "figures_ms": median_ms(figures, repeats=repeats, warmup=1),
            "analyze_run_ms": median_ms(lambda: analyze_run(run_dir), repeats=repeats, warmup=1),
        }
    row["analyze_run_s"] = row["analyze_run_ms"] / 1e3
    row["meets_goal"] = bool(row["analyze_run_s"] <= GOAL_S)
    return {
        "description": __doc__.strip().splitlines()[0],
        "goals": {"analyze_run_s": GOAL_S},
        "results": [row],
    }


def checks(result: dict) -> list[dict]:
    return [check(f"analyze_run, {row['n_units']} units (s)", row["analyze_run_s"], GOAL_S) for row in result["results"]]


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
