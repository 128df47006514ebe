"""Run one circuit end to end: simulate, measure, write figures and animations, summarise.

Each `run_*` takes a validated config and an output directory and returns a JSON-ready summary;
`run_circuit` validates, picks the runner of a circuit of the registry (`rnncondense.circuits`)
and adds `summary.json`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from rnncondense.circuits import animations, plots
from rnncondense.circuits.lif import LIFConfig, fi_curve, firing_rates_hz, simulate_lif
from rnncondense.circuits.linear2 import (
    Linear2Config,
    eigenmodes,
    mode_decay_times_ms,
    pulse_experiments,
    simulate_linear2,
    steady_state,
)
from rnncondense.circuits.respiratory import RespiratoryConfig, measure_rhythm, simulate_respiratory
from rnncondense.circuits.ring import (
    RingConfig,
    bump_center_deg,
    critical_speed_deg_per_s,
    odd_drift_speed_deg_per_s,
    predicted_lag_deg,
    simulate_ring,
    wrap_deg,
)
from rnncondense.circuits.ring import steady_state as ring_steady_state
from rnncondense import layout
from rnncondense.circuits import spec_of
from rnncondense.circuits._config import config_from_overrides
from rnncondense.dirlock import holding
from rnncondense.errors import RunDirError
from rnncondense.runs.figures import save_figure
from rnncondense.ties import write_json  # with a sidecar (ties)

__all__ = ["Progress", "RUNNERS", "run_circuit", "run_lif", "run_linear2", "run_respiratory", "run_ring"]

Progress = Callable[[str, int, int], None]
FIGURE_DPI = 100


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _save(fig, out_dir: Path, name: str, files: list[str]) -> None:
    save_figure(fig, out_dir / name, dpi=FIGURE_DPI)
    files.append(name)


def _number(value: complex | float) -> Any:
    """A real number, or [re, im] for a complex one (JSON has no complex numbers)."""
    value = complex(value)
    return value.real if abs(value.imag) < 1e-14 else [value.real, value.imag]


# ---------------------------------------------------------------------------------------------- LIF


def run_lif(config: LIFConfig, out_dir: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """A lone neuron, the population of `config.n`, and the f-I curve against the formula."""
    files: list[str] = []
    _report(progress, "single neuron", 0, 3)
    lone = simulate_lif(config.model_copy(update={"n": 1}), record=1, inhibition=False)
    _save(plots.lif_voltage(lone, config), out_dir, "lif_voltage.png", files)
    _report(progress, "population", 1, 3)
    population = simulate_lif(config, record=1)
    rates = firing_rates_hz(population)
    _save(plots.lif_raster(population), out_dir, "lif_raster.png", files)
    intervals = [np.diff(population.spike_time_ms[population.spike_neuron == i]) for i in range(population.n)]
    cvs = [isi.std() / isi.mean() for isi in intervals if isi.size >= 2]
    _report(progress, "f-I curve", 2, 3)
    fi = fi_curve(config)
    _save(plots.lif_fi_curve(fi, config), out_dir, "lif_fi_curve.png", files)
    above = fi.analytic_hz > 0
    relative = np.abs(fi.simulated_hz[above] / fi.analytic_hz[above] - 1.0)
    _report(progress, "done", 3, 3)
    single_rate = float(firing_rates_hz(lone)[0])
    return {
        "single_neuron": {"input": config.input, "rate_hz": single_rate, "n_spikes": int(lone.spike_time_ms.size)},
        "population": {
            "n": config.n,
            "mean_rate_hz": float(rates.mean()),
            "rate_sd_hz": float(rates.std()),
            "mean_cv_isi": float(np.mean(cvs)) if cvs else None,
        },
        "rheobase_na": config.rheobase_na,
        "fi_curve": {
            "current_na": fi.current_na.tolist(),
            "simulated_hz": fi.simulated_hz.tolist(),
            "analytic_hz": fi.analytic_hz.tolist(),
            "max_rel_error_above_rheobase": float(relative.max()) if relative.size else None,
        },
        "scheme": "exact exponential integration per step with closed-form threshold crossing times",
        "text": (
            f"lone neuron {single_rate:.1f} Hz; population of {config.n}: {rates.mean():.1f} Hz; "
            f"f-I curve within {relative.max() if relative.size else 0:.1e} (relative) of the formula"
        ),
        "files": files,
    }


# ------------------------------------------------------------------------------------- linear 2-unit


def run_linear2(config: Linear2Config, out_dir: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Eigenmodes, pulse experiments along the axes and eigenvectors, decay fits, steady state."""
    files: list[str] = []
    matrix, tonic = config.matrix, config.tonic
    modes = eigenmodes(matrix, config.tau_ms)
    try:
        fixed_point = steady_state(matrix, tonic)
    except np.linalg.LinAlgError:
        fixed_point = None
    _report(progress, "pulse experiments", 0, 3)
    experiments = pulse_experiments(config)
    center = fixed_point if fixed_point is not None else np.zeros(2)
    _save(plots.linear2_time_courses(experiments, config), out_dir, "linear2_time_courses.png", files)
    _save(plots.linear2_phase_plane(experiments, modes, center), out_dir, "linear2_phase_plane.png", files)
    # Free decay (no input: the dynamics of the deviation from any fixed point) exciting both modes.
    start = np.real(modes.eigenvectors[:, 0]) + np.real(modes.eigenvectors[:, 1])
    decay = simulate_linear2(config.model_copy(update={"h": [0.0, 0.0]}), v0=start)
    measured = mode_decay_times_ms(decay, matrix, after_ms=0.0)
    # Relaxation to the fixed point from rest.
    simulated_fixed_point = None
    if modes.stable and fixed_point is not None:
        slowest = float(np.max(modes.time_constants_ms))
        long_run = simulate_linear2(config, duration_ms=min(30.0 * slowest, 200_000 * config.dt_ms))
        simulated_fixed_point = long_run.v[-1].tolist()
    _report(progress, "animation", 2, 3)
    written = animations.linear2_animation(
        experiments, modes, center, out_dir / "linear2_phase_plane.gif", n_frames=config.animation_frames
    )
    files += [path.name for path in written]
    _report(progress, "done", 3, 3)
    predicted = modes.time_constants_ms
    return {
        "eigenvalues": [_number(v) for v in modes.eigenvalues],
        "eigenvectors": [[_number(x) for x in modes.eigenvectors[:, k]] for k in range(2)],
        "stable": modes.stable,
        "mode_time_constants_ms": {"predicted": predicted.tolist(), "measured": measured.tolist()},
        "steady_state": {
            "predicted": None if fixed_point is None else fixed_point.tolist(),
            "simulated": simulated_fixed_point,
        },
        "text": (
            "mode time constants "
            + ", ".join(f"{p:.3f} (measured {m:.3f}) ms" for p, m in zip(predicted, measured))
        ),
        "files": files,
    }


