"""Simulator speed: forward and forward+gradient against plain matrix products of the same FLOPs.

For N units, batch B and T steps the forward pass costs T matrix products (B, N) x (N, N), i.e.
2 T B N^2 FLOPs. Three baselines for those FLOPs are timed in the same run:
  - `matmul_ms`: one (T B, N) x (N, N) product (jax), the machine's best case for these FLOPs;
  - `matmul_seq_ms`: the same T products (B, N) x (N, N) one after another (numpy, BLAS);
  - `matmul_scan_ms`: the same T products as a `lax.scan` in which each product takes the
    previous one's result, x_t = x_{t-1} W, as the recurrence must: no tanh, no input, no noise.
    No scan-based simulator can beat it, so `matmul_scan_ratio` = matmul_scan_ms / matmul_ms is
    the floor of `forward_ratio` on this machine, and `forward_ratio_vs_scan` says how far the
    forward pass is from that floor.
Ratios are forward / matmul_ms and forward+gradient / matmul_ms. The gradient also costs ~2x the
forward FLOPs, so forward+gradient can at best be ~3x the matmul time; with its two sequential
scans (forward and adjoint) it is at best about 2 matmul_scan_ratio + 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import check, median_ms
from rnncondense import rnn
from rnncondense.tasks import CueSetGo
from rnncondense.analysis.behavior import masked_mse


def run(sizes=(50, 200, 500), batch: int = 32, repeats: int = 15) -> dict:
    task = CueSetGo()
    n_steps = task.n_steps
    data = task.sample(jax.random.PRNGKey(0), batch)
    inputs_tm = jnp.swapaxes(data.inputs, 0, 1)
    targets, mask = data.targets, data.mask
    results = []
    for n in sizes:
        params = rnn.init_params(jax.random.PRNGKey(1), n)._replace(W_out=jnp.full((1, n), 1.0 / n))

        def loss(p, simulate_fn):
            outputs = jnp.swapaxes(simulate_fn(p, inputs_tm, None, alpha=0.1).outputs, 0, 1)
            return masked_mse(outputs, targets, mask)

        forward = jax.jit(lambda p: loss(p, rnn.simulate_time_major))
        grad = jax.jit(jax.value_and_grad(lambda p: loss(p, rnn.simulate_time_major)))
        grad_plain = jax.jit(jax.value_and_grad(lambda p: loss(p, rnn.simulate_reference)))
        noise = jax.jit(lambda k: rnn.recurrent_noise(k, (n_steps, batch, n), alpha=0.1, sigma_rec=0.05))
        a = jax.random.normal(jax.random.PRNGKey(2), (n_steps * batch, n))
        w = jax.random.normal(jax.random.PRNGKey(3), (n, n))
        matmul = jax.jit(lambda a, w: a @ w)
        a_np, w_np = np.asarray(a).reshape(n_steps, batch, n), np.asarray(w)

        chained = jax.jit(lambda x, w: jax.lax.scan(lambda x, _: (x @ w, x), x, None, length=n_steps)[1])
        x_first, w_scaled = a[:batch], w / np.sqrt(n)  # keeps |x_t| of order 1 over all steps

        def matmul_seq():
            for t in range(n_steps):
                a_np[t] @ w_np

        row = {
            "n_units": n,
            "batch": batch,
            "n_steps": n_steps,
            "forward_gflop": 2 * n_steps * batch * n * n / 1e9,
            "forward_ms": median_ms(lambda: forward(params), repeats=repeats),
            "forward_grad_ms": median_ms(lambda: grad(params), repeats=repeats),
            "forward_grad_plain_autodiff_ms": median_ms(lambda: grad_plain(params), repeats=repeats),
            "noise_generation_ms": median_ms(lambda: noise(jax.random.PRNGKey(4)), repeats=repeats),
            "matmul_ms": median_ms(lambda: matmul(a, w), repeats=repeats),
            "matmul_seq_ms": median_ms(matmul_seq, repeats=repeats),
            "matmul_scan_ms": median_ms(lambda: chained(x_first, w_scaled), repeats=repeats),
        }
        row["matmul_scan_ratio"] = row["matmul_scan_ms"] / row["matmul_ms"]
        row["forward_ratio"] = row["forward_ms"] / row["matmul_ms"]
        row["forward_grad_ratio"] = row["forward_grad_ms"] / row["matmul_ms"]
        row["forward_ratio_vs_scan"] = row["forward_ms"] / row["matmul_scan_ms"]
        row["forward_ratio_vs_seq"] = row["forward_ms"] / row["matmul_seq_ms"]
        row["forward_grad_ratio_vs_seq"] = row["forward_grad_ms"] / row["matmul_seq_ms"]
        results.append(row)
    return {
        "description": __doc__.strip().splitlines()[0],
        "goals": {"forward_ratio": 1.5, "forward_grad_ratio": 4.0},
        "sizes": results,
    }


def checks(result: dict) -> list[dict]:
    goals = result["goals"]
    return [
        check(f"{name} / one matmul, N = {row['n_units']}", row[key], goals[key])
        for row in result["sizes"]
        for key, name in (("forward_ratio", "forward"), ("forward_grad_ratio", "forward+gradient"))
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
