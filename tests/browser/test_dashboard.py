"""The live-dashboard notebook in a real browser: Playwright drives chromium against a JupyterLab this test starts.

Runs ``notebooks/03_live_dashboard.ipynb`` (a temporary copy, without its closing cell), then checks what a user
would see: the widgets render (no "Error displaying widget"), they change over time, a call the test originates
shows up, the dark theme re-colours them, and ``%ami_disconnect`` turns a view's badge to "disconnected".
Screenshots go to ``$AMI_NB_BROWSER_ARTIFACTS`` (default ``build/browser``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]  # ~50 s alone; a loaded CI machine needs more

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AMI_NB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("AMI_NB_BROWSER_ARTIFACTS", ROOT / "build" / "browser"))


def _missing() -> str | None:
    if CHROMIUM is None:
        return "no chromium on PATH (apt-get install -y chromium, or set AMI_NB_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if shutil.which("jupyter-lab") is None and shutil.which("jupyter") is None:
        return "jupyterlab is not installed (pip install -e '.[test]')"
    return None


if (_why := _missing()) is not None:
    pytest.skip(f"browser tests need a browser: {_why}", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=30_000)  # every wait of this test is on a condition; a loaded machine is slow to meet it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab on a free loopback port, token off, serving a temporary copy of the notebooks."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    nb_path = root / "notebooks" / "03_live_dashboard.ipynb"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    nb["cells"] = nb["cells"][:-2]  # without "Stop": the test closes up itself
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb["metadata"].pop("widgets", None)
    nb_path.write_text(json.dumps(nb), encoding="utf-8")
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"), "PYTHONPATH": str(ROOT),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    port = _free_port()
    log = (tmp / "jupyter.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ServerApp.token=",
         "--ServerApp.password=", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (tmp / "jupyter.log").read_text()[-2000:]
                    raise RuntimeError(f"JupyterLab did not start: {tail}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(lab: str) -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--disable-dev-shm-usage"])
        pg = browser.new_page(viewport={"width": 1366, "height": 900})
        pg.set_default_timeout(30_000)
        try:
            yield pg
        finally:
            browser.close()


def _menu(page: Page, top: str, *items: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    for item in items:
        label = re.compile(f"^{re.escape(item)}$")
        page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel", has_text=label).first.click()


def _idle(page: Page, timeout: float = 60_000) -> None:
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status=idle]", timeout=timeout)


def _run_cell(page: Page, code: str) -> None:
    """Append a code cell at the end of the notebook, type ``code`` and run it."""
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    nb.locator(".jp-Cell").last.click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    time.sleep(0.3)
    _idle(page)


def _views(page: Page) -> Any:
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .aminb")


def _shot(page: Page, locator: Any, name: str) -> None:
    locator.scroll_into_view_if_needed()
    time.sleep(0.6)  # two redraws
    locator.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_live_dashboard_in_jupyterlab(page: Page, lab: str) -> None:
    try:
        _scenario(page, lab)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "failure.png"))  # what the page showed when the test gave up
        raise


def _scenario(page: Page, lab: str) -> None:
    page.goto(f"{lab}/lab/tree/notebooks/03_live_dashboard.ipynb?reset")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=60_000)
    deadline = time.monotonic() + 120
    while page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\| Idle")).count() == 0:
        accept = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel" on a fresh server: the default
        if accept.count():
            accept.first.click()
        assert time.monotonic() < deadline, "the kernel never became idle"
        time.sleep(0.3)
    _menu(page, "Run", "Run All Cells")
    time.sleep(1)
    _idle(page, timeout=90_000)
    views = _views(page)
    page.screenshot(path=str(ARTIFACTS / "after-run-all.png"))
    expect(views).to_have_count(2, timeout=30_000)  # the live view and the wallboard
    assert page.locator("text=Error displaying widget").count() == 0
    live, board = views.nth(0), views.nth(1)
    badge = live.locator(".aminb-badge")
    expect(badge).to_have_text("live")

    # it moves: the figures change while nobody runs anything
    live.scroll_into_view_if_needed()
    before = live.locator(".aminb-head").inner_text()
    time.sleep(2.5)
    assert live.locator(".aminb-head").inner_text() != before
    expect(live.locator(".aminb-box").first.locator("tbody tr").first).to_be_visible()
    expect(board.locator(".aminb-card").first).to_be_visible()

    # a call the test makes, 5 ms of real time, stays visible after it ended
    _run_cell(page, 'session.action("Originate", Channel="Local/100@demo", Application="Wait", Data="0.3", '
                    'Async=True, Account="browser-test")')
    live.scroll_into_view_if_needed()
    mine = live.locator("tr.ended", has_text="Local/100@demo")
    expect(mine.first).to_be_visible(timeout=15_000)
    _shot(page, live, "live-light")
    _shot(page, board, "wallboard-light")

    # the dark theme: the views take JupyterLab's colours
    light_bg = live.evaluate("e => getComputedStyle(e).backgroundColor")
    _menu(page, "Settings", "Theme", "JupyterLab Dark")
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    time.sleep(1)
    dark_bg = live.evaluate("e => getComputedStyle(e).backgroundColor")
    assert dark_bg != light_bg
    rgb = [int(v) for v in re.findall(r"\d+", dark_bg)[:3]]
    assert sum(rgb) < 3 * 100, dark_bg  # a dark background, not a hard-coded light one
    _shot(page, live, "live-dark")
    _shot(page, board, "wallboard-dark")

    # %ami_disconnect: a view of a magic connection reads "disconnected" at once
    _run_cell(page, 'import os\nos.environ["AMI_SECRET"] = pbx.users["admin"].secret\n%load_ext ami_nb\n'
                    "%ami_connect {pbx.url} -a browser\n%ami_live --rate 4")
    expect(views).to_have_count(3, timeout=30_000)
    third = views.nth(2)
    expect(third.locator(".aminb-badge")).to_have_text("live", timeout=15_000)
    _run_cell(page, "%ami_disconnect -a browser")
    expect(third.locator(".aminb-badge")).to_have_text("disconnected", timeout=15_000)
    _shot(page, third, "disconnected-dark")
    assert page.locator("text=Error displaying widget").count() == 0
    _run_cell(page, "view.stop(); board.stop(); pbx.stop_traffic(); session.close(); pbx.stop()")
    expect(badge).to_have_text("disconnected", timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "page.png"))
