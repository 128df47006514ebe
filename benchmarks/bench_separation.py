"""Which similarity separates solution types: Procrustes, CCA and DSA on a small population of
trained networks, against their untrained initial networks.

Population: a size sweep (`runs.sweep.run_sweep`, the quick study's budget: 30 Hessian-free
iterations, no stop at success) of 10, 20 and 40 units x 3 seeds; RNNCONDENSE_SEPARATION_SWEEP
names an existing sweep directory to use instead (its networks that finished). Controls: each
network's untrained initial state (`runs.train.init_network` with the run's own init key: what its
training started from), same sizes and seeds.

Measures, all on noise-free condition-averaged activity (`condition_activity`):
- Procrustes and CCA similarity of the time-normalised trajectories in each network's top 3 PCs
  (`analysis.similarity`), 1 = identical;
- DSA (`analysis.dsa`, Ostrow et al. 2023) of the Set-aligned rates with 10 delays and rank 10, as
  `rnncondense compare`; a distance in radians, so its similarity is minus the distance.

Separation of sizes: the ROC AUC of within-size pairs (trained, same size, other seed) against
between-size pairs (trained, other size): the probability that a random within-size pair is more
similar than a random between-size pair (Mann-Whitney; ties count one half). Control: every
trained-against-untrained pair (any sizes) against every within-size trained pair: the AUC and
whether the ordering is perfect (every control pair less similar than every within-size pair, the
issue's criterion for the headline measure).
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import check
from rnncondense import layout
from rnncondense.analysis.activity import condition_activity, time_normalized
from rnncondense.analysis.dsa import dsa
from rnncondense.analysis.similarity import DSA_N_DELAYS as N_DELAYS, DSA_RANK as RANK, similarity
from rnncondense.config import load_config
from rnncondense.runs.train import RunKeys, init_network, load_run
from rnncondense.tasks import make_task

ROOT = Path(__file__).resolve().parent.parent
SIZES, SEEDS, MAX_ITERS = (10, 20, 40), 3, 30
K = 3
MEASURES = ("procrustes", "cca", "dsa")


def train_population(out: Path) -> Path:
    from rnncondense.runs.sweep import run_sweep

    config = load_config(ROOT / "configs" / "study.toml")
    config = config.model_copy(update={"train": config.train.model_copy(update={"max_iters": MAX_ITERS, "stop_on_success": False})})
    run_sweep(config, sizes=list(SIZES), seeds=SEEDS, out=out, figures=False)
    return out


def networks(sweep_dir: Path) -> list[dict]:
    """Each finished network of the sweep, trained and untrained: size, seed, trained, activity."""
    found = []
    for run_dir in sorted((sweep_dir / layout.NETWORKS_DIR).iterdir()):
        if not (run_dir / layout.NETWORK_RESULT_FILE).is_file() or not (run_dir / layout.PARAMS_FILE).is_file():
            continue
        config, params = load_run(run_dir)
        untrained = init_network(config, RunKeys.from_seed(config.train.seed).init, make_task(config.task))
        for trained, network in ((True, params), (False, untrained)):
            found.append({"name": run_dir.name, "size": config.model.n_units, "seed": config.train.seed,
                          "trained": trained, "activity": condition_activity(network, config)})
    return found


def pair_scores(a: dict, b: dict) -> dict:
    geometry = similarity(time_normalized(a["activity"]), time_normalized(b["activity"]), k=min(K, a["size"], b["size"]))
    dynamics = dsa(a["activity"]["rate"].values, b["activity"]["rate"].values, n_delays=N_DELAYS, rank=RANK)
    return {"procrustes": geometry.procrustes, "cca": geometry.cca, "dsa": -dynamics.distance}


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """P(a random positive scores above a random negative), ties one half (the ROC AUC)."""
    if not positives or not negatives:
        return None
    p, n = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(np.mean((p > n) + 0.5 * (p == n)))


def separation(nets: list[dict]) -> dict:
    trained = [n for n in nets if n["trained"]]
    untrained = [n for n in nets if not n["trained"]]
    pairs = {"within": [], "between": [], "control": []}
    for a, b in itertools.combinations(trained, 2):
        pairs["within" if a["size"] == b["size"] else "between"].append((a, b))
    pairs["control"] = [(a, b) for a in trained for b in untrained]
    scores = {kind: [pair_scores(a, b) for a, b in members] for kind, members in pairs.items()}
    table = {}
    for measure in MEASURES:
        within = [s[measure] for s in scores["within"]]
        between = [s[measure] for s in scores["between"]]
        control = [s[measure] for s in scores["control"]]
        table[measure] = {
            "size_auc": auc(within, between),
            "control_auc": auc(within, control),
            "control_perfect": bool(within and control and min(within) > max(control)),
            "within_median": float(np.median(within)) if within else None,
            "between_median": float(np.median(between)) if between else None,
            "control_median": float(np.median(control)) if control else None,
            "within_min": float(np.min(within)) if within else None,
            "control_max": float(np.max(control)) if control else None,
        }
    label = lambda n: f"{n['name']}{'' if n['trained'] else ' (untrained)'}"  # noqa: E731
    scored = [{"kind": kind, "a": label(a), "b": label(b), **score}
              for kind, members in pairs.items() for (a, b), score in zip(members, scores[kind])]
    return {"pairs": {kind: len(members) for kind, members in pairs.items()}, "table": table, "scores": scored}


def headline(table: dict) -> str:
    """The measure to lead with: among those whose control ordering is perfect, the best size AUC
    (ties: the control AUC); if none is perfect, the best control AUC."""
    perfect = [m for m in MEASURES if table[m]["control_perfect"]]
    pool = perfect or list(MEASURES)
    key = (lambda m: (table[m]["size_auc"] or 0.0, table[m]["control_auc"] or 0.0)) if perfect else \
          (lambda m: (table[m]["control_auc"] or 0.0, table[m]["size_auc"] or 0.0))
    return max(pool, key=key)


def run() -> dict:
    started = time.perf_counter()
    given = os.environ.get("RNNCONDENSE_SEPARATION_SWEEP")
    with tempfile.TemporaryDirectory() as tmp:
        sweep_dir = Path(given) if given else train_population(Path(tmp) / "sweep")
        trained_s = time.perf_counter() - started
        nets = networks(sweep_dir)
    measured = separation(nets)
    sizes = sorted({n["size"] for n in nets})
    return {
        "description": __doc__.strip().splitlines()[0],
        "population": {"sweep": given or f"sizes {list(SIZES)} x {SEEDS} seeds, {MAX_ITERS} HF iterations",
                       "sizes": sizes, "trained_networks": sum(n["trained"] for n in nets)},
        "settings": {"k": K, "dsa_n_delays": N_DELAYS, "dsa_rank": RANK},
        **measured,
        "headline": headline(measured["table"]),
        "train_s": trained_s,
        "compare_s": time.perf_counter() - started - trained_s,
        "goals": {"headline_control_perfect": 1.0},
    }


def checks(result: dict) -> list[dict]:
    best = result["table"][result["headline"]]
    return [
        check("headline measure: every control pair below every same-size pair", float(best["control_perfect"]),
              result["goals"]["headline_control_perfect"], at_most=False),
    ]
