"""Figures of a condensation: behaviour after each step, metrics against size, original vs final,
and the canonical responses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rnncondense import storage
from rnncondense.analysis.summary import solution_metrics
from rnncondense.condense.config import CondenseConfig
from rnncondense.config import RunConfig
from rnncondense.plots.analysis import draw_pc_plane, draw_spectrum, unit_responses
from rnncondense.plots.common import interval_colors, new_figure, panel_grid, save_figure, tidy
from rnncondense.rnn import simulate
from rnncondense.tasks import make_task

PANELS = (
    ("timing_rel_error", "timing error (relative)"),
    ("miss_rate", "miss rate"),
    ("mse", "mse"),
    ("scaling_index", "scaling index"),
    ("ramp_fraction", "ramp fraction"),
    ("participation_ratio", "participation ratio"),
    ("pcs_90", "PCs for 90 % variance"),
    ("similarity_procrustes", "similarity to original (Procrustes)"),
)


def _values(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in records if r.get(key) is not None]
    return np.array([r["n_units"] for r in rows], float), np.array([float(r[key]) for r in rows])


def metrics_against_size(records: list[dict], *, title: str) -> Figure:
    """Every metric against the number of units (the original on the right)."""
    fig = new_figure(11.0, 5.2)
    axes = fig.subplots(2, 4).ravel()
    n_original = records[0]["n_units"]
    for ax, (key, label) in zip(axes, PANELS):
        sizes, values = _values(records, key)
        ax.plot(sizes, values, "-o", color="k", ms=3, lw=1)
        failed = [r for r in records if not r["success"] and r.get(key) is not None]
        if failed:
            ax.plot([r["n_units"] for r in failed], [r[key] for r in failed], "x", color="tab:red", ms=7, label="task failed")
            ax.legend(fontsize=7, frameon=False)
        if key == "timing_rel_error":
            ax.axhline(0.05, color="tab:red", lw=0.8, ls="--")
        if key == "mse" and np.all(values > 0):
            ax.set_yscale("log")
        ax.set_title(label, fontsize=9)
        ax.set_xlim(n_original * 1.03, min(sizes.min() if sizes.size else 0, n_original) * 0.97)
        tidy(ax)
    fig.supxlabel("units in the network (the original on the left)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def behavior_per_step(networks: list[tuple[dict, object]], config: RunConfig) -> Figure:
    """Output for every interval after selected steps: the seed study's "N merged" panels."""
    task = make_task(config.task)
    batch = task.condition_batch()
    colors = interval_colors(len(task.intervals_ms))
    fig, axes = panel_grid(len(networks), width=3.0, height=2.3, sharex=True, sharey=True)
    n_original = networks[0][0]["n_units"]
    for ax, (record, params) in zip(axes, networks):
        outputs = np.asarray(simulate(params, batch.inputs, alpha=config.alpha).outputs)[..., 0]
        for c, color in enumerate(colors):
            ax.plot(task.times_ms, np.asarray(batch.targets)[c, :, 0], color=color, lw=0.8, ls="--")
            ax.plot(task.times_ms, outputs[c], color=color, lw=1.4)
        merged = n_original - record["n_units"]
        verdict = "success" if record["success"] else "failed"
        ax.set_title(f"{merged} merged ({record['n_units']} units): {verdict}", fontsize=8,
                     color="k" if record["success"] else "tab:red")
        ax.set_ylim(-0.3, 1.6)
        tidy(ax)
    fig.supxlabel("time from trial start (ms); dashed: target", fontsize=9)
    fig.supylabel("output", fontsize=9)
    fig.suptitle("merged network behaviour, noise-free, one trial per interval", fontsize=10)
    return fig


def original_and_final(first: dict, last: dict, labels: tuple[str, str]) -> Figure:
    """Eigenvalue spectra and PC1-PC2 trajectories of two networks, side by side."""
    fig = new_figure(9.0, 8.4)
    axes = fig.subplots(2, 2)
    for column, (metrics, label) in enumerate(zip((first, last), labels)):
        draw_spectrum(axes[0, column], metrics["spectrum"], legend=False)
        axes[0, column].set_title(f"{label}: eigenvalues of W_rec", fontsize=9)
        draw_pc_plane(axes[1, column], metrics["activity"], metrics["pca"], 0, 1)
        axes[1, column].set_title(f"{label}: trajectories, Set to Go", fontsize=9)
    return fig


def _select(records: list[dict], count: int = 8) -> list[int]:
    index = np.unique(np.linspace(0, len(records) - 1, min(count, len(records))).round().astype(int))
    return [int(i) for i in index]


def plot_condensation(out: Path, config: RunConfig, records: list[dict], settings: CondenseConfig) -> list[Path]:
    from rnncondense.condense.run import load_step

    figures = out / storage.FIGURES_DIR
    steps = [r["step"] for r in records]
    title = f"{settings.method} condensation ({settings.similarity} pairs, {settings.operator} merges)"
    paths = [save_figure(metrics_against_size(records, title=title), figures / "metrics_vs_size.png")]
    chosen = [load_step(out, steps[i]) for i in _select(records)]
    networks = [(record, state.compact()[0]) for state, record in chosen]
    paths.append(save_figure(behavior_per_step(networks, config), figures / "behavior_per_step.png"))
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
    paths.append(save_figure(original_and_final(first, last, labels), figures / "original_vs_final.png"))
    if settings.method == "canonical":
        units = list(range(final["n_units"]))
        fig = unit_responses(last["activity"], units, scaling=last["scaling"], ramps=last["ramps"],
                             title=f"the {final['n_units']} canonical responses after retraining, coloured by interval")
        paths.append(save_figure(fig, figures / "canonical_responses.png"))
    return paths
