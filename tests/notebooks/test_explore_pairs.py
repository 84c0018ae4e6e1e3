"""notebooks/explore_pairs.ipynb runs top to bottom (nbclient, in a temporary copy), on the bundled
example and pointed at a run directory, and shows what it says: every number checked here is
computed again from the library, not copied from the notebook."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import nbformat
import polars as pl
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient

import dpo_frames
from dpo_frames.cli import cli
from tests.conftest import EXAMPLE_OUTPUT

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "explore_pairs.ipynb"
STRATEGIES = [s.value for s in dpo_frames.PairStrategy]


def _execute(work: Path, source: Path | None = None) -> nbformat.NotebookNode:
    copy = work / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    if source is not None:
        (cell,) = _tagged(nb, "parameters")
        cell.source, n = re.subn(r"^SOURCE = None", f"SOURCE = {str(source)!r}", cell.source, flags=re.M)
        assert n == 1
    # Raises CellExecutionError, naming the cell and the error, if any cell fails.
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    return nb


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebook")


@pytest.fixture(scope="module")
def executed(work: Path) -> nbformat.NotebookNode:
    return _execute(work)


@pytest.fixture(scope="module")
def example() -> tuple[pl.DataFrame, pl.DataFrame]:
    candidates, _ = dpo_frames.extract_candidates(dpo_frames.read_steps(EXAMPLE_OUTPUT))
    pairs, _ = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(strategy="exhaustive"))
    return candidates, pairs


def _tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def _text(cell: nbformat.NotebookNode) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def _table(cell: nbformat.NotebookNode) -> list[list[str]]:
    (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    body = out.data["text/html"].split("<tbody>")[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in body.split("</tr>") if "<td>" in row]


def test_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    (first,) = [c for c in nb.cells if c.cell_type == "code"][:1]
    assert "parameters" in first.metadata["tags"] and re.search(r"^SOURCE = None", first.source, flags=re.M)


def test_no_cell_errors_or_warnings(executed):
    for cell in executed.cells:
        if cell.cell_type == "code":
            assert all(o.output_type != "error" for o in cell.outputs), cell.source
            assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], cell.source


def test_the_strategies_compared_on_the_same_candidates(executed, example):
    candidates, _ = example
    (cell,) = _tagged(executed, "comparison")
    rows = _table(cell)
    assert [html.unescape(r[0]).strip('"') for r in rows] == STRATEGIES
    for row, name in zip(rows, STRATEGIES, strict=True):
        pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(strategy=name))
        assert int(row[1]) == stats.pairs == pairs.height, name
        assert int(row[3]) == pairs["prompt_text"].n_unique(), name
    assert len({tuple(r[1:]) for r in rows}) == len(rows) - 1  # best_vs_mean_minus_2sd is best_vs_worst here


def test_the_strategy_chart_draws_every_strategy(executed, example):
    candidates, _ = example
    (cell,) = _tagged(executed, "chart")
    svg = cell.outputs[0].data["image/svg+xml"]
    assert svg.startswith("<svg") and all(f">{name}</text>" in svg for name in STRATEGIES)
    assert "mark-rule" in svg and "mark-rect" in svg  # the min-max lines, the boxes and the median ticks
    for name in STRATEGIES:
        n = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(strategy=name))[1].pairs
        assert f">{n} pairs</text>" in svg, name


def _printed_margins(cell: nbformat.NotebookNode) -> list[float]:
    return [float(m) for m in re.findall(r"^margin ([0-9.]+)", _text(cell), flags=re.M)]


def test_real_pairs_the_clearest_and_the_closest(executed, example):
    _, pairs = example
    (best,) = _tagged(executed, "best_pairs")
    (closest,) = _tagged(executed, "closest_pairs")
    margins = pairs["score_diff"].sort()
    assert _printed_margins(best) == [float(f"{m:.3g}") for m in margins.tail(3).reverse()]
    assert _printed_margins(closest) == [float(f"{m:.3g}") for m in margins.head(3)]
    top = pairs.sort(["score_diff", "pair_id"], descending=[True, False]).row(0, named=True)
    assert f"chosen   ({top['chosen_score']:.3g}): {top['chosen_response']}" in _text(best)
    assert top["prompt_messages"][-1]["content"].splitlines()[1] in _text(best)  # the board, as the prompt shows it


def test_sql_per_turn_position(executed, example):
    candidates, pairs = example
    (cell,) = _tagged(executed, "sql")
    rows = [[int(r[0]), int(r[1]), int(r[2]), int(r[3])] for r in _table(cell)]
    turns = candidates.group_by("turn_index").agg(turns=pl.col("turn_id").n_unique(), n=pl.len()).sort("turn_index")
    assert [r[:3] for r in rows] == [list(t) for t in turns.iter_rows()]
    assert sum(r[3] for r in rows) == pairs.height


def test_writes_the_dataset_it_talks_about(executed, work, example):
    _, pairs = example
    (cell,) = _tagged(executed, "dataset")
    dataset, stats = dpo_frames.finalize_dataset(pairs, seed=0)
    out = work / "explore_pairs_output" / "dataset"
    train = (out / "training" / "training_file.jsonl").read_text().splitlines()
    validation = (out / "validation" / "validation_file.jsonl").read_text().splitlines()
    assert (len(train), len(validation)) == (stats.train_pairs, stats.validation_pairs) == (49, 11)
    first = dataset.filter(pl.col("split") == "train").row(0, named=True)
    assert json.loads(train[0])["chosen_response"] == first["chosen_response"]
    assert f"train         {stats.train_pairs} pairs" in _text(cell)


def test_embeds_the_report(executed, work):
    (cell,) = _tagged(executed, "report")
    page = (work / "explore_pairs_output" / "report.html").read_text()
    (shown,) = [o for o in cell.outputs if o.output_type == "display_data"]
    frame = shown.data["text/html"]
    assert frame.startswith("<div><iframe srcdoc=") and 'id="pairs-data"' in html.unescape(frame)
    assert html.unescape(re.search(r'srcdoc="(.*?)" style', frame, flags=re.S).group(1)) == page
    assert '<div class="stage-count">49' not in page and "49</span> train" in page  # the dataset's split
    assert sorted(p.name for p in work.iterdir()) == [NOTEBOOK.name, "explore_pairs_output"]


def test_pointed_at_a_run_directory(tmp_path, executed):
    run = tmp_path / "runs" / "ttt"
    result = CliRunner().invoke(cli, ["pairs", str(EXAMPLE_OUTPUT), "--out", str(run)])
    assert result.exit_code == 0, result.output
    nb = _execute(tmp_path, run)
    (load,) = _tagged(nb, "load")
    assert _text(load) == f"run directory {run}: 119 candidates, 0 rejects\n"
    (here,) = _tagged(nb, "comparison")
    (there,) = _tagged(executed, "comparison")
    assert _table(here) == _table(there)  # the same candidates, the same comparison
