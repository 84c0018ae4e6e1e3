"""dpo_frames.explore.report: chart data on known runs, the page's self-containment, and rendering in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import altair as alt
import polars as pl
import pytest

import dpo_frames
from dpo_frames import report
from tests import data

CHARTS = ["pair_funnel", "scores_by_turn", "margins", "pairs_per_example", "rejects"]


@pytest.fixture(scope="module")
def small() -> report.RunData:
    f = data.frames("r1")
    _, stats = dpo_frames.build_pairs(f["candidates"])
    return report.RunData(
        candidates=f["candidates"], rejects=f["rejects"], pairs=f["pairs"], pair_stats=stats, title="small run"
    )


def _values(chart: alt.Chart) -> list[dict]:
    return chart.to_dict()["data"]["values"]


def test_charts_in_order_with_titles(small):
    made = report.charts(small)
    assert list(made) == CHARTS == list(report.CHART_TITLES)
    for name, chart in made.items():
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert spec["title"]["text"] == report.CHART_TITLES[name]


def test_chart_data_on_known_run(small):
    made = report.charts(small)
    margins = _values(made["margins"])
    assert sum(v["pairs"] for v in margins) == 4
    assert [(round(v["bin_start"], 2), v["pairs"]) for v in margins] == [(0.5, 2), (0.7, 1), (0.95, 1)]
    assert [(v["example_id"], v["pairs"]) for v in _values(made["pairs_per_example"])] == [("e1", 3), ("e2", 1)]
    assert [(v["reason"], v["rejects"]) for v in _values(made["rejects"])] == [
        ("missing score", 2),
        ("non-numeric score", 1),
        ("unparsable step", 1),
    ]
    funnel = {v["outcome"]: v["pairs"] for v in _values(made["pair_funnel"])}
    assert funnel["tied"] == 1 and funnel["kept"] == 4
    scores = _values(made["scores_by_turn"])
    assert sum(v["candidates"] for v in scores) == 7
    assert {v["turn"] for v in scores} == {"0", "1"}
    assert [v["candidates"] for v in scores if v["turn"] == "1"] == [2]  # both 0.8: one bin


def test_missing_parts_say_so():
    made = report.charts(report.RunData())
    for name in CHARTS:
        assert _values(made[name])[0]["text"].startswith("no "), name
    empty = data.frames("r1")["rejects"].head(0)
    assert "no rejects" in _values(report.charts(report.RunData(rejects=empty))["rejects"])[0]["text"]


def test_many_turn_indexes_are_capped():
    candidates = data.frames("r1")["candidates"]
    many = pl.concat([candidates.with_columns(turn_index=pl.lit(i, dtype=pl.Int64)) for i in range(60)])
    turns = {v["turn"] for v in _values(report.scores_by_turn(many))}
    assert len(turns) == report.MAX_TURN_INDEX + 1 and f"{report.MAX_TURN_INDEX}+" in turns


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href")]


def _linked(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.links


def test_page_is_self_contained(small, tmp_path):
    path = report.write_report(small, tmp_path / "r.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert _linked(page) == []  # nothing is loaded from anywhere
    assert "window.vegaEmbed=" in page
    assert list(re.findall(r'data-chart="(\w+)"', page)) == CHARTS
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_load_run_reads_a_run_directory(tmp_path):
    from click.testing import CliRunner

    from dpo_frames.cli import cli

    result = CliRunner().invoke(
        cli, ["pairs", str(data.write_steps_jsonl(tmp_path / "s.jsonl")), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0
    loaded = report.load_run(tmp_path / "run")
    assert loaded.info.run_id == "run" and loaded.pair_stats.pairs == 4 and loaded.title == "dpo_frames run run"
    assert [v["reason"] for v in _values(report.charts(loaded)["rejects"])][0] == "missing score"


# --- in a real browser ---------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Any network use would fail: the page must not need it.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=15000",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("install chromium: apt-get install chromium (the report is checked in a real browser)")
    return found


def render_dom(page: Path) -> str:
    """The DOM of ``page`` after its scripts ran, from headless Chromium."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Charts(HTMLParser):
    """Per chart div: svg elements, and the items (path/text...) inside Vega mark groups."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None, bool]] = []  # tag, chart, inside a mark group
        self.svgs: dict[str, int] = {}
        self.items: dict[str, dict[str, int]] = {}
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        chart, in_mark = (self.stack[-1][1], self.stack[-1][2]) if self.stack else (None, False)
        if tag == "body":
            self.body = {k: v or "" for k, v in a.items()}
        if "data-chart" in a:
            chart = a["data-chart"]
            self.svgs.setdefault(chart, 0)
            self.items.setdefault(chart, {})
        if chart and tag == "svg":
            self.svgs[chart] += 1
        klass = a.get("class") or ""
        if chart and in_mark and tag in ("path", "text", "rect", "line"):
            mark = self.stack[-1][0]
            self.items[chart][mark] = self.items[chart].get(mark, 0) + 1
        if tag == "g" and "role-mark" in klass:
            mark = klass.split()[0]  # mark-rect, mark-text ...
            self.stack.append((mark, chart, True))
            return
        if tag not in ("path", "meta", "br", "img", "input", "link", "hr", "line", "rect", "circle"):
            self.stack.append((tag if not in_mark else self.stack[-1][0], chart, in_mark))

    def handle_endtag(self, tag):
        if tag in ("path", "line", "rect", "circle"):
            return
        if self.stack:
            self.stack.pop()


def _parse(dom: str) -> _Charts:
    parser = _Charts()
    parser.feed(dom)
    return parser


def test_report_renders_in_chromium(small, tmp_path):
    page = report.write_report(small, tmp_path / "report.html")
    parsed = _parse(render_dom(page))
    assert parsed.body.get("data-rendered") == "5" and parsed.body.get("data-failed") == "", parsed.body
    for name in CHARTS:
        assert parsed.svgs[name] >= 1, f"{name}: no svg"
        assert sum(parsed.items[name].values()) >= 1, f"{name}: no marks drawn"
    assert parsed.items["margins"].get("mark-rect") == 3  # three bins with pairs
    assert parsed.items["rejects"].get("mark-rect") == 3  # three reasons
    assert parsed.items["pairs_per_example"].get("mark-rect") == 2  # e1, e2
    assert parsed.items["pair_funnel"].get("mark-rect") == 6
    assert parsed.items["scores_by_turn"].get("mark-rect") == 6  # turn 0: five score bins; turn 1: one


def test_bundled_example_report_renders_in_chromium(tmp_path):
    from click.testing import CliRunner

    from dpo_frames.cli import cli

    run = tmp_path / "ttt"
    exported = run / "datasets" / "customizer"
    for args in (
        ["pairs", str(data.EXAMPLE_OUTPUT), "--out", str(run)],
        ["dataset", str(run), "--full-message-history"],
        ["report", str(exported)],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    dom = render_dom(exported / "report.html")  # a dataset's report: its run's frames and its own split
    parsed = _parse(dom)
    assert parsed.body.get("data-rendered") == "5", parsed.body
    assert parsed.items["pairs_per_example"].get("mark-rect") == 12  # every example, those without pairs too
    assert parsed.items["rejects"].get("mark-text") == 1 and "no rejects" in dom
    assert "validation_pairs" in dom  # the dataset statistics table
