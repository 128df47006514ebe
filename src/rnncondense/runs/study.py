"""The whole study in one call: train and analyse a base network, condense it (one-shot curves,
iterative, preserving, canonical), run a size sweep and the circuit models, write the report.

    DIR/study.json                the preset and its plan
    DIR/base/                     the base network (a run directory, with analysis/)
    DIR/condense/one-shot/<similarity>_<operator>/, DIR/condense/{iterative,iterative-budget,preserving,canonical}/
    DIR/sweep/                    the size sweep
    DIR/circuits/<name>/          the circuit models
    DIR/report.html

Every stage is skipped when its results are already there and resumed when it was interrupted,
so running the same command again continues a study.

Once the base network is trained, everything else depends on it alone: its analysis, every
condensation, the circuits and the sweep's networks run at the same time, as tasks of one local
Dask cluster (one single-threaded worker per core, the sweep's `sweep.cluster.local_cluster`),
longest first. One network's work keeps one core busy, so on 2 cores this halves the study's wall
time against running the stages one after another. The study holds its directory and hands the
stages' directories to the workers (`dirlock`, `delegate`); each stage holds its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable, Literal

from pydantic import Field

from rnncondense import layout, storage, ties
from rnncondense.config import RunConfig, config_from_dict, config_to_dict
from rnncondense.dirlock import holding
from rnncondense.errors import ConfigError, UserError
from rnncondense.condense.config import condense_config
from rnncondense.runs.analyze import analyze_run
from rnncondense.runs.circuits import run_circuit
from rnncondense.runs.claim import claim
from rnncondense.runs.condense import condense_run
from rnncondense.runs.plot import plot_run
from rnncondense.runs.report import write_report
from rnncondense.runs.sweep import run_sweep
from rnncondense.runtime import compilation_cache_in_use, prepare_worker
from rnncondense.runs.train import train_run
from rnncondense.validation import Strict



class StudyPlan(Strict):
    """What a study runs, beyond training the base network."""

    one_shot: list[tuple[Literal["pca", "correlation", "cosine"], Literal["seed", "affine", "least-squares"]]]
    one_shot_max_merges: Annotated[int, Field(ge=1)] | None = None
    pairs_per_step: Annotated[int, Field(ge=1)] = 10
    base_units: Annotated[int, Field(ge=2)] | None = None  # the base network's size; None: the config's
    iterative_target: Annotated[int, Field(ge=1)] | None = None  # None: skip
    # iterative and preserving merge with this operator (the seed study's schedule: "seed")
    iterative_operator: Literal["seed", "affine", "least-squares"] = "least-squares"
    # one iterative condensation per rule: "success" into condense/iterative, "budget" (the seed
    # study's fixed retraining budget) into condense/iterative-budget
    iterative_retrain_until: list[Literal["success", "budget"]] = Field(default_factory=lambda: ["success"], min_length=1)
    preserving_target: Annotated[int, Field(ge=1)] | None = None
    preserve_weight: Annotated[float, Field(ge=0)] = 0.02
    canonical_clusters: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)  # empty: skip
    retrain_iters: Annotated[int, Field(ge=1)] = 100
    sweep_sizes: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)  # empty: skip
    sweep_seeds: Annotated[int, Field(ge=1)] = 1
    sweep_max_iters: Annotated[int, Field(ge=1)] = 30
    circuits: list[Literal["lif", "linear2", "respiratory", "ring"]] = Field(default_factory=list)


PRESETS: dict[str, StudyPlan] = {
    # every finding measured, in under 10 minutes on a 2-core machine (`make demo`): a 60-unit base
    # network condensed to half its size, a sweep of 5 sizes x 3 seeds; see the README for what it
    # trades away against "full"
    "quick": StudyPlan(
        one_shot=[("pca", "seed"), ("pca", "least-squares")],
        one_shot_max_merges=40,
        base_units=60,
        pairs_per_step=10,
        iterative_target=30,
        iterative_operator="seed",
        iterative_retrain_until=["success", "budget"],
        preserving_target=30,
        canonical_clusters=[8, 4],
        retrain_iters=20,
        sweep_sizes=[5, 10, 20, 40, 80],
        sweep_seeds=3,
        sweep_max_iters=30,
        circuits=["lif", "linear2", "respiratory", "ring"],
    ),
    # the original study's scale
    "full": StudyPlan(
        one_shot=[(s, o) for s in ("pca", "correlation", "cosine") for o in ("seed", "affine", "least-squares")],
        pairs_per_step=10,
        iterative_target=100,
        iterative_operator="seed",
        iterative_retrain_until=["success", "budget"],
        preserving_target=20,
        canonical_clusters=[64, 32, 16, 12, 8, 6, 4, 3, 2],
        retrain_iters=100,
        sweep_sizes=[5, 10, 20, 50, 100, 200],
        sweep_seeds=5,
        sweep_max_iters=60,
        circuits=["lif", "linear2", "respiratory", "ring"],
    ),
}


def study_record(config: RunConfig, preset: str) -> dict:
    """What DIR/study.json holds: a study continues only with the same preset, plan and config."""
    return {"preset": preset, "plan": PRESETS[preset].model_dump(mode="json"), "config": config_to_dict(config)}


def _done(path: Path, marker: str) -> bool:
    return (path / marker).is_file()


def _sweep_done(path: Path) -> bool:
    """The sweep wrote its tables (it does so at the end) and no network failed or is missing."""
    if not _done(path, layout.SWEEP_RESULTS_CSV):
        return False
    return all(row.get("status") in ("done", "diverged") for row in ties.read_rows(path / layout.SWEEP_RESULTS_CSV, required=("status",)))


def _analyse(base: str, cache: str | None) -> None:
    prepare_worker(cache)
    plot_run(base)
    analyze_run(base)


def _condense(base: str, target: str, fields: dict, name: str, cache: str | None) -> None:
    prepare_worker(cache)
    settings = condense_config(fields, source=f"study {name}")
    condense_run(base, target, settings, resume=Path(target).exists() and not storage.holds_nothing(Path(target)))


def _circuit(name: str, target: str, cache: str | None) -> None:
    prepare_worker(cache)
    run_circuit(name, {}, target)


def _gather(futures: dict) -> None:
    """Wait for every stage; raise the first failure (a worker that died names its stage)."""
    from distributed import CancelledError
    from distributed.scheduler import KilledWorker

    for future, name in futures.items():
        try:
            future.result()
        except (KilledWorker, CancelledError) as error:
            raise UserError(f"study stage {name}: its worker process died ({type(error).__name__}); what it "
                            "finished is kept: run the same command again to continue") from None


# the stages' directories, written by the workers of the study's cluster
_HANDED = (layout.STUDY_BASE_DIR, layout.STUDY_CONDENSE_DIR, layout.STUDY_CIRCUITS_DIR)


@holding("out", delegate=_HANDED)  # one writer per directory (dirlock); workers hold the stages' directories
def run_study(
    config: RunConfig,
    out: str | Path,
    *,
    preset: str = "quick",
    say: Callable[[str], None] = print,
) -> Path:
    """Run (or continue) the study of `config`'s base network into `out`; returns the report path."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset = {preset!r} is not allowed: choose one of {', '.join(PRESETS)}")
    plan = PRESETS[preset]
    if plan.base_units is not None:
        data = config_to_dict(config)
        config = config_from_dict({**data, "model": {**data["model"], "n_units": plan.base_units}})
    out = Path(out)
    claim(out, layout.STUDY_FILE, study_record(config, preset), what="a study")

    base = out / layout.STUDY_BASE_DIR
    if not _done(base, layout.METRICS_FILE):
        say("training the base network")
        train_run(config, base, resume=(base / layout.CONFIG_FILE).exists())

    stages = []  # (name, priority, function, arguments), said and submitted in this order
    if not _done(base / layout.ANALYSIS_DIR, layout.ANALYSIS_METRICS_FILE):
        stages.append(("analysing the base network", 3, _analyse, (str(base),)))
    n_units = config.model.n_units
    jobs = [(f"one-shot/{s}_{o}", {"method": "one-shot", "similarity": s, "operator": o,
                                    "max_merges": plan.one_shot_max_merges}) for s, o in plan.one_shot]
    if plan.iterative_target and plan.iterative_target < n_units:
        for rule in plan.iterative_retrain_until:
            jobs.append((layout.STUDY_ITERATIVE_DIRS[rule], {"method": "iterative", "target_units": plan.iterative_target,
                                                "operator": plan.iterative_operator, "retrain_until": rule}))
    if plan.preserving_target and plan.preserving_target < n_units:
        jobs.append(("preserving", {"method": "preserving", "target_units": plan.preserving_target,
                                    "operator": plan.iterative_operator, "preserve_weight": plan.preserve_weight}))
    clusters = [k for k in plan.canonical_clusters if k < n_units]
    if clusters:
        jobs.append(("canonical", {"method": "canonical", "clusters": clusters}))
    for name, fields in jobs:
        target = out / layout.STUDY_CONDENSE_DIR / name
        if _done(target, layout.CONDENSE_RESULT_FILE):
            continue
        fields = {"pairs_per_step": plan.pairs_per_step, "retrain_iters": plan.retrain_iters,
                  **{k: v for k, v in fields.items() if v is not None}}
        condense_config(fields, source=f"study {name}")  # a bad plan is refused here, before any work
        # iterative schedules retrain at every step: the longest stages start first
        stages.append((f"condensing: {name}", 2 if fields["method"] in ("iterative", "preserving") else 1,
                       _condense, (str(base), str(target), fields, name)))
    for name in plan.circuits:
        target = out / layout.STUDY_CIRCUITS_DIR / name
        if not _done(target, layout.CIRCUIT_SUMMARY_FILE):
            stages.append((f"circuit model: {name}", -1, _circuit, (name, str(target))))
    sweep = bool(plan.sweep_sizes) and not _sweep_done(out / layout.STUDY_SWEEP_DIR)

    if stages or sweep:
        from distributed import Client

        from rnncondense.sweep import cluster as clusters

        cache = compilation_cache_in_use()
        local = clusters.local_cluster()
        client = Client(local, set_as_default=False)
        try:
            futures = {}
            for name, priority, function, arguments in stages:
                say(name)
                # the sweep's networks have priority = their size; the stages go before them
                futures[client.submit(function, *arguments, cache, priority=10**6 * priority, pure=False,
                                      retries=0)] = name
            if sweep:
                sweep_config = config.model_copy(update={"train": config.train.model_copy(
                    update={"max_iters": plan.sweep_max_iters, "stop_on_success": False})})
                say(f"size sweep: {plan.sweep_sizes} x {plan.sweep_seeds} seeds")
                run_sweep(sweep_config, sizes=plan.sweep_sizes, seeds=plan.sweep_seeds, out=out / layout.STUDY_SWEEP_DIR,
                          scheduler=local.scheduler_address)
            _gather(futures)
        finally:
            client.close()
            local.close()

    say("writing the report")
    return write_report(out)
