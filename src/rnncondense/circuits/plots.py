"""Static figures of the circuit models (Figure API, no pyplot state); save with `save_figure`."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from rnncondense.circuits.lif import FICurve, LIFConfig, LIFResult, analytic_rate_hz
from rnncondense.circuits.linear2 import Eigenmodes, Linear2Config, Linear2Result
from rnncondense.circuits.respiratory import PHASES, POPULATIONS, RespiratoryResult, Rhythm, output
from rnncondense.circuits.ring import RingResult, SteadyState, bump_center_deg
from rnncondense.plots.common import new_figure

__all__ = [
    "lif_voltage",
    "lif_raster",
    "lif_fi_curve",
    "linear2_time_courses",
    "linear2_phase_plane",
    "draw_phase_plane_axes",
    "respiratory_traces",
    "ring_heatmap",
    "ring_profile",
    "POPULATION_COLORS",
    "PULSE_COLORS",
]

POPULATION_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
PULSE_COLORS = ("0.35", "0.6", "tab:purple", "tab:cyan")


def _tidy(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)


def lif_voltage(result: LIFResult, config: LIFConfig, *, neuron: int = 0, title: str = "") -> Figure:
    """Membrane potential of one neuron with its threshold and rest lines and its spikes."""
    fig = new_figure(7.0, 2.8)
    ax = fig.subplots()
    ax.plot(result.t_ms, result.v_mv[:, neuron], color="k", lw=0.8)
    spikes = result.spike_time_ms[result.spike_neuron == neuron]
    ax.vlines(spikes, config.v_th_mv, config.v_th_mv + 15.0, color="k", lw=0.8)
    ax.axhline(config.v_th_mv, color="tab:red", ls="--", lw=1, label=f"threshold {config.v_th_mv} mV")
    ax.axhline(config.v_rest_mv, color="tab:blue", ls=":", lw=1, label=f"rest/reset {config.v_rest_mv} mV")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("v (mV)")
    ax.set_xlim(0, result.duration_ms)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    rate = spikes.size / (result.duration_ms / 1000.0)
    ax.set_title(title or f"LIF neuron, {config.input} input: {rate:.1f} Hz", fontsize=9)
    _tidy(ax)
    return fig


def lif_raster(result: LIFResult, *, bin_ms: float = 10.0, title: str = "") -> Figure:
    """Spike raster of the population and its rate in bins of `bin_ms`."""
    fig = new_figure(7.0, 4.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.scatter(result.spike_time_ms, result.spike_neuron, s=0.6, color="k", marker="|", linewidths=0.5)
    top.set_ylabel("neuron")
    top.set_ylim(-0.5, result.n - 0.5)
    edges = np.arange(0.0, result.duration_ms + bin_ms, bin_ms)
    counts, _ = np.histogram(result.spike_time_ms, bins=edges)
    bottom.step(edges[:-1], counts / (result.n * bin_ms / 1000.0), where="post", color="tab:red", lw=1)
    bottom.set_ylabel("rate (Hz)")
    bottom.set_xlabel("time (ms)")
    bottom.set_xlim(0, result.duration_ms)
    mean = result.spike_time_ms.size / (result.n * result.duration_ms / 1000.0)
    top.set_title(title or f"population of {result.n}: mean rate {mean:.1f} Hz", fontsize=9)
    for ax in (top, bottom):
        _tidy(ax)
    return fig


def lif_fi_curve(fi: FICurve, config: LIFConfig) -> Figure:
    """Simulated steady rate under constant current against the analytic formula."""
    fig = new_figure(4.2, 3.4)
    ax = fig.subplots()
    fine = np.linspace(0.0, float(fi.current_na.max()), 400)
    ax.plot(fine, analytic_rate_hz(fine, config), color="tab:blue", lw=1.5, label="analytic")
    ax.plot(fi.current_na, fi.simulated_hz, "o", color="k", ms=4, label=f"simulated (dt {config.dt_ms} ms)")
    ax.axvline(config.rheobase_na, color="0.7", ls=":", lw=1, label=f"rheobase {config.rheobase_na * 1000:.0f} pA")
    ax.set_xlabel("current (nA)")
    ax.set_ylabel("rate (Hz)")
    ax.set_title(f"f-I curve, t_ref = {config.refractory_ms} ms", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    _tidy(ax)
    return fig


def linear2_time_courses(experiments: dict[str, Linear2Result], config: Linear2Config) -> Figure:
    """v1 and v2 after each input pulse, one panel per pulse direction."""
    fig = new_figure(7.5, 4.8)
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    for ax, (name, result) in zip(axes, experiments.items()):
        ax.axvspan(config.pulse_onset_ms, config.pulse_onset_ms + config.pulse_ms, color="0.92")
        ax.plot(result.t_ms, result.v[:, 0], color="tab:blue", lw=1.3, label="v1")
        ax.plot(result.t_ms, result.v[:, 1], color="tab:orange", lw=1.3, label="v2")
        ax.set_title(f"pulse along {name}", fontsize=8)
        _tidy(ax)
    axes[0].legend(fontsize=7, frameon=False)
    for ax in axes[2:]:
        ax.set_xlabel("time (ms)")
    fig.suptitle(f"tau dv/dt = -v + M v + h,  M = {config.M}", fontsize=9)
    return fig


def draw_phase_plane_axes(ax, experiments: dict[str, Linear2Result], modes: Eigenmodes, center: np.ndarray) -> float:
    """Eigenvector lines through the fixed point and limits that hold every trajectory; returns the extent."""
    points = np.concatenate([r.v for r in experiments.values()])
    extent = float(np.max(np.abs(points - center))) * 1.15 or 1.0
    for k in range(2):
        vector = np.real(modes.eigenvectors[:, k])
        if np.iscomplexobj(modes.eigenvalues):  # complex modes have no invariant line
            continue
        line = np.outer([-extent * 1.5, extent * 1.5], vector) + center
        label = f"eigvec {k + 1}: lambda={modes.eigenvalues[k]:.2f}, tau_k={modes.time_constants_ms[k]:.1f} ms"
        ax.plot(line[:, 0], line[:, 1], color=("tab:red", "tab:pink")[k], lw=1, ls="--", label=label)
    ax.plot(*center, "k+", ms=8)
    ax.set_xlim(center[0] - extent, center[0] + extent)
    ax.set_ylim(center[1] - extent, center[1] + extent)
    ax.set_aspect("equal")
    ax.set_xlabel("v1")
    ax.set_ylabel("v2")
    _tidy(ax)
    return extent


def linear2_phase_plane(experiments: dict[str, Linear2Result], modes: Eigenmodes, center: np.ndarray) -> Figure:
    """Trajectories of all pulse experiments in the (v1, v2) plane with the eigenvectors."""
    fig = new_figure(4.8, 5.4)
    ax = fig.subplots()
    draw_phase_plane_axes(ax, experiments, modes, center)
    for color, (name, result) in zip(PULSE_COLORS, experiments.items()):
        ax.plot(result.v[:, 0], result.v[:, 1], color=color, lw=1.4, label=name)
    ax.legend(fontsize=6, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)
    ax.set_title("phase plane: pulses along the axes and eigenvectors", fontsize=8)
    return fig


def respiratory_traces(result: RespiratoryResult, rhythm: Rhythm, *, title: str = "") -> Figure:
    """f(V_i) of the four populations, stacked, with the measured period and phase durations."""
    f = output(result.v_mv)
    t_s = result.t_ms / 1000.0
    inspiration = np.argmax(f[1:4], axis=0) == 0  # early-I leads
    fig = new_figure(8.0, 5.6)
    axes = fig.subplots(4, 1, sharex=True)
    for i, ax in enumerate(axes):
        ax.fill_between(t_s, 0, 1, where=inspiration, transform=ax.get_xaxis_transform(), color="0.93", lw=0)
        ax.plot(t_s, f[i], color=POPULATION_COLORS[i], lw=1.2)
        ax.set_ylabel(f"{POPULATIONS[i]}\nf(V)", fontsize=8)
        ax.set_ylim(-0.03, 1.0)
        _tidy(ax)
    axes[-1].set_xlabel("time (s); grey: inspiration (early-I leads)")
    phases = ", ".join(f"{name} {rhythm.phase_ms[name]:.0f} ms" for name in PHASES)
    fig.suptitle(
        title or f"{rhythm.pattern} rhythm: period {rhythm.period_ms:.0f} ms ({phases})",
        fontsize=9,
    )
    return fig


def ring_heatmap(result: RingResult, *, title: str = "") -> Figure:
    """Rates (units x time) with the input orientation and the bump centre."""
    fig = new_figure(7.5, 3.6)
    ax = fig.subplots()
    stride = max(1, result.t_ms.size // 1500)
    t = result.t_ms[::stride]
    image = ax.imshow(
        result.rates[::stride].T,
        aspect="auto",
        origin="lower",
        extent=(0.0, float(result.t_ms[-1]), -90.0, 90.0),
        cmap="viridis",
        interpolation="nearest",
    )
    center = bump_center_deg(result.rates[::stride], result.theta_deg)
    ax.plot(t, result.input_deg[::stride], ",", color="w", alpha=0.8)
    ax.plot(t, center, ",", color="tab:red")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("preferred orientation (deg)")
    fig.colorbar(image, ax=ax, label="rate")
    ax.set_title(title or "ring rates; white: input orientation, red: bump centre", fontsize=9)
    return fig


def ring_profile(result: RingResult, state: SteadyState, *, title: str = "") -> Figure:
    """Final rate profile against the analytic stationary profile."""
    fig = new_figure(4.6, 3.2)
    ax = fig.subplots()
    ax.plot(result.theta_deg, result.rates[-1], "o", ms=2.5, color="k", label="simulated")
    center = float(bump_center_deg(result.rates[-1], result.theta_deg))
    psi = np.deg2rad(2.0 * (result.theta_deg - center))
    if state.regime == "homogeneous":
        analytic = np.full_like(psi, state.peak)
    elif state.regime == "linear":
        analytic = state.mean + state.amplitude * np.cos(psi)
    else:
        analytic = state.amplitude * np.maximum(np.cos(psi) - np.cos(np.deg2rad(2.0 * state.half_width_deg)), 0.0)
    ax.plot(result.theta_deg, analytic, color="tab:blue", lw=1.2, label=f"analytic ({state.regime})")
    ax.set_xlabel("preferred orientation (deg)")
    ax.set_ylabel("rate")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title or f"steady profile: peak {result.rates[-1].max():.4f} vs {state.peak:.4f}", fontsize=9)
    _tidy(ax)
    return fig
