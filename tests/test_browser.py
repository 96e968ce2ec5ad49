"""The lab in a real browser: JupyterLab served on localhost, started the way
``scripts/lab.sh`` and Binder start it (the interpreter's ``-m jupyter lab`` on the notebooks,
the environment not activated: PATH without its bin folder, no ../shared), Debian's Chromium
driven by Playwright. Every notebook is run with Run All and must finish without a traceback
or a widget error; each panel's main button is then clicked once and must answer in its
status line. In the quick start a slider is moved with the keyboard and the panel's output
seen to change. Screenshots (one per notebook) go to $POLYMLP_LAB_SCREENSHOTS (default: the
test's temporary folder)."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = NOTEBOOKS / "01_quick_start.ipynb"
TOKEN = "polymlp-lab-browser-test"
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"  # a shell where the environment is not activated
MAIN_BUTTONS = re.compile(r"^\s*(Run|Scan|Refresh|Train|Time it)\s*$")  # a panel's main action


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
    """A JupyterLab server on a free localhost port over a copy of ``notebooks/``, started as
    scripts/lab.sh starts it, with PATH and the environment of a shell that did not activate
    the interpreter's environment, and no ../shared beside the copy."""
    pytest.importorskip("playwright", reason="Playwright (PyPI) is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is absent (Debian's chromium package; scripts/setup.sh)")
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(NOTEBOOKS, root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    port = _free_port()
    log = open(root / "jupyter.log", "w")
    env = {"HOME": str(root / "home"), "PATH": CLEAN_PATH, "LANG": "C.UTF-8",
           "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", "")}
    env = {k: v for k, v in env.items() if v}
    (root / "home").mkdir()
    news = root / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)  # no "get notified about Jupyter news?" box over the page
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "notebooks/", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={TOKEN}",
         "--LabApp.expose_app_in_browser=True",
         "--ServerApp.disable_check_xsrf=True", "--allow-root",
         f"--LabApp.workspaces_dir={root / 'workspaces'}", f"--LabApp.user_settings_dir={root / 'settings'}"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env,
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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def _screenshots(tmp_path) -> Path:
    shots = Path(os.environ.get("POLYMLP_LAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _open(browser, url, name):
    """A page with notebook ``name`` open and its kernel started."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{name}?reset&token={TOKEN}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel",
        timeout=120_000,
    )
    return page


def _problems(page) -> list:
    """Tracebacks, error outputs and widgets that failed to display, as shown in the page."""
    found = [t for t in page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        if "Traceback" in t or "Error" in t]
    for text in ("Click to show javascript error", "Error displaying widget",
                 "Failed to display Jupyter Widget", "Model not found"):
        if page.locator(f"text={text}").count():
            found.append(text)
    return found


def _summary(page) -> str:
    """Text of the model builder's summary line (features and cost)."""
    return page.locator(".widget-html", has_text="features,").last.inner_text()


def test_quick_start_runs_in_chromium_and_a_slider_changes_the_panel(lab, browser, tmp_path):
    url, root = lab
    shots = _screenshots(tmp_path)
    page = _open(browser, url, NOTEBOOK.name)
    page.screenshot(path=str(shots / "1_opened.png"))
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # the last cell prints this when every cell before it ran without error
    page.locator(".jp-OutputArea-output", has_text="quick start finished").wait_for(
        timeout=240_000)
    page.locator(".widget-html", has_text="features,").last.wait_for(timeout=60_000)
    assert not _problems(page), _problems(page)
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
    page.close()
    features_before = int(before.split()[0])
    features_after = int(after.split()[0])
    assert features_after > features_before  # the kernel recomputed the model: 4th order added
    for name in ("1_opened.png", "2_ran.png", "3_slider_moved.png"):
        assert (shots / name).stat().st_size > 10_000


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
def test_notebook_runs_all_in_chromium_and_its_panels_answer(lab, browser, notebook, tmp_path):
    """Run All finishes without a traceback or widget error; each enabled main button of a
    panel (Run, Scan, Refresh, Train, Time it) answers in the panel once clicked."""
    url, root = lab
    shots = _screenshots(tmp_path)
    page = _open(browser, url, notebook)
    try:
        page.evaluate("() => { window.__ran = null; window.jupyterapp.commands"
                      ".execute('notebook:run-all-cells').then(ok => { window.__ran = ok; }); }")
        page.wait_for_function("() => window.__ran !== null", timeout=600_000, polling=1000)
        ran = page.evaluate("() => window.__ran")
        page.wait_for_timeout(3000)  # widgets render after their cells finish
        assert ran is True, f"{notebook}: Run All stopped at an error: {_problems(page)}"
        assert not _problems(page), _problems(page)
        clicked = []
        buttons = page.locator("button.jupyter-button:not([disabled])", has_text=MAIN_BUTTONS)
        for k in range(buttons.count()):
            button = buttons.nth(k)
            button.scroll_into_view_if_needed()
            panel = button.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][last()]")
            before, label = panel.inner_text(), button.inner_text().strip()
            button.click()
            if label == "Refresh":  # re-reads the same folder: nothing new to show
                page.wait_for_timeout(3000)
            else:
                _wait_for(lambda: panel.inner_text() != before, 30,
                          f"the panel of button {label!r} to answer")
            assert "⚠" not in panel.inner_text().replace(before, ""), panel.inner_text()
            clicked.append(label)
            page.wait_for_timeout(1500)
            panel.screenshot(path=str(shots / f"{Path(notebook).stem}-panel{k}.png"))
        assert not _problems(page), _problems(page)
        page.screenshot(path=str(shots / f"{Path(notebook).stem}.png"))
    finally:  # end the kernel (and any run a click started) before the next notebook
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        page.close()
    panels = re.search(r"(Panel|Browser|Builder|Explorer|Explorer\.from_folder)\(",
                       (NOTEBOOKS / notebook).read_text())
    assert clicked or not panels, f"{notebook} shows panels but no main button could be clicked"
