"""One HF iteration of the `hessianfree` package (numpy, 2016) on data from an .npz file.

Runs inside a throwaway environment (numpy < 2); it is not a dependency of the project. Usage:
    python hessianfree_baseline.py DATA.npz CG_ITERS REPEATS
prints JSON: median seconds of one `compute_update` and the CG iterations it ran.
"""

import json
import statistics
import sys
import time

import hessianfree as hf
import numpy as np


def main() -> None:
    path, cg_iters, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = np.load(path)
    inputs, targets, mask = data["inputs"], data["targets"].copy(), data["mask"]
    n_units, alpha, mu = int(data["n_units"]), float(data["alpha"]), float(data["mu"])
    targets[mask == 0] = np.nan  # the package's way of masking the loss
    optimizer = hf.opt.HessianFree(CG_iter=cg_iters, init_damping=1.0, plotting=True)
    net = hf.RNNet(
        shape=[inputs.shape[-1], n_units, targets.shape[-1]],
        layers=[hf.nl.Linear(), hf.nl.Continuous(hf.nl.Tanh(), tau=1.0, dt=alpha), hf.nl.Linear()],
        loss_type=[hf.loss_funcs.SquaredError(), hf.loss_funcs.StructuralDamping(mu, layers=[1], optimizer=optimizer)],
        rec_layers=[1],
        rng=np.random.RandomState(0),
    )
    net.optimizer = optimizer
    times, cg = [], []
    for _ in range(repeats):
        net.cache_minibatch(inputs, targets)
        start = time.perf_counter()
        net.W += optimizer.compute_update(False)
        times.append(time.perf_counter() - start)
        cg.append(int(optimizer.plots["CG iterations"][-1]) if optimizer.plots["CG iterations"] else cg_iters)
    print(json.dumps({"median_s": statistics.median(times), "times_s": times, "cg_iters": cg}))


if __name__ == "__main__":
    main()
