"""dpo_frames.explore.report: chart data on known runs, every chart naming its frame, the page's
self-containment and its sections, several runs on one page, the report command.
The page in a real browser: test_report_browser.py."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import dpo_frames
from dpo_frames import report
from dpo_frames.cli import cli
from dpo_frames.cli import report as report_cli
from dpo_frames.explore import _report_pairs
from tests import data

CHARTS = [
    "pair_funnel",
    "margins",
    "scores_by_turn",
    "chosen_vs_rejected",
    "pairs_per_prompt",
    "pairs_per_example",
    "rejects",
]


@pytest.fixture(scope="module")
def small() -> report.RunData:
    f = data.frames("r1")
    _, stats = dpo_frames.build_pairs(f["candidates"])
    return report.RunData(
        candidates=f["candidates"], rejects=f["rejects"], pairs=f["pairs"], pair_stats=stats, title="small run"
    )


def _values(chart) -> list[dict]:
    spec = chart.to_dict()
    if "layer" in spec:
        return spec["layer"][0]["data"]["values"]
    return spec["data"]["values"]


def test_charts_in_order_with_titles_naming_their_frame(small):
    made = report.charts(small)
    assert list(made) == CHARTS == list(report.CHART_TITLES)
    subtitles = {}
    for name, chart in made.items():
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert spec["title"]["text"] == report.CHART_TITLES[name]
        subtitles[name] = spec["title"]["subtitle"][0]
    assert subtitles == {
        "pair_funnel": "pair statistics (PairStats) of the pairs stage",
        "margins": "pairs frame · 4 pairs",
        "scores_by_turn": "candidates frame · 7 candidates",
        "chosen_vs_rejected": "pairs frame · 4 pairs",
        "pairs_per_prompt": "pairs frame · 4 pairs",
        "pairs_per_example": "pairs frame · 4 pairs",
        "rejects": "rejects frame · 4 rejected steps",
    }


def test_pair_charts_describe_the_dataset_when_there_is_one(small):
    """After `dataset --max-pairs 2`, the charts describe the 2 pairs trained on, as the quality numbers do."""
    f = data.frames("r1")
    dataset, stats = dpo_frames.finalize_dataset(f["pairs"], max_pairs=2, seed=0)
    run = report.RunData(candidates=f["candidates"], pairs=f["pairs"], dataset=dataset, dataset_stats=stats)
    made = report.charts(run)
    for name in ("margins", "chosen_vs_rejected", "pairs_per_prompt", "pairs_per_example"):
        assert made[name].to_dict()["title"]["subtitle"][0] == "dataset frame · 2 pairs", name
    assert sum(v["pairs"] for v in _values(made["margins"])) == 2


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
    assert {v["position"] for v in scores} == {"0 (5)", "1 (2)"}  # the axis says how many candidates each holds
    # one prompt (p1) holds all 4 pairs; every count from 1 to 4 has its bar, empty ones too
    assert [(v["label"], v["prompts"]) for v in _values(made["pairs_per_prompt"])] == [
        ("1", 0),
        ("2", 0),
        ("3", 0),
        ("4", 1),
    ]
    cells = {(round(v["c0"], 2), round(v["r0"], 2)): v["pairs"] for v in _values(made["chosen_vs_rejected"])}
    assert cells == {(0.5, 0.0): 1, (0.9, 0.2): 1, (0.95, 0.0): 1, (0.95, 0.5): 1}


def test_counts_are_integers_for_people(small):
    """Count axes and legends: integer ticks with thousands separators (no `0, 1, 1`, no `1.0 / 1.5`)."""
    spec = report.charts(small)["margins"].to_dict()
    assert spec["encoding"]["y"]["axis"] == {"format": ",d", "tickMinStep": 1}
    heat = report.charts(small)["chosen_vs_rejected"].to_dict()
    assert heat["encoding"]["color"]["legend"] == {"format": ",d", "tickMinStep": 1}
    stats = dpo_frames.PairStats(candidate_pairs=1_110_564, pairs=1_000_000, tied_pairs=110_564)
    title = report.pair_funnel(stats).to_dict()["encoding"]["x"]["title"]
    assert title == "candidate pairs (1,110,564 in all)"


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


def test_several_runs_share_the_x_scales(small):
    f = data.frames("r1")
    wide = f["pairs"].with_columns(score_diff=pl.col("score_diff") * 2)
    other = report.RunData(candidates=f["candidates"], pairs=wide, title="wide")
    domains = report._shared_domains([small, other])
    assert domains["margins"] == (0.0, 2.0)
    for run in (small, other):
        x = report.charts(run, domains)["margins"].to_dict()["encoding"]["x"]
        assert x["scale"] == {"domain": [0.0, 2.0], "nice": False}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [f"{tag} {k}={v}" for k, v in attrs if k in ("src", "href") and not (v or "").startswith("#")]


def _linked(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.links


def _payload(page: str, ident: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{ident}">(.*?)</script>', page, flags=re.S)
    assert found is not None, ident
    return json.loads(found.group(1))


def test_page_is_self_contained(small, tmp_path):
    path = report.write_report(small, tmp_path / "r.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert _linked(page) == []  # nothing is loaded from anywhere; links only within the page
    assert "window.vegaEmbed=" in page
    assert list(re.findall(r'data-chart="(\w+)"', page)) == CHARTS
    assert sorted(_payload(page, "chart-specs")) == sorted(f"chart-0-{c}" for c in CHARTS)
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_page_sections_on_known_run(small, tmp_path):
    page = report.write_report(small, tmp_path / "r.html").read_text()
    funnel = re.findall(
        r'data-stage="(\w+)"><div class="stage-label">[^<]*</div><div class="stage-count">([^<]*)<', page
    )
    assert funnel == [("candidates", "7"), ("candidate_pairs", "5"), ("pairs", "4")]
    assert '<li><span class="minus">−1</span> tied</li>' in page
    levels = dict(re.findall(r'data-key="(\w+)" data-level="(\w+)"', page))
    assert levels["rejects"] == "bad"  # 4 of 11 candidate steps rejected
    assert "36% of the candidate steps were rejected" in page
    pairs = _payload(page, "pairs-data")
    assert len(pairs["pairs"]["m"]) == 4 and pairs["runs"] == [
        {"label": "small run", "source": "pairs", "total": 4, "embedded": 4, "sampled": False}
    ]


def test_data_cannot_break_out_of_the_page(tmp_path):
    f = data.frames("r1")
    evil = "</script><script>alert(1)</script><!-- & \u2028"
    pairs = f["pairs"].with_columns(chosen_response=pl.lit(evil))
    page = report.write_report(report.RunData(pairs=pairs, title="<b>run</b>"), tmp_path / "r.html").read_text()
    assert page.count("<script>alert(1)") == 0 and "<title>&lt;b&gt;run&lt;/b&gt;</title>" in page
    assert _payload(page, "pairs-data")["s"].count(evil) == 1  # the text itself arrives whole


def test_load_run_reads_a_run_directory(tmp_path):
    result = CliRunner().invoke(
        cli, ["pairs", str(data.write_steps_jsonl(tmp_path / "s.jsonl")), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0
    loaded = report.load_run(tmp_path / "run")
    assert loaded.info.run_id == "run" and loaded.pair_stats.pairs == 4 and loaded.title == "dpo_frames run run"
    assert loaded.label == "run" and loaded.path == tmp_path / "run"
    assert [v["reason"] for v in _values(report.charts(loaded)["rejects"])][0] == "missing score"


def test_load_runs_labels_are_distinct(run_dirs):
    r1, r2 = run_dirs
    runs = report.load_runs([r1, r2, r1])
    assert [r.name for r in runs] == ["r1", "r2", "r1 (2)"]


def test_the_report_command_compares_several_directories(run_dirs, tmp_path):
    r1, r2 = run_dirs
    out = tmp_path / "compare.html"
    result = CliRunner().invoke(cli, ["report", str(r1), str(r2), "--out", str(out), "--embed-pairs", "3"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert re.findall(r'data-chart="pair_funnel" data-run="(\d)"', page) == ["0", "1"]
    assert re.findall(r'<div class="run-label">([^<]+)</div>', page) == ["r1", "r2"]
    runs = _payload(page, "pairs-data")["runs"]
    assert [(r["label"], r["embedded"], r["total"], r["sampled"]) for r in runs] == [
        ("r1", 3, 4, True),
        ("r2", 3, 4, True),
    ]


def test_the_report_command_needs_out_for_several(run_dirs):
    result = CliRunner().invoke(cli, ["report", *map(str, run_dirs)])
    assert result.exit_code == 2 and "--out" in result.output
    assert not any((d / "report.html").exists() for d in run_dirs)


def test_the_commands_default_is_the_modules():
    assert report_cli.DEFAULT_EMBED_PAIRS == _report_pairs.PAIR_SAMPLE == report.PAIR_SAMPLE


def test_a_dataset_report_uses_its_runs_frames(tmp_path):
    run = tmp_path / "ttt"
    for args in (["pairs", str(data.EXAMPLE_OUTPUT), "--out", str(run)], ["dataset", str(run), "--max-pairs", "20"]):
        assert CliRunner().invoke(cli, args).exit_code == 0
    loaded = report.load_run(run / "datasets" / "customizer")
    assert loaded.candidates is not None and loaded.pairs is not None and loaded.dataset is not None
    page = report.render_html(loaded)
    assert '<div class="stage-count">20</div>' in page  # the dataset stage
    assert "−40</span> sampled out (max_pairs)" in page
    assert _payload(page, "pairs-data")["runs"][0]["source"] == "dataset"


def test_the_example_page_is_small(tmp_path: Path):
    """The bundled example's page: the Vega bundle (~0.9 MB) and a few kB of data."""
    run = tmp_path / "ttt"
    assert CliRunner().invoke(cli, ["pairs", str(data.EXAMPLE_OUTPUT), "--out", str(run)]).exit_code == 0
    page = report.write_report(run, run / "report.html")
    bundle = len(report._vega_bundle().encode())
    assert page.stat().st_size - bundle < 200_000


def test_an_unwritable_page_is_exit_6(run_dirs, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = CliRunner().invoke(cli, ["report", str(run_dirs[0]), "--out", str(blocked / "r.html")])
    assert result.exit_code == 6 and "cannot write" in result.output
