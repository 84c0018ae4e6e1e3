"""The report page in headless Chromium with the network cut: it draws, the pair browser answers a
person's input (typing, the margin slider, clicks), nothing goes to the console as an error.

Every expected count is computed from the frames with Polars, not read off the page. The run
leaves screenshots for people to look at in ``.tmp/report-screenshots/`` at the top of the
repository (``$DPO_FRAMES_SCREENSHOTS`` to put them elsewhere): ``example.png`` (the top of
the bundled example's page), ``example-full.png``, ``example-pair-open.png``, ``sampled.png``
and ``compare.png``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from dpo_frames import report
from dpo_frames.cli import cli
from tests import data
from tests.explore.browser import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("DPO_FRAMES_SCREENSHOTS", ROOT / ".tmp" / "report-screenshots"))
READY = "document.body.dataset.rendered !== undefined && document.body.dataset.pairsReady !== undefined"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1400, height=1000) as b:
        yield b


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """The bundled example: run, dataset export and the export's report; and its dataset frame."""
    run = tmp_path_factory.mktemp("example") / "ttt"
    exported = run / "datasets" / "customizer"
    for args in (
        ["pairs", str(data.EXAMPLE_OUTPUT), "--out", str(run)],
        ["dataset", str(run)],
        ["report", str(exported)],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    return exported / "report.html", pl.read_parquet(exported / "dataset.parquet")


def _open(browser: Browser, page: Path) -> Page:
    tab = browser.open(page)
    tab.wait_for(READY)
    return tab


def _count(tab: Page) -> str:
    return tab.eval("document.getElementById('match-count').textContent")


def _cards(tab: Page) -> list[dict]:
    return tab.eval(
        "[...document.querySelectorAll('li.pair')].map((li) => ({margin: +li.dataset.margin,"
        " head: li.querySelector('.pair-head').textContent, text: li.textContent,"
        " chosen: [...li.querySelectorAll('.side.chosen mark')].map((m) => m.textContent),"
        " rejected: [...li.querySelectorAll('.side.rejected mark')].map((m) => m.textContent),"
        " texts: [...li.querySelectorAll('.side .text')].map((t) => t.textContent)}))"
    )


def _assert_clean(tab: Page, page: Path) -> None:
    assert tab.errors == []
    assert tab.requests == [page.resolve().as_uri()]  # the file itself, nothing else


def test_the_example_report_draws_offline(browser, example):
    page, dataset = example
    tab = _open(browser, page)
    assert tab.eval("document.body.dataset.rendered") == str(len(report.CHART_TITLES))
    assert tab.eval("document.body.dataset.failed") == ""
    assert tab.eval("document.body.dataset.pairsReady") == str(dataset.height)
    marks = tab.eval(
        "Object.fromEntries([...document.querySelectorAll('[data-chart]')].map((d) =>"
        " [d.dataset.chart, d.querySelectorAll('svg .role-mark > *').length]))"
    )
    assert set(marks) == set(report.CHART_TITLES) and all(n >= 1 for n in marks.values()), marks
    assert marks["pairs_per_example"] == 12  # every example, those without pairs too
    stages = tab.eval("[...document.querySelectorAll('.stage-count')].map((s) => s.textContent)")
    assert stages == ["119", "119", "160", "60", "60"]
    assert tab.eval("document.querySelector('.finding[data-key=ties]').dataset.level") == "warn"
    assert _count(tab).startswith(f"{dataset.height} of {dataset.height} embedded pairs match")
    _assert_clean(tab, page)
    for shot in (
        tab.screenshot(SCREENSHOTS / "example.png"),
        tab.screenshot(SCREENSHOTS / "example-full.png", full_page=True),
    ):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _haystack(dataset: pl.DataFrame) -> pl.Expr:
    contents = pl.col("prompt_messages").list.eval(pl.element().struct.field("content")).list.join("\n")
    return pl.concat_str(
        pl.coalesce(contents, pl.col("prompt_text")),
        pl.col("chosen_response"),
        pl.col("rejected_response"),
        separator="\n",
    ).str.to_lowercase()


def test_typing_a_search(browser, example):
    page, dataset = example
    tab = _open(browser, page)
    term = "row 3, column 3"
    tab.type("#f-search", term)
    expected = dataset.filter(_haystack(dataset).str.contains(term, literal=True)).height
    assert 0 < expected < dataset.height
    assert _count(tab).startswith(f"{expected} of {dataset.height} embedded pairs match")
    cards = _cards(tab)
    assert len(cards) == min(expected, 20) and all(term in c["text"].lower() for c in cards)
    _assert_clean(tab, page)


def test_moving_the_margin_filter(browser, example):
    page, dataset = example
    tab = _open(browser, page)
    tab.focus("#f-mlo")
    tab.press("ArrowRight", 50)  # half way: the slider runs from the smallest margin to the largest
    lo, hi = dataset["score_diff"].min(), dataset["score_diff"].max()
    bound = lo + (hi - lo) * 0.5
    expected = dataset.filter(pl.col("score_diff") >= bound - 1e-9).height
    assert 0 < expected < dataset.height
    assert tab.eval("document.getElementById('f-mout').textContent") == f"{float(f'{bound:.3g}'):g} – {hi:g}"
    assert _count(tab).startswith(f"{expected} of ")
    assert all(c["margin"] >= bound - 1e-9 for c in _cards(tab))
    _assert_clean(tab, page)


def test_opening_a_pair_shows_the_conversation(browser, example):
    page, dataset = example
    tab = _open(browser, page)
    tab.select("#f-sort", "margin-desc")
    first = tab.eval("document.querySelector('li.pair').dataset.index")
    tab.click("li.pair .pair-head")
    assert tab.eval("document.querySelector('li.pair').classList.contains('open')")
    assert tab.eval("document.querySelector('li.pair .pair-head').getAttribute('aria-expanded')") == "true"
    shown = tab.eval(
        "[...document.querySelectorAll('li.pair.open .conversation .msg')].map((m) =>"
        " [m.querySelector('.role').textContent, m.querySelector('.content').textContent])"
    )
    pair_id = tab.eval("document.querySelector('li.pair.open .pair-meta').textContent").split()[1]
    (messages,) = dataset.filter(pl.col("pair_id") == pair_id)["prompt_messages"].to_list()
    assert shown == [[m["role"], m["content"]] for m in messages] and [r for r, _ in shown] == ["system", "user"]
    assert dataset.filter(pl.col("pair_id") == pair_id)["score_diff"].item() == dataset["score_diff"].max()
    tab.screenshot(SCREENSHOTS / "example-pair-open.png", at="#pairs")
    tab.click("li.pair .pair-head")
    assert tab.eval("document.querySelectorAll('li.pair.open').length") == 0 and first is not None
    _assert_clean(tab, page)


def test_the_differing_words_are_marked(browser, example):
    """Every response of the example reads 'I play row R, column C.': exactly the differing digits are marked."""
    page, _ = example
    tab = _open(browser, page)
    cards = _cards(tab)
    assert cards
    for card in cards:
        chosen, rejected = card["texts"]
        a, b = chosen.split(), rejected.split()
        assert len(a) == len(b) == 6, card
        differ = [(x.strip(",."), y.strip(",.")) for x, y in zip(a, b, strict=True) if x != y]
        assert card["chosen"] == [x for x, _ in differ] and card["rejected"] == [y for _, y in differ]


def test_filters_sort_and_paging(browser, example):
    page, dataset = example
    tab = _open(browser, page)
    assert tab.eval("document.getElementById('page-of').textContent") == "page 1 of 3"
    tab.click("#page-next")
    assert tab.eval("document.getElementById('page-of').textContent") == "page 2 of 3"
    assert _count(tab).endswith("showing 21–40")
    tab.select("#f-split", "validation")
    validation = dataset.filter(pl.col("split") == "validation")
    assert _count(tab).startswith(f"{validation.height} of ") and all("validation" in c["head"] for c in _cards(tab))
    example_id = validation["example_id"][0]
    tab.type("#f-example", example_id)
    expected = validation.filter(pl.col("example_id").str.contains(example_id, literal=True)).height
    assert _count(tab).startswith(f"{expected} of ")
    tab.click("#f-reset")
    assert _count(tab).startswith(f"{dataset.height} of ")
    tab.select("#f-turn", "0")
    tab.select("#f-sort", "margin-asc")
    margins = [c["margin"] for c in _cards(tab)]
    assert margins == sorted(margins) and all("(index 0)" in c["head"] for c in _cards(tab))
    _assert_clean(tab, page)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """A synthetic run of 10k candidates (benchmarks/synth.py), its page embedding 500 of its pairs."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import synth
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    root = tmp_path_factory.mktemp("synth")
    synth.stored_steps_frame(synth.generate(synth.SynthSpec(10_000))).write_parquet(root / "steps.parquet")
    run = root / "run"
    result = CliRunner().invoke(cli, ["pairs", str(root / "steps.parquet"), "--out", str(run)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["report", str(run), "--embed-pairs", "500"])
    assert result.exit_code == 0, result.output
    return run / "report.html", pl.read_parquet(run / "pairs.parquet")


def test_a_large_run_embeds_a_documented_sample(browser, sampled):
    page, pairs = sampled
    tab = _open(browser, page)
    assert tab.eval("document.body.dataset.pairsReady") == "500" and pairs.height > 500
    note = tab.eval("document.getElementById('sample-note').textContent")
    assert f"500 of its {pairs.height:,} pairs embedded" in note and "widest and closest margins" in note
    assert tab.eval("document.getElementById('page-of').textContent") == "page 1 of 25"
    tab.select("#f-sort", "margin-desc")
    assert _cards(tab)[0]["margin"] == pairs["score_diff"].max()  # the extremes are always embedded
    tab.select("#f-sort", "margin-asc")
    assert _cards(tab)[0]["margin"] == pairs["score_diff"].min()
    tab.screenshot(SCREENSHOTS / "sampled.png")
    _assert_clean(tab, page)


def test_several_runs_side_by_side(browser, example, tmp_path):
    exported = example[0].parent
    run = exported.parent.parent
    out = tmp_path / "compare.html"
    result = CliRunner().invoke(cli, ["report", str(run), str(exported), "--out", str(out)])
    assert result.exit_code == 0, result.output
    tab = _open(browser, out)
    assert tab.eval("document.body.dataset.rendered") == str(2 * len(report.CHART_TITLES))
    assert tab.eval("[...document.querySelectorAll('#f-run option')].map((o) => o.textContent)") == [
        "all runs",
        str(run),
        str(exported),
    ]
    assert tab.eval("document.getElementById('f-run-field').hidden") is False
    pairs = pl.read_parquet(run / "pairs.parquet")
    assert _count(tab).startswith(f"{2 * pairs.height} of ")
    tab.select("#f-run", "1")
    assert _count(tab).startswith(f"{pairs.height} of ") and all(str(exported) in c["head"] for c in _cards(tab))
    rows = tab.eval("[...document.querySelectorAll('.funnel .run-label')].map((r) => r.textContent).filter(Boolean)")
    assert rows == [str(run), str(exported)]
    tab.screenshot(SCREENSHOTS / "compare.png")
    _assert_clean(tab, out)


def test_texts_stay_text(browser, tmp_path):
    f = data.frames("r1")
    evil = "</script><script>document.title='owned'</script><img src=x onerror=alert(1)>"
    pairs = f["pairs"].with_columns(chosen_response=pl.lit(evil))
    page = report.write_report(report.RunData(pairs=pairs, candidates=f["candidates"]), tmp_path / "evil.html")
    tab = _open(browser, page)
    assert tab.eval("document.title") != "owned" and tab.eval("document.querySelectorAll('img').length") == 0
    assert evil in tab.eval("document.querySelector('.side.chosen .text').textContent")
    assert not any(e.get("method") == "Page.javascriptDialogOpening" for e in browser.events)
    _assert_clean(tab, page)
