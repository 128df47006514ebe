"""A condensation as a directory: every step saved as it finishes, resumable, summarised.

    DIR/condense.json            the source run, its checksum and the resolved settings
    DIR/steps/step_NNN/          network.safetensors (params, alive mask, original unit ids)
                                 record.json (written last: the step is complete when it exists)
    DIR/summary.csv              one row per step: size, task metrics, solution type, similarity
    DIR/result.json              why the schedule stopped, by which criterion the task was kept, and the final step
    DIR/figures/                 behaviour per step, metrics against size, original vs final
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from rnncondense import layout, storage, ties
from rnncondense.analysis.summary import solution_metrics
from rnncondense.condense.config import CondenseConfig, check_against_network
from rnncondense.condense.schedules import Context, State, canonical, iterative, measure, one_shot, start
from rnncondense.config import RunConfig
from rnncondense.dirlock import holding
from rnncondense.errors import ConfigError, FileFormatError, RunDirError
from rnncondense.metrics import DYNAMICS_METRICS
from rnncondense.plots.analysis import unit_responses
from rnncondense.plots.condense import ARRAY_PANELS, PANELS, behavior_per_step, metrics_against_size, original_and_final
from rnncondense.rnn import Params, simulate
from rnncondense.runs.claim import refuse_other_job
from rnncondense.runs.figures import save_figures
from rnncondense.runs.train import load_run
from rnncondense.tasks import make_task

COLUMNS = (
    "step", "n_units", "success", "mse", "timing_mae_ms", "timing_rel_error", "miss_rate", "output_correlation",
    "pcs_90", "participation_ratio", "scaling_index", "ramp_fraction", "spectral_radius",
    *DYNAMICS_METRICS, "dsa_distance", "similarity_procrustes", "similarity_cca", "alignment", "clusters",
    "retrain_iterations", "retrain_success", "elapsed_s",
)


@dataclass(frozen=True)
class CondenseResult:
    out: Path
    records: list[dict]
    reason: str
    criterion: str  # what "the task is kept" meant, in words


def _params_digest(params: Params) -> str:
    digest = hashlib.sha256()
    for value in params:
        digest.update(np.asarray(value).tobytes())
    return digest.hexdigest()


def step_dir(out: Path, step: int) -> Path:
    return out / layout.STEPS_DIR / f"step_{step:03d}"


def save_step(out: Path, state: State, record: dict) -> None:
    directory = step_dir(out, state.step)
    tensors = {
        **{f"params.{name}": np.asarray(value) for name, value in state.params._asdict().items()},
        "alive": state.alive.astype(np.uint8),
        "unit_ids": state.unit_ids.astype(np.int64),
    }
    storage.save_tensors(directory / layout.STEP_NETWORK_FILE, tensors, kind="condense_step",
                         meta={"step": state.step, ties.RECORD_KEY: ties.json_digest(record)})
    storage.write_json(directory / layout.STEP_RECORD_FILE, record)  # last: marks the step complete


def load_step(out: Path, step: int) -> tuple[State, dict]:
    directory = step_dir(out, step)
    tensors, meta = storage.load_tensors(directory / layout.STEP_NETWORK_FILE, kind="condense_step")
    params = storage.params_from_tensors(tensors, directory / layout.STEP_NETWORK_FILE, prefix="params.")
    alive, unit_ids = tensors.get("alive"), tensors.get("unit_ids")
    n = params.W_rec.shape[0]
    if alive is None or unit_ids is None or alive.shape != (n,) or unit_ids.shape != (n,):
        raise FileFormatError(f"{directory / layout.STEP_NETWORK_FILE}: missing or misshapen alive / unit_ids")
    record = storage.read_json(directory / layout.STEP_RECORD_FILE)
    _check_record(record, directory / layout.STEP_RECORD_FILE, step, int(alive.sum()))
    ties.check(directory / layout.STEP_RECORD_FILE, ties.json_digest(record), meta, ties.RECORD_KEY,
               directory / layout.STEP_NETWORK_FILE)
    return State(step, params, alive.astype(bool), unit_ids), record


RECORD_KEYS = ("step", "n_units", "success", "mse", "timing_mae_ms", "timing_rel_error", "miss_rate")


def _check_record(record: dict, path: Path, step: int, n_units: int) -> None:
    """A step's record must be this step's, of this network, with the task metrics of `measure`."""
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        raise FileFormatError(f"{path}: lacks {', '.join(missing)}; not a step record this program wrote")
    if record["step"] != step or record["n_units"] != n_units or not isinstance(record["success"], bool):
        raise FileFormatError(
            f"{path}: step = {record['step']!r}, n_units = {record['n_units']!r}, success = {record['success']!r} "
            f"do not fit step {step} of a {n_units}-unit network"
        )
    storage.check_entries(path, record, dict.fromkeys(RECORD_KEYS[3:], storage.OPTIONAL_NUMBER))


def completed_steps(out: Path) -> list[int]:
    """Steps whose record exists, in order; a step without its record was interrupted.

    Raises:
        FileFormatError: the complete steps are not 0, 1, 2, ... (a step directory was lost).
    """
    root = out / layout.STEPS_DIR
    if not root.is_dir():
        return []
    steps = []
    for directory in sorted(root.glob("step_*")):
        if (directory / layout.STEP_RECORD_FILE).is_file() and directory.name[5:].isdigit():
            steps.append(int(directory.name[5:]))
    if steps != list(range(len(steps))):
        missing = min(set(range(len(steps) + 1)) - set(steps))
        raise FileFormatError(f"{step_dir(out, missing)}: missing, but later steps are complete; the condensation is damaged")
    return steps


def _clear_interrupted(out: Path) -> None:
    """Remove what an interruption left half-written: temporary files and steps without a record."""
    storage.remove_stale_temporaries(out, recursive=True)
    root = out / layout.STEPS_DIR
    if root.is_dir():
        for directory in root.glob("step_*"):
            if directory.is_dir() and not (directory / layout.STEP_RECORD_FILE).is_file():
                shutil.rmtree(directory)


def _prepare(run_dir: Path, out: Path, settings: CondenseConfig, params: Params, resume: bool) -> list[int]:
    identity = {
        "source_run": str(run_dir.resolve()),
        "source_params_sha256": _params_digest(params),
        "settings": settings.model_dump(mode="json", exclude={"max_mse_increase"} if settings.max_mse_increase is None else None),
    }
    saved_path = out / layout.CONDENSE_SETTINGS_FILE
    if resume and storage.holds_nothing(out):  # killed before it wrote its first file: start afresh
        resume = False
    if resume:
        if not saved_path.is_file():
            raise RunDirError(f"'{out}' holds no condensation to resume (no {layout.CONDENSE_SETTINGS_FILE})")
        refuse_other_job(out, ties.read_json(saved_path), identity, what="a condensation",
                         record=layout.CONDENSE_SETTINGS_FILE)
        steps = completed_steps(out)
        _clear_interrupted(out)
        return steps
    storage.prepare_new_run_dir(out)
    ties.write_json(saved_path, identity)  # with a sidecar (ties)
    return []


@holding("out")  # one writer per directory (dirlock)
def condense_run(
    run_dir: str | Path,
    out: str | Path,
    settings: CondenseConfig,
    *,
    resume: bool = False,
    on_step: Callable[[dict], None] | None = None,
    figures: bool = True,
) -> CondenseResult:
    """Condense the trained network of `run_dir` into `out` (or continue there with `resume`)."""
    run_dir, out = Path(run_dir), Path(out)
    config, original = load_run(run_dir)
    target = check_against_network(settings, original.W_rec.shape[0])
    if settings.method == "preserving" and config.task.name != "cue_set_go":
        raise ConfigError(f"method = 'preserving' is not allowed for task.name = {config.task.name!r}: its alignment "
                          "term normalises time by the interval (cue_set_go); choose one-shot, iterative or canonical")
    steps = _prepare(run_dir, out, settings, original, resume)
    context = Context.create(config, settings, original)
    records: list[dict] = []

    def record_step(state: State, record: dict) -> None:
        save_step(out, state, record)
        records.append(record)
        if on_step:
            on_step(record)

    if steps:
        for step in steps:
            records.append(load_step(out, step)[1])
        state, _ = load_step(out, steps[-1])
    else:
        state = start(original)
        record_step(state, {**measure(state, context), "merged": []})

    stopped = _stopped_before(records, settings)
    if stopped:
        reason = stopped
    elif settings.method == "one-shot":
        reason = one_shot(state, context, record_step)
    elif settings.method in ("iterative", "preserving"):
        reason = iterative(
            state, context, record_step, target_units=target, preserving=settings.method == "preserving",
            damping=records[-1].get("damping"),
        )
    else:
        reason = canonical(original, context, record_step, start_step=state.step)
    ties.write_csv(out / layout.CONDENSE_SUMMARY_FILE, records, list(COLUMNS))  # with sidecars (ties)
    criterion = context.describe_criterion()
    ties.write_json(out / layout.CONDENSE_RESULT_FILE, {"reason": reason, "criterion": criterion, "final": records[-1],
                                                        "steps": len(records) - 1})
    if figures:
        plot_condensation(out, config, records, settings)
    return CondenseResult(out, records, reason, criterion)


def _stopped_before(records: list[dict], settings: CondenseConfig) -> str | None:
    """Why a resumed condensation had already stopped, if it had (else None)."""
    last = records[-1]
    if len(records) < 2:
        return None
    if settings.method == "one-shot" and not last["success"]:
        return f"the task failed after {last['step']} merges ({last['n_units']} units)"
    if settings.method in ("iterative", "preserving") and last.get("retrain_success") is False:
        return f"the task could not be recovered at {last['n_units']} units within {settings.retrain_iters} retraining iterations"
    return None


def plot_condensation(out: Path, config: RunConfig, records: list[dict], settings: CondenseConfig) -> list[Path]:
    """Write the condensation's figures (`layout.CONDENSE_FIGURES`) into OUT/figures."""
    steps = [r["step"] for r in records]
    title = f"{settings.method} condensation ({settings.similarity} pairs, {settings.operator} merges)"
    panels = ARRAY_PANELS if config.task.name == "arrays" else PANELS
    drawn = {"metrics_vs_size": metrics_against_size(records, title=title, panels=panels)}
    task = make_task(config.task)
    batch = task.condition_batch()
    targets = np.asarray(batch.targets)
    readout, what = 0, "one trial per interval"
    if config.task.name == "arrays":  # the output whose target differs most between conditions
        readout = int(np.argmax(targets.mean(axis=1).var(axis=0)))
        what = f"one validation trial per condition, output {readout}"
    shown = []
    for index in _select(records):
        state, record = load_step(out, steps[index])
        outputs = simulate(state.compact()[0], batch.inputs, alpha=config.alpha, dynamics=config.dynamics).outputs
        shown.append((record, np.asarray(outputs)[..., readout]))
    times_ms = np.arange(batch.inputs.shape[1]) * task.dt_ms
    drawn["behavior_per_step"] = behavior_per_step(shown, times_ms, targets[..., readout],
                                                   title=f"merged network behaviour, noise-free, {what}")
    if settings.method == "canonical":
        successes = [r for r in records[1:] if r["success"]]
        final = min(successes, key=lambda r: r["n_units"]) if successes else records[-1]
    else:
        final = records[-1]
    first_params = load_step(out, steps[0])[0].compact()[0]
    final_params = load_step(out, final["step"])[0].compact()[0]
    k = min(settings.k, final["n_units"])
    first = solution_metrics(first_params, config, k=k)
    last = solution_metrics(final_params, config, k=k)
    labels = (f"original ({records[0]['n_units']} units)", f"step {final['step']} ({final['n_units']} units)")
    if config.task.name == "arrays":  # no Set or Go: trajectories from trial start
        from rnncondense.plots.arrays import condition_unit_responses, original_and_final_arrays

        drawn["original_vs_final"] = original_and_final_arrays(first, last, labels)
        if settings.method == "canonical":
            drawn["canonical_responses"] = condition_unit_responses(
                last.activity, list(range(final["n_units"])),
                title=f"the {final['n_units']} canonical responses after retraining, coloured by condition")
        return save_figures(out / layout.FIGURES_DIR, drawn)
    drawn["original_vs_final"] = original_and_final(first, last, labels)
    if settings.method == "canonical":
        units = list(range(final["n_units"]))
        drawn["canonical_responses"] = unit_responses(
            last.activity, units, scaling=last.scaling, ramps=last.ramps,
            title=f"the {final['n_units']} canonical responses after retraining, coloured by interval")
    return save_figures(out / layout.FIGURES_DIR, drawn)


def _select(records: list[dict], count: int = 8) -> list[int]:
    """Up to `count` steps spread evenly from the first to the last."""
    index = np.unique(np.linspace(0, len(records) - 1, min(count, len(records))).round().astype(int))
    return [int(i) for i in index]
