"""The goal checks `make bench` prints: an upper or lower bound, what was not measured, and each
benchmark's goals read from the shape of its own result."""

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_analysis, bench_circuits, bench_hessian_free, bench_simulator, bench_sweep, bench_training  # noqa: E402
from benchmarks import bench_batching_floor, bench_dsa, bench_ensemble, bench_fixed_points, bench_default_sweep  # noqa: E402
from benchmarks.common import check  # noqa: E402
from benchmarks.run import BENCHMARKS, print_checks  # noqa: E402


def test_a_goal_is_met_only_on_its_side_of_the_limit():
    assert check("ratio", 1.5, 1.5)["met"] and not check("ratio", 1.51, 1.5)["met"]
    assert check("speedup", 10.0, 10.0, at_most=False)["met"] and not check("speedup", 9.9, 10.0, at_most=False)["met"]
    assert check("ratio", 1.2, 1.5)["limit"] == "<= 1.5" and check("speedup", 12, 10, at_most=False)["limit"] == ">= 10"


def test_a_value_not_measured_misses_its_goal():
    for missing in (None, math.nan, math.inf):
        assert not check("ratio", missing, 1.5)["met"]
        assert not check("speedup", missing, 10.0, at_most=False)["met"]


def test_the_summary_prints_one_line_per_goal(capsys):
    report = {"benchmarks": {"simulator": {"checks": [check("forward", 3.26, 1.5), check("gv", 0.9, 1.5)]},
                             "circuits": {}, "hessian_free": {"checks": [check("speedup", None, 10.0, at_most=False)]}}}
    print_checks(report)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("MISSED") and "3.26" in lines[0] and lines[0].endswith("<= 1.5")
    assert lines[1].startswith("met") and lines[2].startswith("n/a") and "not measured" in lines[2]


def _verdicts(module, result):
    return [(row["goal"], row["met"]) for row in module.checks(result)]


