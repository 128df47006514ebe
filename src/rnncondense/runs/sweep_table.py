"""The sweep's tidy results table, assembled from the networks' result.json files.

One row per network (size, seed[, axis value]) with the columns of `COLUMNS`:

    size, seed [, <axis field>], network, status ("done", "diverged", "failed" or "missing"), error
    task metrics of the kept network on the validation batch (noisy trials, `train.val_noise_repeats`):
        success, mse, timing_mae_ms, timing_rel_error, miss_rate
    solution-type metrics, noise-free condition-averaged activity (`solution_metrics`, k = 3):
        pcs_90, participation_ratio, scaling_index, scaling_index_pc1..3, ramp_fraction,
        spectral_radius, max_real_eigenvalue, n_normalized_by_target
    dynamics, fixed points per context (`analysis.dynamics`, the "records" preset: 3 contexts):
        n_fixed_points, n_stable_points, n_saddles, slow_manifold_dim, slowest_time_constant_ms
    training and cost: iterations, best_iteration, success_iteration, time_to_success_s,
        train_time_s (training loop, s), analysis_time_s, wall_s and cpu_time_s (the worker process's
        CPU time, all threads) of the last attempt (s), attempt,
        peak_rss_mb (the worker process's peak resident memory when the network finished),
        ensemble_members (networks trained with it in one program, `run_sweep(ensemble_size=...)`;
        its train_time_s is then the ensemble's, its wall_s and cpu_time_s its share)

written as DIR/results.csv and as DIR/results.nc, an xarray Dataset with dims (size, seed[, axis
field]) holding one variable per column (numbers as float64 with NaN where missing; success as
1.0 / 0.0).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from rnncondense import layout, storage, ties
from rnncondense.errors import FileFormatError
from rnncondense.metrics import DYNAMICS_METRICS, METRICS, TASK_METRICS
from rnncondense.sweep.spec import SweepSpec

__all__ = ["COLUMNS", "result_row", "check_result", "rows_to_dataset", "write_tables", "read_table",
           "size_summary", "SUMMARY_METRICS"]

TABLE_FORMAT = "rnncondense-sweep-table-1"
TASK_COLUMNS = TASK_METRICS
SOLUTION_COLUMNS = ("pcs_90", "participation_ratio", "scaling_index", "scaling_index_pc1", "scaling_index_pc2",
                    "scaling_index_pc3", "ramp_fraction", "spectral_radius", "max_real_eigenvalue",
                    "n_normalized_by_target", *DYNAMICS_METRICS)
COST_COLUMNS = ("iterations", "best_iteration", "success_iteration", "time_to_success_s", "train_time_s",
                "analysis_time_s", "wall_s", "cpu_time_s", "attempt", "peak_rss_mb", "ensemble_members")
TEXT_COLUMNS = ("network", "status", "error")
SUMMARY_METRICS = ("timing_rel_error", "pcs_90", "participation_ratio", "scaling_index", "ramp_fraction",
                   "spectral_radius", "train_time_s")
COLUMNS = ("size", "seed", *TEXT_COLUMNS[:2], *TASK_COLUMNS, *SOLUTION_COLUMNS, *COST_COLUMNS, "error")


def _columns(spec: SweepSpec) -> list[str]:
    columns = list(COLUMNS)
    if spec.axis is not None:
        columns.insert(2, spec.axis.field)
    return columns


def result_row(spec: SweepSpec, job, result: dict[str, Any] | None, *, error: str | None = None) -> dict[str, Any]:
    """One table row for `job` from its result.json (None: the network has no result)."""
    row: dict[str, Any] = {"size": job.size, "seed": job.seed, "network": job.name}
    if spec.axis is not None:
        row[spec.axis.field] = job.axis_value
    if result is None:
        row.update(status="failed" if error else "missing", error=error or "")
        return row
    row["status"] = result["status"]
    row["error"] = result.get("error", "")
    row.update(_numbers(result))
    return row


RESULT_SECTIONS = ("task", "training", "solution", "timing", "worker")


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    """The numeric columns of a network's row, as its result.json holds them."""
    task, training = result.get("task") or {}, result.get("training") or {}
    solution, timing = result.get("solution") or {}, result.get("timing") or {}
    numbers = {name: task.get(name) for name in TASK_COLUMNS}
    numbers.update({name: solution.get(name) for name in SOLUTION_COLUMNS if not name.startswith("scaling_index_pc")})
    pcs = solution.get("scaling_index_pcs") or []
    for i, value in enumerate(pcs[:3] if isinstance(pcs, list) else [pcs]):
        numbers[f"scaling_index_pc{i + 1}"] = value
    numbers.update(
        iterations=training.get("iterations"),
        best_iteration=training.get("best_iteration"),
        success_iteration=training.get("success_iteration"),
        time_to_success_s=training.get("time_to_success_s"),
        train_time_s=training.get("elapsed_s"),
        analysis_time_s=timing.get("analysis_s"),
        wall_s=timing.get("wall_s"),
        cpu_time_s=timing.get("cpu_s"),
        attempt=result.get("attempt"),
        peak_rss_mb=(result.get("worker") or {}).get("peak_rss_mb"),
        ensemble_members=len(result["ensemble"]) if isinstance(result.get("ensemble"), list) else 1,
    )
    return numbers


