"""Hessian-free speed: the Gauss-Newton product against forward+gradient, and one HF iteration
against the `hessianfree` package (numpy, 2016) on identical data, network size and CG iterations.

The package runs in a throwaway environment (`make bench-baseline` creates .bench-baseline/); the
comparison is skipped, and says so, when that environment is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from benchmarks.common import check, median_ms
from rnncondense import rnn
from rnncondense.tasks import CueSetGo
from rnncondense.train.hessian_free import gauss_newton_operator, hessian_free
from rnncondense.analysis.behavior import masked_mse

ROOT = Path(__file__).resolve().parent.parent
BASELINE_PYTHON = Path(os.environ.get("RNNCONDENSE_HF_BASELINE_PYTHON", ROOT / ".bench-baseline" / "bin" / "python"))
ALPHA = 0.1


def _model(params, batch, key):
    traj = rnn.simulate(params, batch.inputs, alpha=ALPHA)
    return traj.outputs, traj.rates


def _loss(outputs, batch):
    return masked_mse(outputs, batch.targets, batch.mask)


def _network(n: int):
    params = rnn.init_params(jax.random.PRNGKey(1), n)
    return params._replace(W_out=0.1 * jax.random.normal(jax.random.PRNGKey(2), (1, n)))


def gv_against_gradient(sizes=(50, 200, 500), batch: int = 32, repeats: int = 10) -> list[dict]:
    task = CueSetGo()
    data = task.sample(jax.random.PRNGKey(0), batch)
    key = jax.random.PRNGKey(3)
    rows = []
    for n in sizes:
        params = _network(n)
        v = jax.random.normal(jax.random.PRNGKey(4), ravel_pytree(params)[0].shape)

        grad = jax.jit(jax.value_and_grad(lambda p: _loss(_model(p, data, key)[0], data)))

        @jax.jit
        def gv_once(p, v):  # a standalone product: linearise, then one jvp and one transposed jvp
            matvec, _, _ = gauss_newton_operator(_model, _loss, p, data, key, structural_weight=0.03, damping=1.0)
            return matvec(v)

        @jax.jit
        def gv_eleven(p, v):  # inside CG the linearisation is shared: time 11 products on one
            matvec, _, _ = gauss_newton_operator(_model, _loss, p, data, key, structural_weight=0.03, damping=1.0)
            return jax.lax.fori_loop(0, 11, lambda i, x: 1e-3 * matvec(x), v)

        grad_ms = median_ms(lambda: grad(params), repeats=repeats)
        once_ms = median_ms(lambda: gv_once(params, v), repeats=repeats)
        eleven_ms = median_ms(lambda: gv_eleven(params, v), repeats=repeats)
        in_cg_ms = (eleven_ms - once_ms) / 10
        rows.append({
            "n_units": n,
            "batch": batch,
            "forward_grad_ms": grad_ms,
            "gv_standalone_ms": once_ms,
            "gv_in_cg_ms": in_cg_ms,
            "gv_standalone_ratio": once_ms / grad_ms,
            "gv_in_cg_ratio": in_cg_ms / grad_ms,
        })
    return rows


def against_hessianfree_package(n: int = 200, batch: int = 64, cg_iters: int = 50, repeats: int = 3) -> dict:
    if not BASELINE_PYTHON.exists():
        return {"skipped": f"no baseline environment at {BASELINE_PYTHON}; run `make bench-baseline`"}
    task = CueSetGo()
    data = task.sample(jax.random.PRNGKey(0), batch)
    mu = 1.0 / 30.0

    # ours: the same data as gradient and curvature batch, no noise; CG runs until it converges
    # (at most cg_iters), and the package is then asked for exactly as many CG iterations
    optimizer = hessian_free(initial_damping=1.0, structural_damping=mu, cg_max_iters=cg_iters, cg_progress_tol=1e-30)
    params = _network(n)
    state = optimizer.init(params)
    key = jax.random.PRNGKey(0)
    counts = []

    def one_iteration():
        nonlocal params, state
        params, state, info = optimizer.update(params, state, model_fn=_model, loss_fn=_loss, grad_batch=data,
                                               curvature_batch=data, key=key)
        counts.append(int(info["cg_iters"]))

    one_iteration()  # compiles
    ours_ms = median_ms(one_iteration, repeats=repeats, warmup=0)
    cg_ours = counts[0]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, inputs=np.asarray(data.inputs), targets=np.asarray(data.targets), mask=np.asarray(data.mask),
                 n_units=n, alpha=ALPHA, mu=mu)
        proc = subprocess.run([str(BASELINE_PYTHON), str(ROOT / "benchmarks" / "hessianfree_baseline.py"), str(path),
                               str(cg_ours), str(repeats)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "baseline failed"}
    baseline = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "n_units": n,
        "batch": batch,
        "cg_iters_requested": cg_iters,
        "cg_iters_ours": counts,
        "cg_iters_hessianfree": [i + 1 for i in baseline["cg_iters"]],  # the package reports the last index
        "ours_ms": ours_ms,
        "hessianfree_ms": 1e3 * baseline["median_s"],
        "speedup": 1e3 * baseline["median_s"] / ours_ms,
        "speedup_per_cg_iteration": (1e3 * baseline["median_s"] / np.median([i + 1 for i in baseline["cg_iters"]]))
        / (ours_ms / np.median(counts[1:])),
    }


def run() -> dict:
    return {
        "description": __doc__.strip().splitlines()[0],
        "goals": {"gv_ratio": 1.5, "speedup_vs_hessianfree": 10.0},
        "gv": gv_against_gradient(),
        "vs_hessianfree": against_hessianfree_package(),
    }


def checks(result: dict) -> list[dict]:
    goals, vs = result["goals"], result["vs_hessianfree"]
    rows = [check(f"G v in CG / forward+gradient, N = {row['n_units']}", row["gv_in_cg_ratio"], goals["gv_ratio"])
            for row in result["gv"]]
    rows.append(check(f"one HF iteration, speedup over hessianfree, N = {vs.get('n_units', 200)}", vs.get("speedup"),
                      goals["speedup_vs_hessianfree"], at_most=False))
    return rows


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
