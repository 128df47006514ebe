"""Dynamical similarity by the authors' package `dsa-metric` 2.0.2 (Ostrow et al. 2023) on data from an .npz file.

Runs inside a throwaway environment with PyTorch (`make bench-dsa-baseline`); it is not a dependency
of the project. Usage:
    python dsa_baseline.py DATA.npz
DATA.npz holds `system_0`, `system_1`, ... (trials, time, units), `pairs` (P, 2), `n_delays`, `rank`,
`iters` and `lr`. Prints JSON: the angular distance of every pair (radians), the eigenvalues of
each fitted operator and the seconds taken.
"""

import json
import sys
import time

import numpy as np
import torch
from DSA.dmd import DMD
from DSA.simdist import SimilarityTransformDist


def main() -> None:
    data = np.load(sys.argv[1])
    n_delays, rank = int(data["n_delays"]), int(data["rank"])
    iters, lr = int(data["iters"]), float(data["lr"])
    names = sorted((k for k in data.files if k.startswith("system_")), key=lambda k: int(k.split("_")[1]))
    torch.manual_seed(0)
    start = time.perf_counter()
    operators = []
    for name in names:
        dmd = DMD(data[name], n_delays=n_delays, rank=rank, lamb=0.0, device="cpu")
        dmd.fit()
        operators.append(dmd.A_v.detach().clone())
    fitted = time.perf_counter()
    distances = []
    for i, j in data["pairs"]:
        metric = SimilarityTransformDist(iters=iters, score_method="angular", lr=lr, device="cpu")
        distances.append(float(metric.fit_score(operators[i].clone(), operators[j].clone())))
    eigenvalues = [np.linalg.eigvals(a.double().numpy()) for a in operators]
    print(json.dumps({
        "distances": distances,
        "eigenvalues_real": [e.real.tolist() for e in eigenvalues],
        "eigenvalues_imag": [e.imag.tolist() for e in eigenvalues],
        "fit_s": fitted - start,
        "compare_s": time.perf_counter() - fitted,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
