"""The study as one self-contained web page: figures embedded, no scripts, no network access.

`write_report(study_dir)` reads whatever a study directory holds and writes
`study_dir/report.html` with a section for each part that exists:

    base/                  the task and the base network (run directory, with analysis/)
    condense/<method>/...  condensation runs (one-shot curves, iterative, preserving, canonical)
    sweep/                 the size sweep
    circuits/<name>/       the circuit models
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterable

from rnncondense import layout, storage, ties
from rnncondense.analysis.findings import Condensation, Finding, OneShotRun, study_findings
from rnncondense.config import config_digest, load_config
from rnncondense.dirlock import holding
from rnncondense.errors import FileFormatError, RunDirError
from rnncondense.metrics import DYNAMICS_METRICS, SOLUTION_METRICS, metric

_ROOT: ContextVar[Path | None] = ContextVar("report_root", default=None)  # the directory being reported


def report_kind(directory: Path) -> str:
    """'study', 'condensation' or 'run': what `directory` is, by the files that mark it (a study: its
    study.json or any part a study writes: base/config.toml, sweep/sweep.json, circuits/*/summary.json,
    condense/**/condense.json).

    Raises:
        RunDirError: `directory` is missing, a file, or none of those (report writes only into its own
            kinds of directory, never over a user's report.html elsewhere).
    """
    if not directory.is_dir():
        what = "is a file, not a directory" if directory.exists() else "does not exist"
        raise RunDirError(f"'{directory}' {what}; give a study, condensation or run directory")
    parts = [directory / layout.STUDY_FILE, directory / layout.STUDY_BASE_DIR / layout.CONFIG_FILE,
             directory / layout.STUDY_SWEEP_DIR / layout.SWEEP_FILE,
             *directory.glob(f"{layout.STUDY_CIRCUITS_DIR}/*/{layout.CIRCUIT_SUMMARY_FILE}"),
             *directory.glob(f"{layout.STUDY_CONDENSE_DIR}/**/{layout.CONDENSE_SETTINGS_FILE}")]
    marks = {"study": parts, "condensation": [directory / layout.CONDENSE_SETTINGS_FILE],
             "run": [directory / layout.CONFIG_FILE]}
    for kind, paths in marks.items():
        if any(path.is_file() and not path.is_symlink() for path in paths):
            return kind
    raise RunDirError(
        f"'{directory}' is not a study, condensation or run directory (it holds no {layout.STUDY_FILE}, "
        f"{layout.CONDENSE_SETTINGS_FILE} or {layout.CONFIG_FILE}); report writes {layout.REPORT_FILE} only into one of those"
    )


def _contained(path: Path) -> Path:
    """`path`, refused if it leads out of the directory being reported (through a symbolic link)."""
    root = _ROOT.get()
    if root is not None:
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            raise FileFormatError(f"{path}: a symbolic link out of '{root}'; the report reads only files inside it")
    return path
MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; line-height: 1.45; }
header { background: #14213d; color: #fff; padding: 28px 40px; }
header h1 { margin: 0 0 6px 0; font-size: 26px; }
header p { margin: 0; color: #cfd6e6; max-width: 980px; }
nav { padding: 10px 40px; background: #e9edf5; font-size: 14px; }
nav a { margin-right: 18px; color: #14213d; text-decoration: none; font-weight: 600; }
main { padding: 10px 40px 60px 40px; max-width: 1280px; }
section { margin-top: 34px; }
h2 { border-bottom: 2px solid #14213d; padding-bottom: 4px; }
h3 { margin-bottom: 4px; }
.figs { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; background: #fff; border: 1px solid #e2e2e2; padding: 8px; border-radius: 4px; }
figure img { max-width: 100%; height: auto; display: block; }
figure.wide { flex: 1 1 100%; }
figure.half { flex: 1 1 45%; max-width: 620px; }
figcaption { font-size: 12.5px; color: #555; margin-top: 4px; max-width: 900px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 14px 0; background: #fff; }
th, td { border: 1px solid #d9d9d9; padding: 4px 8px; text-align: right; }
th { background: #eef1f7; }
td.name, th.name { text-align: left; }
.ok { color: #1a7f37; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
.note { font-size: 13.5px; color: #333; max-width: 980px; }
ol.findings { max-width: 1100px; font-size: 15px; } ol.findings li { margin-bottom: 10px; }
li.unsupported { color: #555; }
"""


# ------------------------------------------------------------------------------ small builders


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def figure_anchor(path: Path) -> str:
    """The page anchor of the figure file `path` (its stage folder, sub-folder and stem), which
    the findings link to: condense/iterative/figures/metrics_vs_size.png -> fig-iterative-metrics_vs_size."""
    parts = [part for part in (path.parent.parent.name, path.parent.name, path.stem) if part != layout.FIGURES_DIR]
    return "fig-" + re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(parts))


