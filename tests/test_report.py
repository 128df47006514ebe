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
