"""The report: one self-contained page, opened in headless Chromium (Debian's chromium and
chromedriver, which `make test` installs when absent)."""

import re
import shutil

import pytest

from rnncondense import layout
from rnncondense.condense.config import condense_config
from rnncondense.errors import FileFormatError
from rnncondense.runs.analyze import analyze_run
from rnncondense.runs.circuits import run_circuit
from rnncondense.runs.condense import condense_run
from rnncondense.runs.plot import plot_run
from rnncondense.runs.report import write_report


@pytest.fixture(scope="module")
def study(tiny_run, tmp_path_factory):
    """A small study: the base network with its analysis, a one-shot curve and a circuit model."""
    root = tmp_path_factory.mktemp("study")
    shutil.copytree(tiny_run, root / "base")
    plot_run(root / "base")
    analyze_run(root / "base")
    condense_run(root / "base", root / "condense" / "one-shot" / "pca_seed",
                 condense_config({"method": "one-shot", "operator": "seed", "max_merges": 3, "k": 2}))
    run_circuit("linear2", {"animation_frames": "12"}, root / "circuits" / "linear2")
    return root


def test_report_is_self_contained(study):
    page = write_report(study, strict=True).read_text()
    assert page.count("<img") >= 10
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", page)  # nothing fetched from anywhere
    assert "<script" not in page
    for title in ("Findings", "The task and the base network", "Condensation", "Every metric", "Circuit models"):
        assert f">{title}</h2>" in page


def _chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "Debian's chromium and chromium-driver are needed: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def test_report_in_headless_chromium(study, tmp_path):
    path = write_report(study, strict=True)
    browser = _chromium()
    try:
        browser.get(path.resolve().as_uri())
        assert "rnncondense study" in browser.title
        screenshot = tmp_path / "report.png"
        assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
        widths = browser.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);"
        )
        assert len(widths) >= 10
        broken = [alt for complete, width, alt in widths if not complete or width == 0]
        assert not broken, f"images that did not load: {broken}"
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, f"console errors: {errors}"
        sections = browser.execute_script("return Array.from(document.querySelectorAll('section h2')).map(h => h.textContent);")
        assert sections == ["Findings", "The task and the base network", "Condensation", "Every metric", "Circuit models"]
    finally:
        browser.quit()


def test_a_missing_figure_fails_loudly(study, tmp_path):
    """A figure a finished stage should have drawn never silently vanishes from the page."""
    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    figure = copy / "base" / layout.FIGURES_DIR / layout.figure_file("eigenvalues")
    figure.unlink()
    (copy / layout.REPORT_FILE).unlink(missing_ok=True)
    with pytest.raises(FileFormatError, match=r"eigenvalues.png: figure missing \(1 in all\)"):
        write_report(copy, strict=True)
    assert not (copy / layout.REPORT_FILE).exists()  # nothing written
    page = write_report(copy).read_text()  # without strict: a visible placeholder names it
    assert "missing figure:" in page and "eigenvalues.png" in page


# ------------------------------------------------------------------------------ metric axes


def _sweep_table():
    """A sweep table of 3 sizes x 3 seeds whose [0, 1] metrics change by 1e-4 at most, with a
    failed and a diverged network (the case that once filled a panel with "+9.999e-1")."""
    import numpy as np
    import xarray as xr

    from rnncondense.plots.sweep import SOLUTION_METRICS, TASK_METRICS

    rng = np.random.default_rng(0)
    sizes, seeds = [10, 20, 40], [0, 1, 2]
    shape = (len(sizes), len(seeds))
    data = {name: (("size", "seed"), 0.9999 + 1e-4 * rng.random(shape)) for name in (*TASK_METRICS, *SOLUTION_METRICS)}
    data["pcs_90"] = (("size", "seed"), rng.integers(2, 5, shape).astype(float))
    data["participation_ratio"] = (("size", "seed"), 2.0 + 1e-4 * rng.random(shape))
    data["miss_rate"] = (("size", "seed"), 1e-4 * rng.random(shape))
    data["timing_rel_error"] = (("size", "seed"), 0.02 + 1e-4 * rng.random(shape))
    success = np.ones(shape)
    success[0, 0] = 0.0
    status = np.full(shape, "done", dtype=object)
    status[0, 1] = "diverged"
    data["success"] = (("size", "seed"), success)
    data["status"] = (("size", "seed"), status.astype(str))
    data["network"] = (("size", "seed"), np.array([[f"n{s}_s{k}" for k in seeds] for s in sizes]))
    return xr.Dataset(data, coords={"size": sizes, "seed": seeds})


def _check_axes(fig, label_of):
    """Every axis of `fig` whose metric (found by `label_of(ax)`) has a natural range lies within
    it (5 % margin for bounded metrics) and covers all of a bounded one; no offset notation."""
    from rnncondense.metrics import METRICS

    by_label = {m.axis_label(): m for m in METRICS.values()} | {m.label: m for m in METRICS.values()}
    checked = {}
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        entry = by_label.get(label_of(ax))
        if entry is None:
            continue
        low, high = ax.get_ylim()
        lo, hi = entry.natural_range
        if lo is not None and hi is not None:
            margin = 0.051 * (hi - lo)
            assert lo - margin <= low <= lo and hi <= high <= hi + margin, (entry.name, (low, high))
        elif lo is not None and ax.get_yscale() == "linear":
            assert low >= lo - 1e-9, (entry.name, low)
        elif ax.get_yscale() == "linear":  # unbounded: 1e-4 of change cannot fill the panel
            assert high - low >= 0.1, (entry.name, (low, high))
        assert ax.yaxis.get_offset_text().get_text() == "", (entry.name, ax.yaxis.get_offset_text().get_text())
        if entry.threshold is not None:
            assert any(list(line.get_ydata()) == [entry.threshold] * 2 for line in ax.get_lines()), entry.name
        checked[entry.name] = (low, high)
    return checked


def test_sweep_panels_lie_within_natural_ranges():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from rnncondense.plots.sweep import SOLUTION_METRICS, TASK_METRICS, metrics_against_size

    table = _sweep_table()
    checked = {}
    for names in (TASK_METRICS, SOLUTION_METRICS):
        fig = metrics_against_size(table, names)
        FigureCanvasAgg(fig).draw()
        checked |= _check_axes(fig, lambda ax: ax.get_ylabel())
    assert {"scaling_index", "ramp_fraction", "miss_rate", "timing_rel_error", "pcs_90", "max_real_eigenvalue"} <= set(checked)
    # failed and diverged networks are drawn apart (red crosses), and the median leaves them out
    fig = metrics_against_size(table, ("ramp_fraction",))
    crosses = [line for line in fig.axes[0].get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
    assert sum(len(line.get_xdata()) for line in crosses) == 2
    assert fig.axes[0].collections, "no interquartile band"


def test_condensation_panels_lie_within_natural_ranges():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from rnncondense.plots.condense import metrics_against_size

    records = [{"n_units": 40 - 4 * i, "success": i < 4, "timing_rel_error": 0.02 + 1e-5 * i, "miss_rate": 0.0,
                "mse": 1e-3, "scaling_index": 0.9999 - 1e-5 * i, "ramp_fraction": 0.1, "participation_ratio": 2.0,
                "pcs_90": 3, "similarity_procrustes": 0.99999 - 1e-6 * i} for i in range(5)]
    fig = metrics_against_size(records, title="t")
    FigureCanvasAgg(fig).draw()
    checked = _check_axes(fig, lambda ax: ax.get_title())
    assert {"similarity_procrustes", "scaling_index", "ramp_fraction", "miss_rate", "timing_rel_error"} <= set(checked)