def figure(path: Path, caption: str, *, size: str = "half") -> str:
    """An <figure> with the image embedded as a data URI (nothing is fetched when the page opens)."""
    data = base64.b64encode(_contained(path).read_bytes()).decode("ascii")
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return (
        f'<figure class="{size}" id="{figure_anchor(path)}"><img alt="{_esc(caption)}" src="data:{mime};base64,{data}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


MISSING = "missing-figure"


def figures(items: Iterable[tuple[Path, str, str]]) -> str:
    """The figures `items` (path, caption, size) side by side. Each item is a figure the report
    expects: one that is missing becomes a visible placeholder naming its file (never a silent
    gap), and `write_report(strict=True)` refuses the page."""
    shown = [
        figure(path, caption, size=size) if path.is_file()
        else f'<figure class="{size} {MISSING}" data-path="{_esc(path)}" id="{figure_anchor(path)}"><figcaption>missing figure: {_esc(path)}</figcaption></figure>'
        for path, caption, size in items
    ]
    return f'<div class="figs">{"".join(shown)}</div>' if shown else ""


def _figure(directory: Path, stem: str) -> Path:
    return directory / layout.FIGURES_DIR / layout.figure_file(stem)


def fmt(value: Any, digits: int = 3) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return '<span class="ok">yes</span>' if value else '<span class="bad">no</span>'
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return fmt(lowered == "true")
        try:
            value = float(value)
        except ValueError:
            return _esc(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.{digits}g}"
    return _esc(value)


def table(rows: list[dict], columns: list[tuple[str, str]], *, name_column: str | None = None) -> str:
    head = "".join(f'<th class="{"name" if key == name_column else ""}">{_esc(label)}</th>' for key, label in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"name" if key == name_column else ""}">{fmt(row.get(key))}</td>' for key, _ in columns)
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _inside(directory: Path, name: str) -> Path | None:
    """`directory / name` if it stays inside `directory` (a summary file cannot point elsewhere)."""
    try:
        return storage.safe_child(directory, name)
    except Exception:
        return None


def _read_json(path: Path, required: dict[str, type | tuple[type, ...]] | None = None) -> dict | None:
    """The JSON object in `path`, None if there is no such file. A damaged or foreign file is
    refused (FileFormatError naming it), and so is one whose `required` entries are missing or
    of another type."""
    if not path.exists():
        return None
    data = ties.read_json(_contained(path))  # an edited record with a sidecar is refused
    storage.check_entries(path, data, required or {})
    return data


def _read_csv(path: Path, required: tuple[str, ...] = ()) -> list[dict]:
    """The rows of a CSV file, [] if there is no such file (`storage.read_rows` refuses a damaged one)."""
    return ties.read_rows(_contained(path), required=required) if path.exists() else []


def _columns(names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(key, label) table columns of registry metrics."""
    return [(name, metric(name).axis_label()) for name in names]


TASK_COLUMNS = _columns(("mse", "timing_mae_ms", "timing_rel_error", "miss_rate", "success"))
SOLUTION_COLUMNS = _columns(SOLUTION_METRICS)
# a task of trials from a file (tasks/arrays.py): task-independent behaviour; timing, scaling and
# ramps need Cue-Set-Go's structure and show as not applicable
ARRAY_TASK_COLUMNS = _columns(("mse", "output_correlation", "timing_rel_error", "success"))
NOT_APPLICABLE = "n/a"


def _not_applicable(row: dict, names: Iterable[str]) -> dict:
    """`row` with the metrics `names` shown as not applicable (never as a missing number)."""
    return {**row, **dict.fromkeys(names, NOT_APPLICABLE)}


ARRAY_NOT_APPLICABLE = ("timing_mae_ms", "timing_rel_error", "miss_rate", "scaling_index", "ramp_fraction", "produced_ms")
DYNAMICS_COLUMNS = _columns(DYNAMICS_METRICS)


# ------------------------------------------------------------------------------ sections


def base_section(study: Path, overview: list[dict], *, run: Path | None = None) -> tuple[str, str] | None:
    run = study / layout.STUDY_BASE_DIR if run is None else run
    metrics = _read_json(run / layout.METRICS_FILE, {"validation": dict, "training": dict})
    if metrics is not None and (run / layout.PARAMS_FILE).is_file():  # an edited metrics.json or config.toml is refused
        _, meta = storage.load_tensors(_contained(run / layout.PARAMS_FILE), kind="params")
        ties.check(run / layout.METRICS_FILE, ties.json_digest(metrics), meta, ties.METRICS_KEY, run / layout.PARAMS_FILE)
        if (run / layout.CONFIG_FILE).is_file():  # the page prints it
            saved = load_config(_contained(run / layout.CONFIG_FILE))
            ties.check(run / layout.CONFIG_FILE, config_digest(saved), meta, ties.CONFIG_KEY, run / layout.PARAMS_FILE)
    if metrics is None:
        return None
    validation, training = metrics["validation"], metrics["training"]
    storage.check_entries(run / layout.METRICS_FILE, training, {"n_units": int, "trainer": str, "iterations": int,
                                                      "elapsed_s": storage.NUMBER, "time_to_success_s": storage.OPTIONAL_NUMBER})
    analysis = _read_json(run / layout.ANALYSIS_DIR / layout.ANALYSIS_METRICS_FILE) or {}
    row = {"name": f"base ({training['n_units']} units)", **validation, **analysis}
    if "output_correlation" in validation:  # trials from a file
        return _array_base_section(run, _not_applicable(row, (*ARRAY_NOT_APPLICABLE, "success")), metrics, analysis, overview)
    overview.append(row)
    config = _contained(run / layout.CONFIG_FILE).read_text(encoding="utf-8", errors="replace") if (run / layout.CONFIG_FILE).is_file() else ""
    time_to = training.get("time_to_success_s")
    text = (
        f"<p class='note'>A {training['n_units']}-unit rate network trained with {training['trainer']} for "
        f"{training['iterations']} iterations ({training['elapsed_s']:.0f} s"
        + (f"; success after {time_to:.0f} s" if time_to else "")
        + "). The context cue's level encodes the interval; the output must ramp from the Set pulse "
        "and cross 1 one interval later.</p>"
    )
    body = text + table([row], [("name", "network")] + TASK_COLUMNS + SOLUTION_COLUMNS + DYNAMICS_COLUMNS,
                        name_column="name")
    shown = [
        ("task", "Inputs (cue, Set), target and output for every interval, noise-free.", "half"),
        ("behavior", "Produced against target interval (mean and SD over noisy validation trials).", "half"),
        ("units", "Activity of the most active units, aligned to Set, coloured by interval.", "wide"),
    ]
    if analysis:
        shown += [
            ("pc_trajectories_2d", "Condition-averaged population trajectories in PC space.", "half"),
            ("pc_trajectories_3d", "The same in the top three PCs.", "half"),
            ("variance_explained", "Variance explained by each PC.", "half"),
            ("eigenvalues", "Eigenvalues of the trained W_rec.", "half"),
            ("unit_responses_normalized", "Unit responses in normalised time: one curve per unit means perfect temporal scaling.", "wide"),
            ("scaling_index", "Scaling indices of units and PCs (Wang et al. 2018).", "half"),
        ]
        if (analysis.get("fixed_points") or {}).get("interval_ms"):  # analyze found fixed points: it drew them
            shown += [
                ("fixed_points", "How the network computes (Sussillo & Barak 2013): trajectories from cue onset in "
                 "their top two PCs, coloured by interval, and each context's fixed points with its cue held and no "
                 "Set (filled: stable, open: saddle, cross: unstable), with each point's slowest direction and the "
                 "line the cue moves the fixed point along (the slow manifold).", "half"),
                ("time_constants", "Slowest time constant of each context's fixed points against its interval "
                 "(Wang et al. 2018: the cue sets the speed at which the state moves).", "half"),
            ]
        if len(analysis.get("variance_explained", [])) < 3:  # analyze draws the 3D view only with 3 PCs
            shown = [item for item in shown if item[0] != "pc_trajectories_3d"]
    body += figures((_figure(run, stem), caption, size) for stem, caption, size in shown)
    body += f"<details><summary>config.toml</summary><pre>{_esc(config)}</pre></details>"
    return "The task and the base network", body


def _array_base_section(run: Path, row: dict, metrics: dict, analysis: dict, overview: list[dict]) -> tuple[str, str]:
    """`base_section` of a network on a task of trials from a file (tasks/arrays.py)."""
    overview.append(row)
    training = metrics["training"]
    config = _contained(run / layout.CONFIG_FILE).read_text(encoding="utf-8", errors="replace") if (run / layout.CONFIG_FILE).is_file() else ""
    text = (
        f"<p class='note'>A {training['n_units']}-unit rate network trained with {training['trainer']} for "
        f"{training['iterations']} iterations ({training['elapsed_s']:.0f} s) on a task given as trials from a file. "
        f"It is judged by {_esc(metrics.get('criterion', 'task-independent metrics'))}; the kept network has the "
        "lowest validation mse. Timing, scaling index and ramp fraction need Cue-Set-Go's structure: "
        f"{NOT_APPLICABLE} (not applicable).</p>"
    )
    body = text + table([row], [("name", "network")] + ARRAY_TASK_COLUMNS + SOLUTION_COLUMNS, name_column="name")
    shown = [("task", "Condition means of output (solid) and target (dashed), noise-free.", "half"),
             ("units", "Condition-averaged rates of the most active units.", "wide")]
    if analysis:
        shown += [
            ("pc_trajectories_2d", "Condition-averaged population trajectories in PC space, from trial start.", "half"),
            ("variance_explained", "Variance explained by each PC.", "half"),
            ("eigenvalues", "Eigenvalues of the trained W_rec.", "half"),
            ("unit_responses", "Condition-averaged responses of the most variable units.", "wide"),
        ]
    body += figures((_figure(run, stem), caption, size) for stem, caption, size in shown)
    body += f"<details><summary>config.toml</summary><pre>{_esc(config)}</pre></details>"
    return "The task and the base network", body


def _condense_label(settings: dict) -> str:
    label = f"{settings['method']}: {settings['similarity']} pairs, {settings['operator']} merges"
    if settings["method"] in ("iterative", "preserving"):
        label += f", retraining {'for a fixed budget' if settings.get('retrain_until') == 'budget' else 'until success'}"
    return label


SUMMARY_COLUMNS = ("step", "n_units", "success")


def _step(row: dict, path: Path) -> int:
    try:
        return int(row["step"])
    except (TypeError, ValueError):
        raise FileFormatError(f"{path}: step = {row['step']!r:.60} is not allowed: expected an integer") from None


def _condense_settings(run: Path) -> dict:
    """The settings in a condensation's condense.json, checked for what the report shows."""
    path = run / layout.CONDENSE_SETTINGS_FILE
    settings = _read_json(path, {"settings": dict})["settings"]
    storage.check_entries(path, settings, {"method": str, "similarity": str, "operator": str})
    return settings


def condense_section(study: Path, overview: list[dict], *, root: Path | None = None) -> tuple[str, str] | None:
    root = study / layout.STUDY_CONDENSE_DIR if root is None else root
    runs = sorted(p.parent for p in root.glob(f"**/{layout.CONDENSE_SETTINGS_FILE}")) if root.is_dir() else []
    if not runs:
        return None
    body = ["<p class='note'>Units are merged pairwise (the closest by the stated similarity), passing the "
            "removed unit's outgoing weights to the units that stay. One-shot merges never retrain; "
            "iterative retrains after every step; preserving retrains with an extra term that keeps the "
            "trajectories aligned with the original's principal components; canonical clusters the units "
            "into K response types.</p>"]
    settings_of = {run: _condense_settings(run) for run in runs}
    one_shot = [r for r in runs if settings_of[r]["method"] == "one-shot"]
    if one_shot:
        rows = []
        for run in one_shot:
            settings = settings_of[run]
            records = _read_csv(run / layout.CONDENSE_SUMMARY_FILE, SUMMARY_COLUMNS)
            failed = [r for r in records[1:] if str(r["success"]).lower() != "true"]
            rows.append({
                "name": f"{settings['similarity']} / {settings['operator']}",
                "merges": (_step(failed[0], run / layout.CONDENSE_SUMMARY_FILE) - 1) if failed else len(records) - 1,
                "units": records[-1]["n_units"] if records else "",
            })
        body.append(f'<h3 id="{ONE_SHOT_ANCHOR}">One-shot: merges made before the task fails</h3>')
        body.append(table(rows, [("name", "similarity / operator"), ("merges", "merges before failure"),
                                 ("units", "units at failure")], name_column="name"))
        best = max(one_shot, key=lambda r: len(_read_csv(r / layout.CONDENSE_SUMMARY_FILE, SUMMARY_COLUMNS)))
        body.append(figures([
            (_figure(best, "metrics_vs_size"), f"Metrics against size, {best.name}.", "wide"),
            (_figure(best, "behavior_per_step"), f"Behaviour after merging, {best.name}.", "wide"),
        ]))
    for run in runs:
        if run in one_shot:
            continue
        settings = settings_of[run]
        result = _read_json(run / layout.CONDENSE_RESULT_FILE, {"reason": str, "final": dict}) or {}
        records = _read_csv(run / layout.CONDENSE_SUMMARY_FILE, SUMMARY_COLUMNS)
        final = result.get("final", {})
        arrays = "output_correlation" in final or any(r.get("output_correlation") not in (None, "") for r in records)
        if arrays:  # trials from a file: timing, scaling and ramps are not applicable
            final = _not_applicable(final, ARRAY_NOT_APPLICABLE) if final else final
            records = [_not_applicable(r, ARRAY_NOT_APPLICABLE) for r in records]
        if final:
            overview.append({"name": f"{settings['method']} ({final.get('n_units')} units)", **final})
        body.append(f'<h3 id="condense-{_esc(run.name)}">{_esc(_condense_label(settings))}</h3>')
        criterion = f" The task counted as kept by {result['criterion']}." if isinstance(result.get("criterion"), str) else ""
        body.append(f"<p class='note'>{_esc(result.get('reason', 'not finished'))}.{_esc(criterion)}</p>")
        task_columns = ARRAY_TASK_COLUMNS if arrays else TASK_COLUMNS[2:]
        body.append(table(records, [("step", "step"), ("n_units", "units")] + task_columns
                          + _columns(("scaling_index", "ramp_fraction", "n_saddles", "slowest_time_constant_ms",
                                      "dsa_distance", "similarity_procrustes"))
                          + [("retrain_iterations", "retrain iterations")]))
        if not result:  # not finished: its figures are drawn at the end
            continue
        shown = [
            ("metrics_vs_size", "Every metric against the number of units.", "wide"),
            ("behavior_per_step", "Behaviour after selected steps.", "wide"),
            ("original_vs_final", "Eigenvalues and trajectories, original and final network.", "half"),
        ]
        if settings["method"] == "canonical":
            shown.append(("canonical_responses", "The canonical responses after retraining.", "half"))
        body.append(figures((_figure(run, stem), caption, size) for stem, caption, size in shown))
    return "Condensation", "".join(body)


ONE_SHOT_ANCHOR = "one-shot"


def study_records(study: Path) -> tuple[list[OneShotRun], list[Condensation], list[dict]]:
    """What the findings are computed from: the one-shot curves, the other condensations (each
    with its summary.csv rows, finished when its result.json exists) and the sweep's results.csv."""
    root = study / layout.STUDY_CONDENSE_DIR
    runs = sorted(p.parent for p in root.glob(f"**/{layout.CONDENSE_SETTINGS_FILE}")) if root.is_dir() else []
    one_shot, others = [], []
    for run in runs:
        settings = _condense_settings(run)
        records = _read_csv(run / layout.CONDENSE_SUMMARY_FILE, SUMMARY_COLUMNS)
        result = _read_json(run / layout.CONDENSE_RESULT_FILE, {"reason": str})  # checked (ties) even if only its presence counts
        finished = result is not None
        if settings["method"] == "one-shot":
            one_shot.append(OneShotRun(run.name, settings["similarity"], settings["operator"], records, finished))
        else:
            result = result or {}
            others.append(Condensation(run.name, settings["method"], settings["operator"], settings["similarity"],
                                       settings.get("retrain_until", "success"), records, finished,
                                       result.get("reason", "")))
    sweep_rows = _read_csv(study / layout.STUDY_SWEEP_DIR / layout.SWEEP_RESULTS_CSV, ("size", "seed", "status"))
    return one_shot, others, sweep_rows


def _finding_anchor(study: Path, finding: Finding) -> str | None:
    """The figure (or table) below that a finding rests on."""
    if finding.source is None or not finding.supported and not finding.values:
        return None
    if finding.key in ("one_shot_seed", "best_operator"):
        return ONE_SHOT_ANCHOR
    if finding.key == "sweep":
        return figure_anchor(_figure(study / layout.STUDY_SWEEP_DIR, "solution_vs_size"))
    return figure_anchor(_figure(study / layout.STUDY_CONDENSE_DIR / finding.source, "metrics_vs_size"))


VERDICT = {True: '<span class="ok">reproduces the original</span>',
           False: '<span class="bad">does not reproduce the original</span>', None: ""}


def _sweep_table(finding: Finding) -> str:
    """Median [25th-75th percentile] per size (columns) and metric (rows), failed networks counted."""
    if not finding.table:
        return ""
    sizes = sorted({row["size"] for row in finding.table})
    names = list(dict.fromkeys(row["metric"] for row in finding.table))
    cell = {(row["metric"], row["size"]): row for row in finding.table}
    head = "".join(f"<th>{size} units</th>" for size in sizes)
    body = []
    for name in names:
        entry = metric(name)
        cells = []
        for size in sizes:
            row = cell.get((name, size))
            if row is None or row["median"] is None:
                cells.append("<td>–</td>")
            else:
                spread = (f" [{entry.formatted(row['q25'])}–{entry.formatted(row['q75'])}]" if row["networks"] > 1 else "")
                cells.append(f"<td>{entry.formatted(row['median'])}{spread} <small>n={row['networks']}</small></td>")
        body.append(f'<tr><td class="name">{_esc(entry.label)}</td>{"".join(cells)}</tr>')
    failed = finding.values.get("failed_by_size", {})
    body.append('<tr><td class="name">networks that failed (left out)</td>'
                + "".join(f"<td>{failed.get(size, 0)}</td>" for size in sizes) + "</tr>")
    return (f'<table class="sweep-findings"><thead><tr><th class="name">median [IQR] over networks that did the task</th>'
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def findings_section(study: Path) -> tuple[str, str] | None:
    """The study's answer, first: one sentence per finding, computed from its files
    (`analysis.findings.study_findings`), each linking to the figure it rests on."""
    one_shot, others, sweep_rows = study_records(study)
    if not one_shot and not others and not sweep_rows:
        return None
    items = []
    for finding in study_findings(one_shot, others, sweep_rows):
        anchor = _finding_anchor(study, finding)
        link = f' <a href="#{anchor}">(figure)</a>' if anchor else ""
        values = _esc(json.dumps(finding.values, sort_keys=True, default=str))
        items.append(
            f'<li class="finding{"" if finding.supported else " unsupported"}" id="finding-{finding.key}" '
            f'data-values="{values}"><strong>{_esc(finding.title)}.</strong> {_esc(finding.text)} '
            f"{VERDICT[finding.reproduces]}{link}"
            + (_sweep_table(finding) if finding.key == "sweep" else "") + "</li>")
    intro = ("<p class='note'>Each finding is computed from this study's files when the page is written; "
             "the original observations are those of the seed study (DESIGN.md).</p>")
    return "Findings", intro + f"<ol class='findings'>{''.join(items)}</ol>"


def sweep_section(study: Path, overview: list[dict]) -> tuple[str, str] | None:
    root = study / layout.STUDY_SWEEP_DIR
    rows = _read_csv(root / layout.SWEEP_RESULTS_CSV, ("size", "seed"))
    if not rows:
        return None
    columns = ([("size", "units"), ("seed", "seed")] + TASK_COLUMNS[2:] + SOLUTION_COLUMNS[:4]
               + _columns(("n_stable_points", "n_saddles", "slowest_time_constant_ms")))
    body = "<p class='note'>Networks of each size trained from scratch on the same task with the same budget.</p>"
    body += table(rows, [c for c in columns if c[0] in rows[0]])
    stems = [stem for stem in layout.SWEEP_FIGURES
             if stem != "unit_responses_by_size" or _figure(root, stem).is_file()]  # needs an analysed network
    body += figures((_figure(root, stem), stem.replace("_", " "), "wide") for stem in stems)  # readable at page width
    return "Size sweep", body


def circuits_section(study: Path) -> tuple[str, str] | None:
    root = study / layout.STUDY_CIRCUITS_DIR
    summaries = sorted(root.glob(f"*/{layout.CIRCUIT_SUMMARY_FILE}")) if root.is_dir() else []
    if not summaries:
        return None
    body = []
    for path in summaries:
        summary = _read_json(path, {"files": list}) or {}
        body.append(f"<h3>{_esc(summary.get('circuit', path.parent.name))}: {_esc(summary.get('title', ''))}</h3>")
        body.append(f"<p class='note'>{_esc(summary.get('text', ''))} <em>{_esc(summary.get('reference', ''))}</em></p>")
        files = [_inside(path.parent, f) for f in summary.get("files", []) if isinstance(f, str) and Path(f).suffix in MIME]
        files = [f for f in files if f is not None]
        body.append(figures((f, f.stem.replace("_", " "), "half") for f in files))
    return "Circuit models", "".join(body)


def overview_section(overview: list[dict]) -> tuple[str, str] | None:
    if not overview:
        return None
    columns = ([("name", "network")] + TASK_COLUMNS + SOLUTION_COLUMNS
               + _columns(("n_saddles", "slowest_time_constant_ms", "dsa_distance", "similarity_procrustes")))
    return "Every metric", table(overview, columns, name_column="name")


@holding("study_dir", create=False)  # one writer per directory (dirlock)
def write_report(study_dir: str | Path, *, strict: bool = False) -> Path:
    """Write `study_dir/report.html` from the parts of the study that exist (or of the one run or
    condensation that `study_dir` is); no other directory is written into (`report_kind`), and no
    file is read through a symbolic link that leads out of it.

    A figure that a finished part should have drawn but is missing shows as a placeholder
    naming its file; with `strict` (the tests) it is an error instead, and nothing is written.
    """
    study = Path(study_dir)
    kind = report_kind(study)
    token = _ROOT.set(study.resolve())
    try:
        overview: list[dict] = []
        if kind == "run":
            parts = (base_section(study, overview, run=study), overview_section(overview))
        elif kind == "condensation":
            parts = (condense_section(study, overview, root=study), overview_section(overview))
        else:
            parts = (
                findings_section(study),
                base_section(study, overview),
                condense_section(study, overview),
                sweep_section(study, []),
                overview_section(overview),
                circuits_section(study),
            )
    finally:
        _ROOT.reset(token)
    sections = [s for s in parts if s]
    anchors = [title.lower().replace(" ", "-") for title, _ in sections]
    nav = "".join(f'<a href="#{a}">{_esc(t)}</a>' for a, (t, _) in zip(anchors, sections))
    content = "".join(f'<section id="{a}"><h2>{_esc(t)}</h2>{body}</section>' for a, (t, body) in zip(anchors, sections))
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>rnncondense study: {_esc(study.name)}</title><style>{STYLE}</style></head><body>"
        "<header><h1>Can a trained RNN be condensed into a few canonical responses?</h1>"
        "<p>Rate networks trained on Cue-Set-Go (Wang, Narain, Hosseini &amp; Jazayeri 2018), condensed by "
        "merging similar units, and compared by their solution type. "
        f"Study <code>{_esc(study.resolve())}</code>, written {time.strftime('%Y-%m-%d %H:%M')}.</p></header>"
        f"<nav>{nav}</nav><main>{content or '<p>Nothing to report yet.</p>'}</main></body></html>"
    )
    missing = re.findall(rf'class="\w+ {MISSING}" data-path="([^"]*)"', page)
    if strict and missing:
        raise FileFormatError(f"{html.unescape(missing[0])}: figure missing ({len(missing)} in all) in the report of {study}")
    path = study / layout.REPORT_FILE
    storage.atomic_write_text(path, page)
    return path