def test_every_benchmark_with_goals_reads_them_from_its_result():
    simulator = {"goals": {"forward_ratio": 1.5, "forward_grad_ratio": 4.0},
                 "sizes": [{"n_units": 200, "forward_ratio": 1.4, "forward_grad_ratio": 4.5}]}
    assert _verdicts(bench_simulator, simulator) == [("forward / one matmul, N = 200", True),
                                                     ("forward+gradient / one matmul, N = 200", False)]

    hf = {"goals": {"gv_ratio": 1.5, "speedup_vs_hessianfree": 10.0},
          "gv": [{"n_units": 50, "gv_in_cg_ratio": 1.6}], "vs_hessianfree": {"n_units": 200, "speedup": 11.0}}
    assert [met for _, met in _verdicts(bench_hessian_free, hf)] == [False, True]
    hf["vs_hessianfree"] = {"skipped": "no baseline environment"}
    assert bench_hessian_free.checks(hf)[-1]["measured"] is None

    def run(time_s, mae, peak):
        return {"time_to_success_s": time_s, "timing_mae_ms": mae, "peak_rss_mb": peak}

    training = {"hf": {"cold": run(14.0, 9.0, 700), "warm": run(9.0, 9.0, 700)},
                "adam": {"cold": run(61.0, 40.0, 300), "warm": run(10.0, 40.0, 501)},
                "hf_over_adam_time_to_success_warm": 0.9}
    assert [met for _, met in _verdicts(bench_training, training)] == [False, False, True, True, True]

    assert _verdicts(bench_analysis, {"results": [{"n_units": 500, "analyze_run_s": 10.5}]}) == [
        ("analyze_run, 500 units (s)", False)]
    assert [met for _, met in _verdicts(bench_sweep, {"peak_worker_rss_mb": 700.0})] == [True]
    circuits = {"respiratory": {"speedup": 25.0, "goal_speedup": 20.0},
                "ring": {"units": 100, "steps": 1000, "simulate_ring_median_ms": 21.0, "goal_ms": 20.0}}
    assert [met for _, met in _verdicts(bench_circuits, circuits)] == [True, False]
    dsa = {"goals": {"spearman": 0.95, "min_pairs": 20}, "vs_dsa_metric": {"pairs": [(0, 1)] * 28, "spearman": 0.97}}
    assert [met for _, met in _verdicts(bench_dsa, dsa)] == [True, True]
    dsa["vs_dsa_metric"] = {"pairs": [(0, 1)] * 28, "skipped": "no baseline environment"}
    assert bench_dsa.checks(dsa)[-1]["measured"] is None
    ensemble = {"goals": {"speedup_16_small": 4.0, "speedup_16_n200": 1.5}, "rows": [
        {"trainer": "adam", "n_units": 10, "members": 16, "speedup_vs_one_at_a_time": 4.2},
        {"trainer": "adam", "n_units": 50, "members": 16, "speedup_vs_one_at_a_time": 3.9},
        {"trainer": "adam", "n_units": 200, "members": 16, "speedup_vs_one_at_a_time": 1.6},
        {"trainer": "hf", "n_units": 10, "members": 4, "speedup_vs_one_at_a_time": 9.0}]}
    assert _verdicts(bench_ensemble, ensemble)[:3] == [("adam ensemble of 16 / one at a time, N = 10", True),
                                                       ("adam ensemble of 16 / one at a time, N = 50", False),
                                                       ("adam ensemble of 16 / one at a time, N = 200", True)]
    assert [row["measured"] for row in bench_ensemble.checks(ensemble)[3:]] == [None, None, None]  # HF: no 16
    fixed_points = {"goals": {"eight_contexts_s": 30.0}, "trained": {"cold_cpu_s": 31.0}}
    assert [met for _, met in _verdicts(bench_fixed_points, fixed_points)] == [False]
    floor = {"cores": 2, "floor_s": {"5": 320.0, "20": 1280.0}, "goals_s": {"5": 300.0, "20": 900.0}}
    assert _verdicts(bench_default_sweep, floor) == [("default sweep floor, 5 seeds x 6 sizes, 2 cores (s)", False),
                                                   ("default sweep floor, 20 seeds x 6 sizes, 2 cores (s)", False)]
    floor["floor_s"] = {"5": 250.0, "20": 1000.0}
    assert [met for _, met in _verdicts(bench_default_sweep, floor)] == [True, False]
    floor.update(goal_wall_over_floor=1.25, goal_peak_worker_rss_mb=1024.0, sweeps=[
        {"ensemble_size": 1, "wall_s": 290.0, "wall_over_floor": 1.16, "peak_worker_rss_mb": 700.0},
        {"ensemble_size": 5, "wall_s": 400.0, "wall_over_floor": 1.6, "peak_worker_rss_mb": 1100.0}])
    assert _verdicts(bench_default_sweep, floor)[2:] == [
        ("default sweep, ensembles of 1: wall time (s)", True), ("default sweep, ensembles of 1: wall time / floor", True),
        ("default sweep, ensembles of 1: peak memory of a worker (MB)", True),
        ("default sweep, ensembles of 5: wall time (s)", False), ("default sweep, ensembles of 5: wall time / floor", False),
        ("default sweep, ensembles of 5: peak memory of a worker (MB)", False)]
    # every benchmark `make bench` runs has its goals checked
    import importlib

    assert {name for name in BENCHMARKS if not hasattr(importlib.import_module(f"benchmarks.bench_{name}"), "checks")} == set()


def test_the_batching_floor_times_programs_that_compute_the_same_steps():
    """The four ways of stepping 16 networks give the same states (so their times compare the same
    work), and the check reads the one-GEMM speedup of the sizes up to 50."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.scipy.linalg import block_diag

    floor = bench_batching_floor

    key = jax.random.PRNGKey(0)
    h = jax.random.normal(key, (floor.MEMBERS, 8, 5))
    W = jax.random.normal(jax.random.fold_in(key, 1), (floor.MEMBERS, 5, 5)) / jnp.sqrt(5)
    matmul = floor._steps(lambda x, w: x @ w, 10)
    one = np.stack([matmul(h[s], W[s]) for s in range(floor.MEMBERS)])
    batched = floor._steps(lambda x, w: jnp.einsum("sbn,snm->sbm", x, w), 10)(h, W)
    blocks = matmul(h.transpose(1, 0, 2).reshape(8, -1), block_diag(*W))
    np.testing.assert_allclose(batched, one, atol=1e-5)
    np.testing.assert_allclose(blocks.reshape(8, floor.MEMBERS, 5).transpose(1, 0, 2), one, atol=1e-5)

    result = floor.run(sizes=[4, 60], repeats=2, steps=10)
    assert [row["n_units"] for row in result["rows"]] == [4, 60]
    (verdict,) = floor.checks(result)
    assert verdict["measured"] == result["rows"][0]["speedup_one_gemm"]  # 60 > 50 is not among the small sizes
