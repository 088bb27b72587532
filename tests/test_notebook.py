"""examples/quickstart.ipynb runs in a real Jupyter kernel and shows progress widgets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def test_quickstart_notebook(tmp_path, monkeypatch):
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
    assert os.path.exists(NOTEBOOK)  # the example itself is not modified by the run