# -------------------------------------------------------------------------------------- respiratory


def run_respiratory(config: RespiratoryConfig, out_dir: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Integrate the CPG with solve_ivp, measure the rhythm, draw the four outputs."""
    files: list[str] = []
    _report(progress, "solve_ivp", 0, 2)
    start = time.perf_counter()
    result = simulate_respiratory(config)
    seconds = time.perf_counter() - start
    rhythm = measure_rhythm(result, transient_ms=config.transient_ms)
    _report(progress, "figure", 1, 2)
    _save(plots.respiratory_traces(result, rhythm), out_dir, "respiratory_traces.png", files)
    _report(progress, "done", 2, 2)
    phases = ", ".join(f"{name} {ms:.0f} ms" for name, ms in rhythm.phase_ms.items())
    return {
        "pattern": rhythm.pattern,
        "period_ms": rhythm.period_ms,
        "period_sd_ms": rhythm.period_sd_ms,
        "n_cycles": rhythm.n_cycles,
        "phase_ms": rhythm.phase_ms,
        "peak_output": rhythm.peak_output,
        "solver": {"method": config.method, "rtol": config.rtol, "n_rhs": result.n_rhs, "seconds": seconds},
        "text": f"{rhythm.pattern} rhythm, period {rhythm.period_ms:.1f} ms; {phases}",
        "files": files,
    }


# --------------------------------------------------------------------------------------------- ring


def _drift_deg_per_s(rates: np.ndarray, theta_deg: np.ndarray, t_ms: np.ndarray) -> float:
    """Mean angular speed of the bump centre (deg/s) from a line fit to the unwrapped centre."""
    center = np.unwrap(np.deg2rad(2.0 * bump_center_deg(rates, theta_deg))) / 2.0
    return float(np.polyfit(t_ms, np.rad2deg(center), 1)[0] * 1000.0) if t_ms.size > 1 else math.nan


def run_ring(config: RingConfig, out_dir: Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """A stationary input (bump against the analytic profile) and a rotating one (lag against theory)."""
    files: list[str] = []
    try:
        state = ring_steady_state(j0=config.j0, j2=config.j2, c=config.input_c, eps=config.input_eps)
    except ValueError:
        state = None
    _report(progress, "stationary input", 0, 3)
    still = simulate_ring(config)
    final = still.rates[-1]
    settled = still.t_ms > config.settle_ms
    _save(plots.ring_heatmap(still, title="stationary input"), out_dir, "ring_heatmap_stationary.png", files)
    if state is not None:
        _save(plots.ring_profile(still, state), out_dir, "ring_profile.png", files)
    _report(progress, "rotating input", 1, 3)
    moving = simulate_ring(config, speed_deg_per_s=config.speed_deg_per_s)
    late = moving.t_ms > config.settle_ms
    lag = wrap_deg(moving.input_deg - bump_center_deg(moving.rates, moving.theta_deg))[late]
    bump_speed = _drift_deg_per_s(moving.rates[late], moving.theta_deg, moving.t_ms[late])
    locked = abs(bump_speed - config.speed_deg_per_s) <= 0.02 * abs(config.speed_deg_per_s) + 0.5
    _save(
        plots.ring_heatmap(moving, title=f"input rotating at {config.speed_deg_per_s:g} deg/s"),
        out_dir,
        "ring_heatmap_rotating.png",
        files,
    )
    _report(progress, "animation", 2, 3)
    written = animations.ring_animation(moving, state, out_dir / "ring_bump.gif", n_frames=config.animation_frames)
    files += [path.name for path in written]
    _report(progress, "done", 3, 3)
    predicted_lag = predicted_lag_deg(config, config.speed_deg_per_s) if state is not None else math.nan
    measured_lag = float(np.mean(lag)) if locked else math.nan
    summary = {
        "analytic": None if state is None else state._asdict(),
        "stationary": {
            "peak": float(final.max()),
            "mean": float(final.mean()),
            "active_fraction": float(np.mean(final > 1e-6 * max(final.max(), 1e-30))),
            "peak_rel_error": None if state is None else float(final.max() / state.peak - 1.0),
            "bump_drift_deg_per_s": _drift_deg_per_s(still.rates[settled], still.theta_deg, still.t_ms[settled]),
            "predicted_odd_drift_deg_per_s": odd_drift_speed_deg_per_s(config) if config.input_eps == 0 else None,
        },
        "rotating": {
            "speed_deg_per_s": config.speed_deg_per_s,
            "locked": bool(locked),
            "bump_speed_deg_per_s": bump_speed,
            "lag_deg": measured_lag,
            "lag_sd_deg": float(np.std(lag)) if locked else None,
            "predicted_lag_deg": predicted_lag,
            "critical_speed_deg_per_s": critical_speed_deg_per_s(config) if state is not None else None,
        },
        "files": files,
    }
    peak_text = f"peak {final.max():.4f}" + ("" if state is None else f" (analytic {state.peak:.4f}, {state.regime})")
    lag_text = (
        f"lag {measured_lag:.2f} deg (predicted {predicted_lag:.2f})" if locked else "bump does not follow the input"
    )
    summary["text"] = f"{peak_text}; rotating input {config.speed_deg_per_s:g} deg/s: {lag_text}"
    return summary


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {  # run(config, out_dir, *, progress) -> summary
    "lif": run_lif,
    "linear2": run_linear2,
    "respiratory": run_respiratory,
    "ring": run_ring,
}


@holding("out_dir")  # one writer per directory (dirlock)
def run_circuit(
    name: str,
    overrides: Mapping[str, Any] | None,
    out_dir: str | Path,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Validate, run circuit `name`, write its files and `summary.json` into `out_dir`.

    Args:
        name: a key of CIRCUITS.
        overrides: parameter name -> value, e.g. {"D1": "0"}; strings are converted by the type of
            the config field (numbers, true/false, lists such as "[[0, .8], [.8, 0]]").
        out_dir: created if missing; existing files of the same names are replaced atomically.
        progress: called as progress(stage, done, total) while the circuit runs.

    Returns:
        The summary (also written to `out_dir/summary.json`): measured numbers, the resolved
        config, the files written and a one-line `text`.

    Raises:
        ConfigError: unknown circuit or parameter, or a value that is not allowed.
        RunDirError: `out_dir` exists and is not a directory.
    """
    spec = spec_of(name)
    config = config_from_overrides(spec.config, overrides, circuit=name)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}' exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    measured = RUNNERS[name](config, out, progress=progress)
    summary = {
        "circuit": name,
        "title": spec.title,
        "reference": spec.reference,
        "config": config.model_dump(mode="json"),
        **measured,
        "seconds": time.perf_counter() - start,
    }
    summary["files"] = [*measured.get("files", []), layout.CIRCUIT_SUMMARY_FILE]
    write_json(out / layout.CIRCUIT_SUMMARY_FILE, summary)
    return summary