def check_result(result: dict[str, Any], path: Path) -> None:
    """Check that a network's result.json holds what the table reads from it: a status, and a
    number (or null) for every numeric column.

    Raises:
        FileFormatError: one line naming the file, the entry and its value.
    """
    if result.get("status") not in ("done", "diverged"):
        raise FileFormatError(f"{path}: status = {result.get('status')!r} is not allowed: expected 'done' or 'diverged'")
    for section in RESULT_SECTIONS:
        if not isinstance(result.get(section) or {}, dict):
            raise FileFormatError(f"{path}: {section} = {result[section]!r:.60} is not allowed: expected an object")
    numbers = _numbers(result)
    storage.check_entries(path, numbers, dict.fromkeys(numbers, (bool, *storage.OPTIONAL_NUMBER)))


def _number(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    return float(value)


def rows_to_dataset(spec: SweepSpec, rows: list[dict[str, Any]]) -> xr.Dataset:
    """The rows as a Dataset with dims (size, seed[, axis field]); every cell is one network."""
    dims = ["size", "seed"]
    coords: dict[str, Any] = {"size": ("size", np.array(spec.sizes)), "seed": ("seed", np.arange(spec.seeds))}
    if spec.axis is not None:
        dims.append(spec.axis.field)
        coords[spec.axis.field] = (spec.axis.field, np.array(spec.axis.values))
    shape = tuple(len(coords[d][1]) for d in dims)
    where = {
        "size": {v: i for i, v in enumerate(spec.sizes)},
        "seed": {v: i for i, v in enumerate(range(spec.seeds))},
    }
    if spec.axis is not None:
        where[spec.axis.field] = {repr(v): i for i, v in enumerate(spec.axis.values)}
    numeric = [c for c in COLUMNS if c not in ("size", "seed", *TEXT_COLUMNS)]
    data = {name: np.full(shape, np.nan) for name in numeric}
    text = {name: np.full(shape, "", dtype=object) for name in TEXT_COLUMNS}
    for row in rows:
        index = (where["size"][row["size"]], where["seed"][row["seed"]])
        if spec.axis is not None:
            index += (where[spec.axis.field][repr(row[spec.axis.field])],)
        for name in numeric:
            data[name][index] = _number(row.get(name))
        for name in TEXT_COLUMNS:
            text[name][index] = str(row.get(name) or "")
    variables = {}
    for name, values in data.items():
        entry = METRICS.get(name)
        attrs = {} if entry is None else {"long_name": entry.description, **({"units": entry.unit} if entry.unit else {})}
        variables[name] = (dims, values, attrs)
    for name, values in text.items():
        variables[name] = (dims, values.astype(str))
    return xr.Dataset(
        variables,
        coords=coords,
        attrs={"format": TABLE_FORMAT, "sweep": json.dumps(spec.record(), sort_keys=True)},
    )


def write_tables(out: Path, spec: SweepSpec, rows: list[dict[str, Any]]) -> tuple[xr.Dataset, list[Path]]:
    """Write DIR/results.csv (rows sorted by size, seed[, axis]) and DIR/results.nc, atomically."""
    rows = sorted(rows, key=lambda r: (r["size"], r["seed"], repr(r.get(spec.axis.field)) if spec.axis else ""))
    ties.write_csv(out / layout.SWEEP_RESULTS_CSV, rows, _columns(spec))  # with sidecars (ties)
    table = rows_to_dataset(spec, rows)
    ties.sealed(out / layout.SWEEP_RESULTS_NC, lambda: storage.write_netcdf(out / layout.SWEEP_RESULTS_NC, table))
    return table, [out / layout.SWEEP_RESULTS_CSV, out / layout.SWEEP_RESULTS_NC]


def read_table(out: str | Path) -> xr.Dataset:
    """Read DIR/results.nc fully into memory."""
    path = Path(out) / layout.SWEEP_RESULTS_NC
    if not path.is_file():
        raise FileFormatError(f"{path}: file not found; run the sweep first")
    ties.verify(path)
    try:
        table = xr.load_dataset(path, engine="h5netcdf")
    except Exception as error:  # h5py and h5netcdf raise many kinds for a file that is not NetCDF-4
        raise FileFormatError(f"{path}: not a readable NetCDF file ({type(error).__name__})") from None
    if table.attrs.get("format") != TABLE_FORMAT:
        raise FileFormatError(f"{path}: not an rnncondense sweep table")
    return table


def size_summary(table: xr.Dataset, metrics: tuple[str, ...] = SUMMARY_METRICS) -> list[dict[str, Any]]:
    """Per size (and extra-axis value): networks, finished, success fraction, and the median, 25th
    and 75th percentile over seeds of each metric (finished networks only; None where none)."""
    extra = [dim for dim in table["mse"].dims if dim not in ("size", "seed")]
    cells = [{}] if not extra else [{extra[0]: value} for value in np.asarray(table[extra[0]])]
    summary = []
    for size in np.asarray(table["size"]):
        for where in cells:
            cell = table.sel(size=size, **where)
            done = np.asarray(cell["status"]).astype(str) == "done"
            success = np.asarray(cell["success"], dtype=float)[done]
            success = success[np.isfinite(success)]  # NaN: a task without a success of its own (arrays)
            row: dict[str, Any] = {"size": int(size)}
            row.update({k: v.item() if hasattr(v, "item") else v for k, v in where.items()})
            row.update(networks=int(done.size), finished=int(done.sum()),
                       success_fraction=float(success.mean()) if success.size else None)
            for name in metrics:
                values = np.asarray(cell[name], dtype=float)[done]
                values = values[np.isfinite(values)]
                quartiles = np.percentile(values, [25, 50, 75]) if values.size else [None] * 3
                row[name] = None if not values.size else float(quartiles[1])
                row[f"{name}_q25"] = None if not values.size else float(quartiles[0])
                row[f"{name}_q75"] = None if not values.size else float(quartiles[2])
            summary.append(row)
    return summary
