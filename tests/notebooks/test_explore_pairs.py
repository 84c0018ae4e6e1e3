"""notebooks/explore_pairs.ipynb runs top to bottom (nbclient, in a temporary copy) and shows what it says."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore_pairs.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    work = tmp_path_factory.mktemp("notebook")
    copy = work / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    # Raises CellExecutionError, naming the cell and the error, if any cell fails.
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    assert sorted(p.name for p in work.iterdir()) == [NOTEBOOK.name]  # wrote nothing beside itself
    return nb


def _tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def test_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


def test_no_cell_errors(executed):
    for cell in executed.cells:
        if cell.cell_type == "code":
            assert all(o.output_type != "error" for o in cell.outputs), cell.source


def test_summary_line(executed):
    (cell,) = _tagged(executed, "summary")
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream")
    assert text == "exhaustive: 60 pairs; best vs worst: 20 pairs; candidate pairs: 160, of which tied: 100\n"


def test_strategy_comparison_table(executed):
    (cell,) = _tagged(executed, "comparison")
    table = cell.outputs[0].data["text/html"]
    rows = dict(re.findall(r"<td>&quot;([^&]+)&quot;</td><td>(\d+)</td>", table))
    assert rows == {"exhaustive": "60", "exhaustive, margin 0.1": "60", "exhaustive, margin 0.3": "60",
                    "exhaustive, margin 0.5": "35", "exhaustive, cap 2 per turn": "39", "best vs worst": "20",
                    "best vs worst, margin 0.3": "20", "best vs worst, cap 1 per turn": "20"}


def test_charts_are_drawn(executed):
    cells = _tagged(executed, "chart")
    assert len(cells) == 4
    for cell in cells:
        svg = cell.outputs[0].data["image/svg+xml"]
        assert svg.startswith("<svg") and "mark-rect" in svg, cell.source
        assert svg.count("<path") > 5, cell.source  # bars and cells, not only axes
