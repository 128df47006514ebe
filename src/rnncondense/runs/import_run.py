"""An imported network as an ordinary run directory: config.toml, params.safetensors, metrics.json.

The [model] table records the variant (form, nonlinearity) and tau, the [task] table the time
step the network was trained at, so every command that reads a run simulates the network as the
package that trained it did. The task is Cue-Set-Go, or a file of trials (tasks/arrays.py) given
with `task_path`. metrics.json holds the import's provenance (file, format, the members that were
not read) and the behaviour on the task's validation trials, evaluated noise-free unless a noise
level was given: the task metrics of Cue-Set-Go, or the task-independent ones
(analysis/task_metrics.py) of a file of trials, and names which (`criterion`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax

from rnncondense import layout, storage, ties
from rnncondense.analysis.behavior import BehaviorMetrics
from rnncondense.analysis.task_metrics import CRITERIA, ArrayTaskMetrics, evaluate_run_task
from rnncondense.config import RunConfig, config_digest, config_from_dict, config_to_dict
from rnncondense.errors import ConfigError, FileFormatError
from rnncondense.importers import Imported, import_network
from rnncondense.tasks import make_task

EVAL_SEED = 1  # the evaluation noise, as `rnncondense evaluate`'s default


class ImportResult(NamedTuple):
    run_dir: Path
    imported: Imported
    config: RunConfig
    metrics: BehaviorMetrics | ArrayTaskMetrics


def imported_config(imported: Imported, source: str, task_path: Path | None = None) -> RunConfig:
    """The run configuration of an imported network at its time step, on Cue-Set-Go or, with
    `task_path`, on that file of trials."""
    task: dict[str, Any] = {"dt_ms": imported.dt_ms}
    if task_path is not None:
        task.update(name="arrays", path=str(Path(task_path).resolve()))
    data: dict[str, Any] = {"model": dict(imported.model), "task": task}
    try:
        config = config_from_dict(data, source=source)
    except ConfigError as error:
        raise FileFormatError(f"{error} (the imported network's settings)") from None
    task = make_task(config.task)
    n_in, n_out = imported.params.W_in.shape[1], imported.params.W_out.shape[0]
    if (n_in, n_out) != (task.n_inputs, task.n_outputs):
        raise FileFormatError(
            f"{source}: a network with {n_in} inputs and {n_out} outputs cannot run task {config.task.name} "
            f"({task.n_inputs} inputs, {task.n_outputs} outputs)"
            + ("" if task_path is not None else "; give the network's own task with --task TRIALS.npz")
        )
    return config


def import_run(path: str | Path, fmt: str, out: str | Path, *, task_path: str | Path | None = None, **options: Any) -> ImportResult:
    """Read `path` (format `fmt`, reader options as `importers.import_network`) into run directory
    `out`, on Cue-Set-Go or on the file of trials `task_path`.

    Everything is read and checked before the directory is created.
    """
    path, out = Path(path), Path(out)
    imported = import_network(path, fmt, **options)
    config = imported_config(imported, str(path), None if task_path is None else Path(task_path))
    metrics = evaluate_run_task(imported.params, config, key=jax.random.PRNGKey(EVAL_SEED), repeats=config.train.val_noise_repeats)
    storage.prepare_new_run_dir(out)
    storage.write_toml(out / layout.CONFIG_FILE, config_to_dict(config))
    provenance = {"source": str(path), "format": fmt, "summary": imported.summary(), "not_read": list(imported.ignored)}
    record = {"validation": metrics.to_dict(), "criterion": CRITERIA[config.task.name], "import": provenance}
    storage.save_params(out / layout.PARAMS_FILE, imported.params, meta={
        "imported": provenance, "task": config.task.name,
        ties.CONFIG_KEY: config_digest(config), ties.METRICS_KEY: ties.json_digest(record),  # as train_run
    })
    storage.write_json(out / layout.METRICS_FILE, record)
    return ImportResult(out, imported, config, metrics)
