"""Size sweeps: how the solution type depends on network size, on a local or an existing Dask cluster.

    rnncondense sweep configs/sweep.toml --sizes 5,10,20,50,100,200 --seeds 5 --out DIR
        [--scheduler tcp://host:port] [--workers N] [--axis model.g=1.0,1.5]

or from Python `rnncondense.runs.sweep.run_sweep(config, sizes=[...], seeds=5, out=DIR)`. This package
holds what a sweep is (`spec`) and where it runs (`cluster`); `rnncondense.runs.sweep` runs it. Every (size, seed) network is
trained from scratch on the same task for the same number of iterations, `train.max_iters`:
`train.stop_on_success` must be false, since a network stopped at its first success would get a
smaller budget than the others and size would be confounded with budget. Each network is then
analysed with `solution_metrics` (noise-free condition-averaged activity, k = 3).

DIR holds
    sweep.json                 the sweep: resolved base config, sizes, seeds, axis (a rerun with
                               other arguments into DIR is refused; the same arguments continue it)
    networks/n050_s2/          an ordinary run directory per network (config.toml, params.safetensors,
                               history.csv, analysis/activity.nc, ...) plus attempt.json and
                               result.json, written by the worker as soon as the network is done
    results.csv, results.nc    one row per network (`runs.sweep_table`), assembled from the result.json files
    figures/                   metrics against size, example unit responses per size (`plots.sweep`)

Execution. By default a `distributed.LocalCluster` with one single-threaded worker process per
core. A network whose worker dies is rescheduled by Dask (up to `cluster.ALLOWED_FAILURES` times)
and continues from its last checkpoint; running the same command again skips finished networks.

On SLURM, start a cluster with dask-jobqueue (not a dependency of rnncondense) in a Python session
that stays open while the sweep runs, and pass its scheduler address:

    import dask; from dask_jobqueue import SLURMCluster
    dask.config.set({"distributed.scheduler.allowed-failures": 3, "distributed.scheduler.worker-saturation": 1.0})
    cluster = SLURMCluster(cores=1, processes=1, memory="2GB", walltime="04:00:00",
                           job_script_prologue=["source /path/to/.venv/bin/activate"])
    cluster.scale(jobs=30); print(cluster.scheduler_address)   # tcp://10.0.0.5:8786

    rnncondense sweep configs/sweep.toml --sizes ... --seeds 5 --out DIR --scheduler tcp://10.0.0.5:8786

Each worker limits XLA and BLAS to one thread before its first network (`runtime.limit_threads`),
so give each job one core per worker process; the workers must see DIR (a shared file system).
"""

from rnncondense.sweep.cluster import ALLOWED_FAILURES, available_cores, connect, local_cluster
from rnncondense.sweep.spec import Axis, NetworkJob, SweepSpec, make_spec, parse_axis, parse_sizes

__all__ = [
    "ALLOWED_FAILURES",
    "Axis",
    "NetworkJob",
    "SweepSpec",
    "available_cores",
    "connect",
    "local_cluster",
    "make_spec",
    "parse_axis",
    "parse_sizes",
]
