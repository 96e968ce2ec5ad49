"""The lab in a real browser: JupyterLab served on localhost, Debian's Chromium driven by
Playwright, the quick-start notebook run from the page, a panel's slider moved with the
keyboard, and the panel's output seen to change. Screenshots go to $POLYMLP_LAB_SCREENSHOTS
(default: the test's temporary folder)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_quick_start.ipynb"
TOKEN = "polymlp-lab-browser-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free localhost port, serving a copy of the quick start."""
    pytest.importorskip("playwright", reason="Playwright (PyPI) is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package; scripts/setup.sh)")
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port = _free_port()
    log = open(root / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={TOKEN}",
         f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.disable_check_xsrf=True", "--allow-root",
         f"--LabApp.workspaces_dir={root / 'workspaces'}", f"--LabApp.user_settings_dir={root / 'settings'}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return server.poll() is not None and pytest.fail(
                f"jupyter lab exited: {(root / 'jupyter.log').read_text()[-2000:]}")

    try:
        _wait_for(up, 90, "jupyter lab to start")
        yield url, root
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _summary(page) -> str:
    """Text of the model builder's summary line (features and cost)."""
    return page.locator(".widget-html", has_text="features,").last.inner_text()


def test_quick_start_runs_in_chromium_and_a_slider_changes_the_panel(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, root = lab
    shots = Path(os.environ.get("POLYMLP_LAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?reset&token={TOKEN}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
            timeout=120_000,
        )
        page.screenshot(path=str(shots / "1_opened.png"))
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # the last cell prints this when every cell before it ran without error
        page.locator(".jp-OutputArea-output", has_text="quick start finished").wait_for(
            timeout=240_000)
        page.locator(".widget-html", has_text="features,").last.wait_for(timeout=60_000)
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
        assert not tracebacks, tracebacks
        # a widget whose JavaScript failed to load (e.g. a mismatched nglview) shows this box
        assert page.locator("text=Click to show javascript error").count() == 0
        assert page.locator(".jp-OutputArea-output canvas").count() >= 1  # the 3-D view
        page.screenshot(path=str(shots / "2_ran.png"), full_page=True)

        before = _summary(page)
        slider = page.locator(".widget-hslider", has_text="gtinv order").last
        slider.scroll_into_view_if_needed()
        handle = slider.locator(".noUi-handle")
        handle.focus()
        handle.press("ArrowRight")  # order 3 -> 4: more invariants
        _wait_for(lambda: _summary(page) != before, 60, "the panel to redraw its summary")
        after = _summary(page)
        page.screenshot(path=str(shots / "3_slider_moved.png"), full_page=True)
        browser.close()
    features_before = int(before.split()[0])
    features_after = int(after.split()[0])
    assert features_after > features_before  # the kernel recomputed the model: 4th order added
    for name in ("1_opened.png", "2_ran.png", "3_slider_moved.png"):
        assert (shots / name).stat().st_size > 10_000
