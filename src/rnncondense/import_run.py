"""An imported network as an ordinary run directory: config.toml, params.safetensors, metrics.json.

The [model] table records the variant (form, nonlinearity) and tau, the [task] table the time
step the network was trained at, so every command that reads a run simulates the network as the
package that trained it did. metrics.json holds the import's provenance (file, format, the
members that were not read) and the behaviour on the run's task, evaluated noise-free unless a
noise level was given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax

from rnncondense import storage
from rnncondense.analysis.behavior import BehaviorMetrics, evaluate
from rnncondense.config import RunConfig, config_from_dict, config_to_dict
from rnncondense.errors import ConfigError, FileFormatError
from rnncondense.importers import Imported, import_network
from rnncondense.tasks import make_task

EVAL_SEED = 1  # the evaluation noise, as `rnncondense evaluate`'s default


class ImportResult(NamedTuple):
    run_dir: Path
    imported: Imported
    config: RunConfig
    metrics: BehaviorMetrics


def imported_config(imported: Imported, source: str) -> RunConfig:
    """The run configuration of an imported network on Cue-Set-Go at the network's time step."""
    data: dict[str, Any] = {"model": dict(imported.model), "task": {"dt_ms": imported.dt_ms}}
    try:
        config = config_from_dict(data, source=source)
    except ConfigError as error:
        raise FileFormatError(f"{error} (the imported network's settings)") from None
    task = make_task(config.task)
    n_in, n_out = imported.params.W_in.shape[1], imported.params.W_out.shape[0]
    if (n_in, n_out) != (task.n_inputs, task.n_outputs):
        raise FileFormatError(
            f"{source}: a network with {n_in} inputs and {n_out} outputs cannot run task {config.task.name} "
            f"({task.n_inputs} inputs, {task.n_outputs} output)"
        )
    return config


def import_run(path: str | Path, fmt: str, out: str | Path, **options: Any) -> ImportResult:
    """Read `path` (format `fmt`, reader options as `importers.import_network`) into run directory `out`.

    Everything is read and checked before the directory is created.
    """
    path, out = Path(path), Path(out)
    imported = import_network(path, fmt, **options)
    config = imported_config(imported, str(path))
    task = make_task(config.task)
    metrics = evaluate(
        imported.params, task, alpha=config.alpha, sigma_rec=config.model.sigma_rec,
        key=jax.random.PRNGKey(EVAL_SEED), repeats=config.train.val_noise_repeats, check_finite=True,
        dynamics=config.dynamics,
    )
    storage.prepare_new_run_dir(out)
    storage.write_toml(out / storage.CONFIG_FILE, config_to_dict(config))
    provenance = {"source": str(path), "format": fmt, "summary": imported.summary(), "not_read": list(imported.ignored)}
    storage.save_params(out / storage.PARAMS_FILE, imported.params, meta={"imported": provenance, "task": config.task.name})
    storage.write_json(out / storage.METRICS_FILE, {"validation": metrics.to_dict(), "import": provenance})
    return ImportResult(out, imported, config, metrics)
