"""The `rnncondense` command line. It parses, validates, shows progress and writes files; the
science lives in the library."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperCommand

from rnncondense import interrupts, layout
from rnncondense.condense.config import CondenseConfig
from rnncondense.dirlock import hold
from rnncondense.errors import UserError, shown

_CONDENSE = CondenseConfig()  # the defaults of the condense options

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train rate RNNs on Cue-Set-Go, analyse their solutions and condense them.",
)
console = Console(stderr=True)
stdout = Console()


def user_errors(command: Callable) -> Callable:
    """Turn UserError, an operating-system error (a full disk, a read-only directory, ...) and
    memory exhaustion into one line on stderr and exit status 2 (`failures`); Ctrl-C into status 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as error:
            from rnncondense import failures

            if not failures.is_failure(error):
                raise
            console.print(f"[bold red]error:[/] {escape(failures.describe(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            interrupts.first_caught()  # a second Ctrl-C must not cut the goodbye short
            console.print(interrupts.say_farewell(), highlight=False)
            raise typer.Exit(130) from None

    return wrapper


def check_memory(config, *, source: str) -> None:
    """Refuse a config whose largest buffer exceeds the memory available (`memory.check_memory`)."""
    from rnncondense.memory import check_memory as check

    check(config, source=source)


class _LazyBar:
    """A rich progress bar shown from the first report on, so that a command refused before its
    work starts prints nothing but its one error line. Subclasses set `self.bar` and call
    `self.show()` in `__call__`."""

    bar: Progress
    shown = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.shown:
            self.bar.stop()

    def show(self) -> None:
        if not self.shown:
            self.bar.start()
            self.shown = True


class TrainProgress(_LazyBar):
    """Training: iteration, loss, timing error, elapsed and ETA."""

    def __init__(self, total: int, start: int = 0, label: str = "train"):
        self.bar = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("timing err {task.fields[timing]}"),
            TextColumn("{task.fields[extra]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task = self.bar.add_task(label, total=total, completed=start, loss="-", timing="-", extra="")

    def __call__(self, progress) -> None:
        self.show()
        fields = {"loss": f"{progress.info['loss']:.2e}"}
        if progress.metrics is not None:
            m = progress.metrics
            if hasattr(m, "output_correlation"):  # trials from a file: no timing, judged by mse
                fields["timing"] = f"- (val mse {m.mse:.2e}, r {m.output_correlation:.2f})"
            elif math.isfinite(m.timing_mae_ms):
                fields["timing"] = f"{m.timing_mae_ms:.0f} ms ({m.timing_rel_error:.1%})" + (" ✓" if m.success else "")
            else:  # no trial crossed the threshold: there is no timing to show
                fields["timing"] = "- (every trial missed)"
        extra = {k: v for k, v in progress.info.items() if k in ("lambda", "cg_iters", "rho")}
        fields["extra"] = "  ".join(f"{k} {v:.3g}" for k, v in extra.items())
        self.bar.update(self.task, completed=progress.iteration, **fields)


def _cue_set_go_only(source: Path, command: str, *, any_variant: bool = False) -> None:
    """Refuse, in one line, a run or config whose task is trials from a file: `command` is built on
    Cue-Set-Go's timing structure (only `study` is: its findings compare timing and scaling). Unless
    `any_variant`, refuse a model variant too."""
    from rnncondense.config import load_config
    from rnncondense.rnn import CURRENT_TANH

    path = source / "config.toml" if source.is_dir() else source
    if not path.is_file():
        return  # the command itself says what is missing
    config = load_config(path)
    if config.task.name != "cue_set_go":
        raise UserError(f"{path}: task.name = {config.task.name!r} is not allowed for '{command}' yet: it needs cue_set_go")
    if not any_variant and config.dynamics != CURRENT_TANH:
        raise UserError(
            f"{path}: model.form = {config.model.form!r} with model.nonlinearity = {config.model.nonlinearity!r} is not "
            f"allowed for '{command}' yet: it needs the current form with tanh (every other command takes any)"
        )


def _number(value) -> bool:
    """Whether `value` is a finite number (None: not applicable; NaN: every trial missed)."""
    return value is not None and math.isfinite(value)


def _metrics_table(metrics, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("interval (ms)", justify="right")
    table.add_column("produced (ms)", justify="right")
    table.add_column("SD (ms)", justify="right")
    for target, produced, sd in zip(metrics.intervals_ms, metrics.produced_ms, metrics.produced_sd_ms):
        table.add_row(f"{target:.0f}", f"{produced:.1f}", f"{sd:.1f}")
    table.caption = metrics.summary()
    return table


@app.command()
@user_errors
def train(
    config: Annotated[Path, typer.Argument(help="TOML run configuration (see configs/).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to create (or continue with --resume).")],
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
) -> None:
    """Train a network; writes config.toml, params.safetensors, metrics.json and history.csv."""
    from rnncondense.config import load_config
    from rnncondense.runs.train import train_run

    run_config = load_config(config)
    check_memory(run_config, source=str(config))

    def farewell() -> str:
        if (out / layout.CHECKPOINT_FILE).is_file():
            return "interrupted; the last checkpoint is kept: continue with --resume"
        return ("interrupted before the first checkpoint, so there is nothing to continue from; "
                "--resume starts the run again from the beginning")

    interrupts.farewell(farewell)
    with TrainProgress(run_config.train.max_iters) as progress:
        result = train_run(run_config, out, resume=resume, on_progress=progress)
    s = result.summary
    if run_config.task.name == "arrays":  # no success of its own: the lowest validation mse is kept
        console.print(f"{s['iterations']} iterations in {s['elapsed_s']:.1f} s; kept iteration {s['best_iteration']} "
                      "(lowest validation mse)", highlight=False)
        stdout.print(f"{out}: validation  {result.metrics.summary()}", highlight=False, soft_wrap=True)
        return
    when = f"success at iteration {s['success_iteration']} ({s['time_to_success_s']:.1f} s)" if s["success_iteration"] else "no success"
    console.print(f"{s['iterations']} iterations in {s['elapsed_s']:.1f} s, {when}; kept iteration {s['best_iteration']}")
    stdout.print(_metrics_table(result.metrics, f"{out}: validation"))


@app.command()
@user_errors
def evaluate(
    run: Annotated[Path, typer.Argument(help="A trained run directory.")],
    repeats: Annotated[int, typer.Option(min=1, max=64, help="Noise draws per validation trial.")] = 8,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the evaluation noise, 0 to 2^32 - 1.")] = 1,
) -> None:
    """Evaluate a trained network on the validation batch; writes evaluation.json."""
    import jax

    from rnncondense import storage
    from rnncondense.analysis.behavior import evaluate as evaluate_network
    from rnncondense.tasks import make_task
    from rnncondense.runs.train import load_run

    if seed >= 2**32:  # PRNGKey takes 32 bits; a larger int was an OverflowError deep inside JAX
        raise UserError(f"--seed = {shown(seed, 40)} is not allowed: give an integer in [0, {2**32 - 1}]")
    with hold(run, create=False):  # one writer per directory
        config, params = load_run(run)
        if config.task.name == "arrays":  # trials from a file: task-independent metrics
            from rnncondense.analysis.task_metrics import evaluate_run_task

            metrics = evaluate_run_task(params, config, key=jax.random.PRNGKey(seed), repeats=repeats)
            storage.write_json(Path(run) / layout.EVALUATION_FILE, {**metrics.to_dict(), "repeats": repeats, "seed": seed})
            stdout.print(f"{run}: {metrics.summary()}", highlight=False, soft_wrap=True)
            return
        task = make_task(config.task)
        metrics = evaluate_network(
            params, task, alpha=config.alpha, sigma_rec=config.model.sigma_rec, key=jax.random.PRNGKey(seed),
            repeats=repeats, check_finite=True, dynamics=config.dynamics,
        )
        storage.write_json(Path(run) / layout.EVALUATION_FILE, {**metrics.to_dict(), "repeats": repeats, "seed": seed})
    stdout.print(_metrics_table(metrics, f"{run}: {metrics.n_trials} trials"))


@app.command()
@user_errors
def plot(
    run: Annotated[Path, typer.Argument(help="A trained run directory.")],
    units: Annotated[Optional[str], typer.Option(help="Comma-separated unit indices (default: the 8 most active).")] = None,
) -> None:
    """Draw the task panel, produced vs target intervals and unit activity into RUN/figures."""
    from rnncondense.runs.plot import plot_run

    with hold(run, create=False):  # one writer per directory
        paths = plot_run(run, units=_parse_units(units))
    for path in paths:
        stdout.print(str(path))


@app.command()
@user_errors
def analyze(
    run: Annotated[Path, typer.Argument(help="A trained run directory.")],
    k: Annotated[int, typer.Option(help="Top principal components for the PC scaling index and 3D plots.")] = 3,
    n_trials: Annotated[int, typer.Option(min=1, max=256, help="Trials per interval to average.")] = 8,
    noise: Annotated[bool, typer.Option(help="Average noisy trials instead of noise-free ones.")] = False,
    figures: Annotated[bool, typer.Option(help="Draw the figures.")] = True,
    fixed_points: Annotated[str, typer.Option(help="Fixed-point search: quick, full, records or none.")] = "quick",
) -> None:
    """Population structure and solution type: PCA, scaling index, ramps, eigenvalues, fixed points
    per context; writes RUN/analysis/activity.nc (NetCDF), RUN/analysis/metrics.json and figures."""
    from rnncondense.analysis.dynamics import fixed_point_settings
    from rnncondense.metrics import DYNAMICS_METRICS
    from rnncondense.runs.analyze import analyze_run

    search = None if fixed_points == "none" else fixed_points
    fixed_point_settings(search)  # a bad name is refused before any work
    with console.status("analysing"):
        result = analyze_run(run, k=k, n_trials=n_trials, noise=noise, figures=figures, fixed_points=search)
    table = Table(title=f"{run}: solution type", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    not_applicable = result.get("not_applicable", [])
    for name in ("pcs_90", "participation_ratio", "scaling_index", "ramp_fraction", "spectral_radius", *DYNAMICS_METRICS):
        value = result.get(name)
        table.add_row(name, "not applicable" if name in not_applicable else "-" if value is None else f"{value:.3g}")
    per_context = result.get("fixed_points") or {}
    for interval, tau in zip(per_context.get("interval_ms", []), per_context.get("slowest_time_constant_ms", [])):
        table.add_row(f"slowest time constant at {interval:.0f} ms (ms)", "-" if tau is None else f"{tau:.3g}")
    if not_applicable:
        table.caption = "not applicable: the task has no Cue-Set-Go timing structure"
    stdout.print(table)
    for path in result["files"]:
        stdout.print(path)


@app.command()
@user_errors
def compare(
    run_a: Annotated[Path, typer.Argument(help="A trained run directory.")],
    run_b: Annotated[Path, typer.Argument(help="Another trained run directory (any size, same task).")],
    k: Annotated[int, typer.Option(help="Top principal components for Procrustes and CCA.")] = 3,
    n_delays: Annotated[int, typer.Option(min=1, help="Delays of the DSA embedding.")] = 10,
    rank: Annotated[int, typer.Option(min=1, help="Rank of the DSA operator.")] = 10,
) -> None:
    """Geometry (Procrustes, CCA of time-normalised trajectories) and dynamics (DSA of the
    condition-averaged rates, Ostrow et al. 2023) of two networks, side by side; writes nothing."""
    from rnncondense.analysis.activity import condition_activity
    from rnncondense.analysis.dsa import dsa
    from rnncondense.analysis.similarity import similarity
    from rnncondense.errors import ConfigError
    from rnncondense.runs.train import load_run

    (config_a, params_a), (config_b, params_b) = load_run(run_a), load_run(run_b)
    if config_a.task != config_b.task and "arrays" in (config_a.task.name, config_b.task.name):
        raise UserError(f"the two networks were run on different tasks: task {config_a.task.name} "
                        f"({getattr(config_a.task, 'path', '-')}) vs {config_b.task.name} ({getattr(config_b.task, 'path', '-')})")
    with console.status("comparing"):
        if config_a.task.name == "arrays":  # trials from a file: condition means from trial start
            from rnncondense.analysis.array_activity import array_activity, array_similarity

            activity_a, activity_b = array_activity(params_a, config_a), array_activity(params_b, config_b)
            geometry = array_similarity(activity_a["rate"], activity_b["rate"], k=k)
        else:
            activity_a, activity_b = condition_activity(params_a, config_a), condition_activity(params_b, config_b)
            geometry = similarity(activity_a, activity_b, k=k)
        try:
            dynamics = dsa(activity_a["rate"].values, activity_b["rate"].values, n_delays=n_delays, rank=rank)
        except ValueError as error:
            raise ConfigError(f"--n-delays / --rank: {error}") from None
    table = Table(title=f"{run_a} vs {run_b}", title_justify="left")
    for column, justify in (("measure", "left"), ("value", "right"), ("identical at", "right"), ("compares", "left")):
        table.add_column(column, justify=justify)
    table.add_row("Procrustes", f"{geometry.procrustes:.3f}", "1", f"shape of trajectories, top {k} PCs")
    table.add_row("CCA", f"{geometry.cca:.3f}", "1", f"subspace of trajectories, top {k} PCs")
    table.add_row("DSA (rad)", f"{dynamics.distance:.3f}", "0", f"linear dynamics, {n_delays} delays, rank {rank}")
    stdout.print(table)


@app.command()
@user_errors
def condense(
    run: Annotated[Path, typer.Argument(help="A trained run directory.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the condensation (steps, summary, figures).")],
    method: Annotated[str, typer.Option(help="one-shot, iterative, preserving or canonical.")] = _CONDENSE.method,
    similarity: Annotated[str, typer.Option(help="Unit similarity: pca, correlation or cosine.")] = _CONDENSE.similarity,
    operator: Annotated[str, typer.Option(help="Merge operator: seed, affine or least-squares.")] = _CONDENSE.operator,
    pairs: Annotated[int, typer.Option(help="Pairs merged per step (iterative, preserving).")] = _CONDENSE.pairs_per_step,
    target: Annotated[Optional[int], typer.Option(help="Target number of units (default: half).")] = None,
    retrain_iters: Annotated[int, typer.Option(help="At most this many retraining iterations per step.")] = _CONDENSE.retrain_iters,
    retrain_until: Annotated[str, typer.Option(help="success: retrain until the task is back; budget: always --retrain-iters.")] = _CONDENSE.retrain_until,
    k: Annotated[int, typer.Option(help="Principal components for pca similarity and alignment.")] = _CONDENSE.k,
    ridge: Annotated[float, typer.Option(help="Least-squares ridge per sample.")] = _CONDENSE.ridge,
    weight: Annotated[float, typer.Option(help="Weight of the alignment term (preserving).")] = _CONDENSE.preserve_weight,
    clusters: Annotated[str, typer.Option(help="Canonical: numbers of response types, decreasing.")] = ",".join(map(str, _CONDENSE.clusters)),
    max_merges: Annotated[Optional[int], typer.Option(help="One-shot: at most this many merges (it stops when the task fails).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the recordings and retraining.")] = _CONDENSE.seed,
    max_mse_increase: Annotated[Optional[float], typer.Option(help="The task is kept while validation mse <= (1 + this) x the original's (default: Cue-Set-Go's success; for trials from a file 0.2).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the condensation in --out.")] = False,
) -> None:
    """Condense a trained network by merging similar units; every step is saved as it finishes."""
    from rnncondense.condense.config import condense_config
    from rnncondense.config import parse_int_list
    from rnncondense.runs.condense import condense_run

    settings = condense_config(
        {
            "method": method, "similarity": similarity, "operator": operator, "pairs_per_step": pairs,
            "target_units": target, "retrain_iters": retrain_iters, "retrain_until": retrain_until, "k": k, "ridge": ridge,
            "preserve_weight": weight, "clusters": parse_int_list(clusters, "--clusters", example="16,8,4"), "max_merges": max_merges,
            "seed": seed, "max_mse_increase": max_mse_increase,
        },
        source="condense",
    )

    def report(record: dict) -> None:
        parts = [f"step {record['step']}", f"{record['n_units']} units", "success" if record["success"] else "FAILED",
                 f"timing err {record['timing_rel_error']:.1%}" if _number(record["timing_rel_error"]) else f"mse {record['mse']:.2e}"]
        if record.get("similarity_procrustes") is not None:
            parts.append(f"similarity {record['similarity_procrustes']:.3f}")
        if record.get("scaling_index") is not None:
            parts.append(f"scaling {record['scaling_index']:.2f}")
        if record.get("retrain_iterations") is not None:
            parts.append(f"retrained {record['retrain_iterations']} it")
        console.print("  ".join(parts), highlight=False)

    from rnncondense.config import load_config

    if (Path(run) / layout.CONFIG_FILE).is_file():  # else condense_run names what is missing
        check_memory(load_config(Path(run) / layout.CONFIG_FILE), source=str(Path(run) / layout.CONFIG_FILE))
    interrupts.farewell(lambda: "interrupted; every finished step is kept: continue with --resume"
                        if (Path(out) / layout.CONDENSE_SETTINGS_FILE).is_file()
                        else "interrupted before anything was written; run the same command again")
    result = condense_run(run, out, settings, resume=resume, on_step=report)
    console.print(f"{result.reason}; task kept by {result.criterion}", highlight=False, soft_wrap=True)
    stdout.print(str(Path(out) / layout.CONDENSE_SUMMARY_FILE))


class SweepProgressBar(_LazyBar):
    """A sweep: networks done of total, running, failed, elapsed, ETA."""

    def __init__(self):
        self.bar = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("running {task.fields[running]}  failed {task.fields[failed]}  skipped {task.fields[skipped]}"),
                            TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"), TextColumn("[dim]{task.fields[last]}"),
                            console=console, transient=False)
        self.task = self.bar.add_task("sweep", total=None, running=0, failed=0, skipped=0, eta="-", last="")
        self.last = ""

    def __call__(self, progress) -> None:
        self.show()
        if progress.last:
            self.last = f"last: {progress.last}"
        eta = "-" if progress.eta_s is None else f"{int(progress.eta_s) // 60}:{int(progress.eta_s) % 60:02d}"
        self.bar.update(self.task, total=progress.total, completed=progress.done, running=progress.running,
                        failed=progress.failed, skipped=progress.skipped, eta=eta, last=self.last)


@app.command()
@user_errors
def sweep(
    config: Annotated[Path, typer.Argument(help="TOML run configuration; its \\[train] section is every network's budget (see configs/sweep.toml).")],
    out: Annotated[Path, typer.Option("--out", help="Sweep directory; rerun the same command to continue it.")],
    sizes: Annotated[str, typer.Option(help="Comma-separated network sizes (units).")] = "5,10,20,50,100,200",
    seeds: Annotated[int, typer.Option(help="Networks per size, train.seed = 0 .. SEEDS-1.")] = 5,
    scheduler: Annotated[Optional[str], typer.Option(help="Address of a running Dask scheduler, e.g. tcp://host:8786 (default: a local cluster).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes of the local cluster (default: one per core).")] = None,
    axis: Annotated[Optional[str], typer.Option(help="An extra axis over one config field, e.g. model.g=1.0,1.5.")] = None,
    ensemble_size: Annotated[int, typer.Option(help="Networks of one size trained together in one compiled program (an ensemble); 1: each alone, the fastest on CPUs.")] = 1,
) -> None:
    """Train and analyse networks of several sizes x seeds with the same budget, on a Dask cluster;
    writes DIR/results.csv, DIR/results.nc, DIR/figures and one run directory per network."""
    from rnncondense.config import load_config
    from rnncondense.runs.sweep import check_ensemble_size, run_sweep
    from rnncondense.runs.sweep_table import size_summary
    from rnncondense.sweep import make_spec, parse_axis, parse_sizes

    run_config = load_config(config)
    size_list = parse_sizes(sizes)
    extra_axis = parse_axis(axis) if axis is not None else None
    from rnncondense.memory import check_sweep
    from rnncondense.sweep.cluster import available_cores, check_workers

    jobs = make_spec(run_config, sizes=size_list, seeds=seeds, axis=extra_axis).jobs
    concurrent = 1 if scheduler is not None else (check_workers(workers) or available_cores())
    check_sweep([job.config for job in jobs], concurrent, source=str(config),
                ensemble_size=check_ensemble_size(ensemble_size))
    interrupts.farewell(lambda: "interrupted; finished networks are kept: run the same command again to continue")
    with SweepProgressBar() as progress:
        result = run_sweep(run_config, sizes=size_list, seeds=seeds, out=out, scheduler=scheduler,
                           n_workers=workers, axis=extra_axis, on_progress=progress, ensemble_size=ensemble_size)
    # fits 80 columns: short headers that never wrap, light borders; the axis field's name may fold
    table = Table(title=f"{out}: medians over seeds", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True,
                  caption="timing: relative timing error; PR: participation ratio; ramps: ramp fraction",
                  caption_justify="left")
    columns = ["size", *([extra_axis.field] if extra_axis else []), "done", "success", "timing", "pcs_90",
               "PR", "scaling", "ramps", "train s"]
    for column in columns:
        axis_column = extra_axis is not None and column == extra_axis.field
        table.add_column(column, justify="right", no_wrap=not axis_column, overflow="fold" if axis_column else "ellipsis",
                         min_width=min(len(column), 8 if axis_column else 16))
    fmt = lambda v, f: "-" if v is None or v != v else format(v, f)  # noqa: E731  (NaN: not applicable)
    for row in size_summary(result.table):
        table.add_row(str(row["size"]), *([str(row[extra_axis.field])] if extra_axis else []),
                      f"{row['finished']}/{row['networks']}", fmt(row["success_fraction"], ".0%"),
                      fmt(row["timing_rel_error"], ".1%"), fmt(row["pcs_90"], ".0f"), fmt(row["participation_ratio"], ".2f"),
                      fmt(row["scaling_index"], ".2f"), fmt(row["ramp_fraction"], ".2f"), fmt(row["train_time_s"], ".0f"))
    stdout.print(table)
    if result.failed:
        console.print(f"[bold red]{len(result.failed)} networks failed[/] (see DIR/results.csv, column error); "
                      "run the same command again to retry them")
    console.print(f"{result.trained} networks trained, {result.skipped} already finished, {result.wall_s:.0f} s; "
                  f"wrote {out / 'results.csv'}, {out / 'results.nc'}, {out / 'figures'}")
    if result.failed:  # finished, but not the sweep that was asked for (not the user's input: status 1)
        console.print(f"[bold red]error:[/] {len(result.failed)} of {len(result.rows)} networks failed", highlight=False)
        raise typer.Exit(1)


@app.command()
@user_errors
def report(study: Annotated[Path, typer.Argument(help="A study directory (see `rnncondense study`).")]) -> None:
    """Write STUDY/report.html: one self-contained page with every figure embedded."""
    from rnncondense.runs.report import write_report

    stdout.print(str(write_report(study)))


@app.command()
@user_errors
def study(
    config: Annotated[Path, typer.Argument(help="TOML run configuration of the base network.")],
    out: Annotated[Path, typer.Option("--out", help="Study directory; running again continues it.")],
    preset: Annotated[str, typer.Option(help="quick (under 10 minutes on 2 cores) or full (the original study's scale).")] = "quick",
) -> None:
    """The whole study: train and analyse, condense, sweep sizes, circuit models, report."""
    import time

    from rnncondense.config import load_config
    from rnncondense.runs.study import run_study

    start = time.perf_counter()
    _cue_set_go_only(config, "study")
    run_config = load_config(config)
    check_memory(run_config, source=str(config))
    path = run_study(run_config, out, preset=preset,
                     say=lambda text: console.print(f"[{time.perf_counter() - start:6.0f} s] {text}", highlight=False))
    console.print(f"study finished in {time.perf_counter() - start:.0f} s", highlight=False)
    stdout.print(str(path))
    failed = _failed_networks(out)
    if failed:  # the study is written, but without those networks (not the user's input: status 1)
        console.print(f"[bold red]error:[/] {failed[0]} of {failed[1]} networks of the size sweep failed "
                      f"(see {out / 'sweep' / 'results.csv'}, column error); run the same command again to retry them",
                      highlight=False)
        raise typer.Exit(1)


def _failed_networks(study_dir: Path) -> tuple[int, int] | None:
    """(failed, total) networks in the study's size sweep, or None if none failed."""
    from rnncondense import ties
    path = study_dir / layout.STUDY_SWEEP_DIR / layout.SWEEP_RESULTS_CSV
    if not path.is_file():
        return None
    rows = ties.read_rows(path, required=("status",))  # an edited table is refused (its sidecar)
    failed = sum(row["status"] == "failed" for row in rows)
    return (failed, len(rows)) if failed else None


@app.command("import")
@user_errors
def import_network(
    file: Annotated[Path, typer.Argument(help="The saved network (.npz or .safetensors).")],
    fmt: Annotated[str, typer.Option("--format", help="psychrnn, torch-rnn, neurogym-ctrnn or arrays.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to create.")],
    dt: Annotated[Optional[float], typer.Option("--dt", help="Time step (ms) the network was trained at.")] = None,
    tau: Annotated[Optional[float], typer.Option("--tau", help="Time constant (ms): alpha = dt / tau.")] = None,
    transfer: Annotated[Optional[str], typer.Option(help="Nonlinearity: tanh, relu, softplus, sigmoid or identity.")] = None,
    form: Annotated[Optional[str], typer.Option(help="Update form of plain arrays: current, rate or discrete.")] = None,
    sigma_rec: Annotated[Optional[float], typer.Option(help="Recurrent noise (PsychRNN's rec_noise times sqrt 2).")] = None,
    task: Annotated[Optional[Path], typer.Option(help="The network's task as trials (.npz: inputs, targets, mask, condition).")] = None,
) -> None:
    """Import a network trained elsewhere; writes config.toml, params.safetensors and metrics.json."""
    from rnncondense.runs.import_run import import_run

    given = {"dt_ms": dt, "tau_ms": tau, "transfer": transfer, "form": form, "sigma_rec": sigma_rec}
    result = import_run(file, fmt, out, task_path=task, **{k: v for k, v in given.items() if v is not None})
    stdout.print(f"imported {file} ({fmt}): {result.imported.summary()}", highlight=False, soft_wrap=True)
    if result.imported.ignored:
        console.print(f"not read (Python objects): {', '.join(result.imported.ignored)}", highlight=False)
    if result.config.task.name == "arrays":
        stdout.print(f"{out}: validation  {result.metrics.summary()}", highlight=False, soft_wrap=True)
    else:
        stdout.print(_metrics_table(result.metrics, f"{out}: validation"))


@app.command("neurogym-trials")
@user_errors
def neurogym_trials(
    name: Annotated[str, typer.Argument(help="A NeuroGym environment, e.g. PerceptualDecisionMaking-v0.")],
    out: Annotated[Path, typer.Option("--out", help="The .npz file of trials to write (for import --task).")],
    n_trials: Annotated[int, typer.Option(help="Trials to sample.")] = 512,
    dt: Annotated[Optional[float], typer.Option("--dt", help="Time step (ms); default: the environment's.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the environment.")] = 0,
) -> None:
    """Sample trials of a NeuroGym environment (optional extra: pip install -e '.[neurogym]') into an .npz."""
    import io

    import numpy as np

    from rnncondense import storage
    from rnncondense.tasks.neurogym_trials import make_env, sample_trials

    env = make_env(name, dt_ms=dt)
    arrays = sample_trials(env, n_trials, seed=seed)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    storage.atomic_write_bytes(out, buffer.getvalue())
    b, t, i = arrays["inputs"].shape
    stdout.print(f"{out}: {b} trials of {t} steps (dt {float(getattr(env, 'unwrapped', env).dt):g} ms), {i} inputs, {arrays['targets'].shape[2]} outputs, "
                 f"{len(np.unique(arrays['condition']))} conditions", highlight=False, soft_wrap=True)


def _parameter_table(name: str) -> Table:
    """The parameters of circuit `name` with their defaults and meanings."""
    from rnncondense.circuits import CIRCUITS, describe_parameters

    table = Table(title=f"{name}: {CIRCUITS[name].title}", title_justify="left")
    for column in ("parameter", "default", "meaning"):
        table.add_column(column)
    for field, info in describe_parameters(CIRCUITS[name].config).items():
        table.add_row(f"--{field}", str(info["default"]), info["description"])
    return table


class _CircuitsHelp(TyperCommand):
    """`circuits --help` ends with every circuit's parameters (the circuits are imported only then)."""

    def format_help(self, ctx, formatter) -> None:
        from rnncondense.circuits import CIRCUITS

        super().format_help(ctx, formatter)
        here = Console()  # made now, so that it takes the terminal's width now, as typer's help does
        for name in CIRCUITS:
            here.print(_parameter_table(name))


@app.command(cls=_CircuitsHelp, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def circuits(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="lif, linear2, respiratory or ring.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Directory for figures, animations and summary.json.")] = None,
    params: Annotated[bool, typer.Option("--params", help="List the parameters of NAME with their defaults and exit.")] = False,
) -> None:
    """Run a classic circuit model: rnncondense circuits NAME [--param value ...] --out DIR."""
    from rnncondense.circuits import CIRCUITS, make_config
    from rnncondense.runs.circuits import run_circuit

    if name not in CIRCUITS:
        raise UserError(f"unknown circuit {name!r}; choose one of {', '.join(CIRCUITS)}")
    if params:
        stdout.print(_parameter_table(name))
        return
    if out is None:
        raise UserError("--out is required: the directory for the circuit's figures and summary.json")
    overrides = _parse_pairs(ctx.args)
    make_config(name, overrides)  # validate before anything runs
    with Progress(TextColumn(f"[bold]{name}"), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        summary = run_circuit(name, overrides, out, progress=progress)
    if summary.get("text"):
        stdout.print(summary["text"])
    for file in summary["files"]:
        stdout.print(str(Path(out) / file))


def _parse_pairs(args: list[str]) -> dict[str, str]:
    """['--D1', '0', '--n=300'] -> {'D1': '0', 'n': '300'}."""
    pairs, i = {}, 0
    while i < len(args):
        flag = args[i]
        if not flag.startswith("--") or len(flag) == 2:
            raise UserError(f"unexpected argument {flag!r}: parameters are given as --name value")
        if "=" in flag:
            key, value = flag[2:].split("=", 1)
            i += 1
        elif i + 1 < len(args):
            key, value = flag[2:], args[i + 1]
            i += 2
        else:
            raise UserError(f"parameter {flag} has no value: give it as {flag} VALUE")
        pairs[key] = value
    return pairs


def _parse_units(text: str | None) -> list[int] | None:
    from rnncondense.config import parse_int_list

    return None if text is None else parse_int_list(text, "--units", example="0,3,7", what="unit indices")


def main() -> None:
    from rnncondense.runtime import enable_compilation_cache, lean_compiler, steady_heap

    lean_compiler()
    steady_heap()
    enable_compilation_cache()
    interrupts.watch()
    try:
        app()
    except KeyboardInterrupt:  # outside a command (while starting up): no traceback either
        interrupts.first_caught()
        print("interrupted", file=sys.stderr)
        interrupts.leave(130)
    except SystemExit as done:
        if done.code == 130:  # interrupted: do not wait for the work the interrupt abandoned
            interrupts.leave(130)
        raise


if __name__ == "__main__":
    sys.exit(main())
