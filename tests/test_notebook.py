"""examples/quickstart.ipynb runs in a real Jupyter kernel and shows progress widgets: run by
nbclient, and in JupyterLab in a headless Chromium (skipped when those are not installed)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_quickstart_notebook(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.delenv("DASK_BNDL__PROGRESS", raising=False)  # the kernel must pick 'widget'
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError when a cell fails

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.outputs if o.output_type == "error"]
    assert not errors
    views = {i: [o.data[WIDGET_VIEW]["model_id"] for o in cell.outputs
                 if o.output_type == "display_data" and WIDGET_VIEW in o.get("data", {})]
             for i, cell in enumerate(code)}
    # the context shows itself as HTML
    assert "<b>ComputeContext</b>" in code[0].outputs[-1].data["text/html"]
    # both dataset actions and the futures display widgets
    for needle in ("count()", "reduce_by_key", "progress(futures)"):
        index = next(i for i, cell in enumerate(code) if needle in cell.source)
        assert views[index], f"no widget for the cell using {needle}"

    # the dataset jobs' widgets ended complete: every stage bar full and green, title 'done'
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] == "IntProgressModel"]
    assert len(bars) >= 3  # one stage for count(), two for the shuffle, ...
    assert all(b["value"] == b["max"] and b["bar_style"] == "success" for b in bars)
    titles = [m["state"]["value"] for m in state.values()
              if m["model_name"] == "HTMLModel" and m["state"]["value"].startswith("<b>Job ")]
    assert titles and all(": done in " in t for t in titles)
    # ...and so did the futures' widget, with a text fallback for viewers without widgets
    index = next(i for i, cell in enumerate(code) if "progress(futures)" in cell.source)
    (shown,) = [o for o in code[index].outputs if WIDGET_VIEW in o.get("data", {})]
    assert shown.data["text/plain"].startswith("futures: slow_square 20/20 | done in ")
    box = state[shown.data[WIDGET_VIEW]["model_id"]]
    assert box["model_name"] == "VBoxModel" and box["state"]["children"]
    futures_title = state[box["state"]["children"][0].removeprefix("IPY_MODEL_")]["state"]
    assert futures_title["value"].startswith("<b>Futures</b>: done in ")
    assert os.path.exists(NOTEBOOK)  # the example itself is not modified by the run


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)  # polling a server that is starting up, not synchronising on work
    raise TimeoutError(f"jupyter lab did not answer at {url}")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_quickstart_in_jupyterlab(tmp_path, monkeypatch):
    pytest.importorskip("jupyterlab")
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.delenv("DASK_BNDL__PROGRESS", raising=False)
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    screenshots = Path(os.environ.get("BNDL_SCREENSHOT_DIR") or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(f"{base}/api/status?token={token}", server)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 2000})
                page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
                page.wait_for_function(
                    "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                    " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
                page.evaluate("""async () => {
                    const panel = window.jupyterapp.shell.currentWidget;
                    await panel.context.ready;
                    await panel.sessionContext.ready;
                }""")
                page.evaluate(
                    "() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                # every dataset job's widget renders and ends complete
                page.wait_for_function("""() => {
                    const boxes = document.querySelectorAll('.bndl-progress');
                    return boxes.length >= 3 && Array.from(boxes).every(
                        box => box.textContent.includes('done in'));
                }""", timeout=300_000)
                page.wait_for_selector("text=Total allocated size", timeout=300_000)
                bars = page.evaluate("""() => Array.from(
                    document.querySelectorAll('.bndl-progress .progress-bar'),
                    bar => bar.style.width)""")
                page.screenshot(path=str(screenshots / "quickstart-jupyterlab.png"),
                                full_page=True)
                errors = page.locator(".jp-OutputArea-output[data-mime-type="
                                      "'application/vnd.jupyter.stderr']").count()
            finally:
                browser.close()
        assert len(bars) >= 3 and all(width == "100%" for width in bars), bars
        assert errors == 0
        assert (screenshots / "quickstart-jupyterlab.png").stat().st_size > 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
