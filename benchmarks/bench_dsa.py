"""Dynamical similarity against the authors' package: our `dsa` and `dsa-metric` 2.0.2 on the same
trajectories of small rate networks, all pairs, ranked alike (Spearman) and timed.

The package needs PyTorch, so it runs in a throwaway environment (`make bench-dsa-baseline` creates
.bench-dsa-baseline/; RNNCONDENSE_DSA_BASELINE_PYTHON points elsewhere); the comparison is skipped,
and says so, when that environment is absent.

Systems: 8 rate networks of 16 units (rnn.py, alpha 0.1, noise-free) with W_rec ~ N(0, g^2 / N) for
g in {0.6, 1.0, 1.4, 1.8} and two seeds each, a random bias, the cue input held at 0.3; 20 trials of
80 steps from x0 ~ N(0, 1). Their dynamics range from one stable point (g < 1) to chaos (g = 1.8),
so the 28 pairs span a range of distances. Both sides use n_delays 5, rank 8, no ridge; the
package its default optimiser settings (1500 Adam steps, lr 5e-3) with the angular score.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import spearmanr

from benchmarks.common import check
from rnncondense import rnn
from rnncondense.analysis.dsa import dsa

ROOT = Path(__file__).resolve().parent.parent
BASELINE_PYTHON = Path(os.environ.get("RNNCONDENSE_DSA_BASELINE_PYTHON", ROOT / ".bench-dsa-baseline" / "bin" / "python"))
GAINS = (0.6, 1.0, 1.4, 1.8)
SEEDS = (0, 1)
N_UNITS, TRIALS, STEPS, ALPHA, CUE = 16, 20, 80, 0.1, 0.3
N_DELAYS, RANK = 5, 8
REFERENCE_ITERS, REFERENCE_LR = 1500, 5e-3


def systems() -> list[np.ndarray]:
    """Trajectories (TRIALS, STEPS, N_UNITS) of each network, in the order gains x seeds."""
    out = []
    for g, seed in itertools.product(GAINS, SEEDS):
        key = jax.random.PRNGKey(100 + seed)
        params = rnn.init_params(key, N_UNITS, g=g)
        params = params._replace(b=0.2 * jax.random.normal(jax.random.fold_in(key, 1), (N_UNITS,)))
        x0 = jax.random.normal(jax.random.fold_in(key, 2), (TRIALS, N_UNITS))
        inputs = jnp.zeros((TRIALS, STEPS, 2)).at[:, :, 0].set(CUE)
        # each trial from its own initial state: x0 enters through the first step's drive
        states = jax.vmap(lambda x: rnn.simulate(params._replace(x0=x), inputs[:1], alpha=ALPHA).states[0])(x0)
        out.append(np.asarray(states, dtype=np.float64))
    return out


def compare(pairs_limit: int | None = None) -> dict:
    trajectories = systems()
    labels = [f"g={g} seed={s}" for g, s in itertools.product(GAINS, SEEDS)]
    pairs = list(itertools.combinations(range(len(trajectories)), 2))[:pairs_limit]
    start = time.perf_counter()
    ours = [dsa(trajectories[i], trajectories[j], n_delays=N_DELAYS, rank=RANK).distance for i, j in pairs]
    ours_s = time.perf_counter() - start
    result = {"systems": labels, "pairs": pairs, "n_delays": N_DELAYS, "rank": RANK, "ours": ours, "ours_s": ours_s}
    if not BASELINE_PYTHON.exists():
        return {**result, "skipped": f"no baseline environment at {BASELINE_PYTHON}; run `make bench-dsa-baseline`"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "systems.npz"
        arrays = {f"system_{k}": t for k, t in enumerate(trajectories)}
        np.savez(path, pairs=np.asarray(pairs), n_delays=N_DELAYS, rank=RANK, iters=REFERENCE_ITERS, lr=REFERENCE_LR, **arrays)
        proc = subprocess.run([str(BASELINE_PYTHON), str(ROOT / "benchmarks" / "dsa_baseline.py"), str(path)],
                              capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {**result, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "baseline failed"}
    reference = json.loads(proc.stdout.strip().splitlines()[-1])
    theirs = np.asarray(reference["distances"])
    rho = float(spearmanr(ours, theirs).statistic)
    return {
        **result,
        "dsa_metric": theirs.tolist(),
        "spearman": rho,
        "ours_minus_theirs_mean": float(np.mean(np.asarray(ours) - theirs)),
        "ours_minus_theirs_max_abs": float(np.max(np.abs(np.asarray(ours) - theirs))),
        "ours_below_theirs_fraction": float(np.mean(np.asarray(ours) <= theirs + 1e-6)),
        "dsa_metric_s": reference["fit_s"] + reference["compare_s"],
        "torch": reference["torch"],
    }


def run() -> dict:
    return {"description": __doc__.strip().splitlines()[0], "goals": {"spearman": 0.95, "min_pairs": 20},
            "vs_dsa_metric": compare()}


def checks(result: dict) -> list[dict]:
    goals, vs = result["goals"], result["vs_dsa_metric"]
    return [
        check("pairs compared", float(len(vs["pairs"])), goals["min_pairs"], at_most=False),
        check("Spearman rho, ours vs dsa-metric 2.0.2", vs.get("spearman"), goals["spearman"], at_most=False),
    ]
