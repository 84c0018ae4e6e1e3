"""Charts of a run (Altair) and a self-contained HTML report of them.

Every chart is drawn from a small aggregate computed with Polars (at most a few
hundred rows, whatever the size of the run), so the page stays small and a large run
directory is scanned, not loaded. The page inlines the Vega, Vega-Lite and Vega-Embed
JavaScript (the bundle shipped by ``vl-convert-python``), so it opens offline.

Example:
    >>> import dpo_frames
    >>> from dpo_frames import report
    >>> steps = dpo_frames.read_steps("examples/tictactoe/data/workflow_output.json")  # doctest: +SKIP
    >>> candidates, rejects = dpo_frames.extract_candidates(steps)                    # doctest: +SKIP
    >>> pairs, stats = dpo_frames.build_pairs(candidates)                             # doctest: +SKIP
    >>> data = report.RunData(candidates=candidates, rejects=rejects, pairs=pairs, pair_stats=stats)  # doctest: +SKIP
    >>> report.charts(data)["margins"]    # an altair.Chart, shown inline in Jupyter  # doctest: +SKIP
    >>> report.write_report(data, "report.html")                                      # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from dpo_frames._atomic import write_text
from dpo_frames.errors import MissingExtraError, RunDirError
from dpo_frames.explore._report_html import PAGE
from dpo_frames.rundir import RunDir, RunRecord, open_dir

try:
    import altair as alt
except ImportError as exc:
    raise MissingExtraError("the HTML report", "report", exc.name or "altair") from None
from dpo_frames.dataset.finalize import DatasetStats
from dpo_frames.explore.quality import quality_checks
from dpo_frames.pairs.stats import PairStats

__all__ = ["CHART_TITLES", "RunData", "charts", "load_run", "render_html", "write_report"]

BINS = 20
"""Bins of the score and margin histograms."""
TOP_EXAMPLES = 30
"""Examples shown in the pairs-per-example chart (the ones with the most pairs)."""
MAX_TURN_INDEX = 40
"""Turn indexes from this one on are drawn as one row ``40+``."""

CHART_TITLES: dict[str, str] = {
    "pair_funnel": "What became of the candidate pairs",
    "scores_by_turn": "Candidate scores per turn index",
    "margins": "Score margin (score_diff) of the pairs",
    "pairs_per_example": "Pairs per example",
    "rejects": "Rejected candidate steps by reason",
}
"""The charts, in page order, by name."""

Frame = pl.DataFrame | pl.LazyFrame
_COUNT_AXIS = alt.Axis(format="d", tickMinStep=1)


@dataclass
class RunData:
    """What the charts are drawn from; any part may be missing (its chart then says so)."""

    candidates: Frame | None = None
    rejects: Frame | None = None
    pairs: Frame | None = None
    dataset: Frame | None = None
    pair_stats: PairStats | None = None
    dataset_stats: DatasetStats | None = None
    info: RunRecord | None = None
    title: str = "dpo_frames run"


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """The frames (scanned lazily) and the record of a directory dpo_frames wrote.

    A dataset export holds only its dataset frame: the candidates, rejects and pairs it
    was made from are read from the run its record names, when that is still there.
    """
    run = open_dir(run_dir)
    info = run.record
    frames = {name: run.frame(name) for name in ("candidates", "rejects", "pairs", "dataset")}
    source = _source_run(run)
    if source is not None:
        frames.update({name: source.frame(name) for name in ("candidates", "rejects", "pairs") if frames[name] is None})
    return RunData(
        **frames,
        pair_stats=info.pair_stats,
        dataset_stats=info.dataset.stats if info.dataset else None,
        info=info,
        title=f"dpo_frames {info.kind.value} {run.title}",
    )


def _source_run(run: RunDir) -> RunDir | None:
    """The run a dataset export was made from, if it still opens."""
    source = run.record.dataset.source if run.record.dataset else None
    if source is None or Path(source).resolve() == run.path.resolve():
        return None
    try:
        return open_dir(source)
    except RunDirError:
        return None


def _lazy(frame: Frame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _values(frame: pl.DataFrame) -> alt.Data:
    return alt.Data(values=frame.to_dicts())


def _message(text: str) -> alt.Chart:
    """A chart that only says ``text`` (no data of that kind)."""
    return (
        alt.Chart(alt.Data(values=[{"text": text}]))
        .mark_text(size=14, color="#666")
        .encode(text="text:N")
        .properties(width=400, height=60)
    )


def _bins(frame: pl.LazyFrame, column: str, lower: float | None = None) -> tuple[pl.Expr, pl.Expr] | None:
    """Equal-width bins over the column's range: (bin start, bin end) expressions."""
    lo, hi = frame.select(lo=pl.col(column).min(), hi=pl.col(column).max()).collect().row(0)
    if lo is None:
        return None
    lo = lower if lower is not None and lower <= lo else lo
    width = (hi - lo) / BINS if hi > lo else 1.0
    index = ((pl.col(column) - lo) / width).floor().clip(0, BINS - 1)
    start = lo + index * width
    return start.alias("bin_start"), (start + width).alias("bin_end")


def scores_by_turn(candidates: Frame | None) -> alt.Chart:
    """Heat map: candidates per (turn index, score bin)."""
    if candidates is None:
        return _message("no candidates frame")
    lf = _lazy(candidates).filter(pl.col("score").is_finite())
    bins = _bins(lf, "score")
    if bins is None:
        return _message("no candidates")
    turn = (
        pl.when(pl.col("turn_index").is_null())
        .then(pl.lit("none"))
        .when(pl.col("turn_index") >= MAX_TURN_INDEX)
        .then(pl.lit(f"{MAX_TURN_INDEX}+"))
        .otherwise(pl.col("turn_index").cast(pl.String))
    )
    order = (
        pl.when(pl.col("turn_index").is_null())
        .then(MAX_TURN_INDEX + 1)
        .otherwise(pl.col("turn_index").clip(upper_bound=MAX_TURN_INDEX))
    )
    counts = (
        lf.group_by(turn.alias("turn"), order.alias("order"), *bins)
        .agg(candidates=pl.len())
        .sort("order", "bin_start")
        .collect()
    )
    turn_order = counts.unique("turn", maintain_order=True)["turn"].to_list()
    return (
        alt.Chart(_values(counts))
        .mark_rect()
        .encode(
            x=alt.X("bin_start:Q", title="score", bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("turn:O", title="turn index", sort=turn_order),
            color=alt.Color("candidates:Q", scale=alt.Scale(scheme="blues"), title="candidates"),
            tooltip=[
                alt.Tooltip("turn:O", title="turn index"),
                alt.Tooltip("bin_start:Q", title="score from", format=".3g"),
                alt.Tooltip("bin_end:Q", title="score to", format=".3g"),
                alt.Tooltip("candidates:Q"),
            ],
        )
        .properties(width=480, height=alt.Step(22))
    )


def margins(pairs: Frame | None) -> alt.Chart:
    """Histogram of the pairs' score differences."""
    if pairs is None:
        return _message("no pairs frame")
    lf = _lazy(pairs)
    bins = _bins(lf, "score_diff", lower=0.0)
    if bins is None:
        return _message("no pairs")
    counts = lf.group_by(*bins).agg(pairs=pl.len()).sort("bin_start").collect()
    return (
        alt.Chart(_values(counts))
        .mark_bar(color="#4c78a8")
        .encode(
            x=alt.X("bin_start:Q", title="score_diff (chosen - rejected)", bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("pairs:Q", title="pairs", axis=_COUNT_AXIS),
            tooltip=[
                alt.Tooltip("bin_start:Q", title="from", format=".3g"),
                alt.Tooltip("bin_end:Q", title="to", format=".3g"),
                alt.Tooltip("pairs:Q"),
            ],
        )
        .properties(width=480, height=220)
    )


def pairs_per_example(pairs: Frame | None, candidates: Frame | None = None) -> alt.Chart:
    """Bars: pairs of the examples with the most pairs (examples without pairs count in the title)."""
    if pairs is None:
        return _message("no pairs frame")
    per = _lazy(pairs).group_by(pl.col("example_id").fill_null("none")).agg(pairs=pl.len())
    if candidates is not None:
        examples = _lazy(candidates).select(pl.col("example_id").fill_null("none")).unique()
        per = examples.join(per, on="example_id", how="full", coalesce=True).with_columns(pl.col("pairs").fill_null(0))
    per_df = per.sort(["pairs", "example_id"], descending=[True, False]).collect()
    if per_df.height == 0:
        return _message("no pairs")
    without = int((per_df["pairs"] == 0).sum())
    top = per_df.head(TOP_EXAMPLES)
    title = f"{min(TOP_EXAMPLES, per_df.height)} of {per_df.height} examples"
    if without:
        title += f"; {without} without pairs"
    return (
        alt.Chart(_values(top))
        .mark_bar(color="#72b7b2")
        .encode(
            x=alt.X("pairs:Q", title="pairs", axis=_COUNT_AXIS),
            y=alt.Y("example_id:N", title="example", sort=top["example_id"].to_list()),
            tooltip=["example_id:N", "pairs:Q"],
        )
        .properties(width=480, height=alt.Step(16), title=title)
    )


def rejects_by_reason(rejects: Frame | None) -> alt.Chart:
    """Bars: rejected candidate steps by reason."""
    if rejects is None:
        return _message("no rejects frame")
    counts = (
        _lazy(rejects)
        .group_by("reason")
        .agg(rejects=pl.len())
        .sort(["rejects", "reason"], descending=[True, False])
        .collect()
    )
    if counts.height == 0:
        return _message("no rejects: every candidate step was usable")
    return (
        alt.Chart(_values(counts))
        .mark_bar(color="#e45756")
        .encode(
            x=alt.X("rejects:Q", title="rejected steps", axis=_COUNT_AXIS),
            y=alt.Y("reason:N", title=None, sort=counts["reason"].to_list()),
            tooltip=["reason:N", "rejects:Q"],
        )
        .properties(width=480, height=alt.Step(22))
    )


def pair_funnel(stats: PairStats | None) -> alt.Chart:
    """Bars: how the candidate pairs split into skips by reason and kept pairs."""
    if stats is None:
        return _message("no pair statistics")
    optional = {"over max_candidates_per_turn", "not selected by the strategy"}  # bars shown when non-zero
    parts = [
        ("over max_candidates_per_turn", stats.trimmed_pairs),
        ("tied", stats.tied_pairs),
        ("below min_score_diff", stats.below_margin_pairs),
        ("identical responses", stats.identical_response_pairs),
        ("not best vs worst", stats.not_best_vs_worst_pairs),
        ("not selected by the strategy", stats.not_selected_pairs),
        ("over max_pairs_per_turn", stats.capped_pairs),
        ("kept", stats.pairs),
    ]
    parts = [(name, n) for name, n in parts if n or name not in optional]
    frame = pl.DataFrame({"outcome": [p[0] for p in parts], "pairs": [p[1] for p in parts]})
    return (
        alt.Chart(_values(frame))
        .mark_bar()
        .encode(
            x=alt.X("pairs:Q", title=f"candidate pairs ({stats.candidate_pairs} in all)", axis=_COUNT_AXIS),
            y=alt.Y("outcome:N", title=None, sort=frame["outcome"].to_list()),
            color=alt.condition(alt.datum.outcome == "kept", alt.value("#54a24b"), alt.value("#bab0ac")),
            tooltip=["outcome:N", "pairs:Q"],
        )
        .properties(width=480, height=alt.Step(22))
    )


def charts(data: RunData) -> dict[str, alt.Chart]:
    """Every chart of :data:`CHART_TITLES`, titled, by name."""
    made = {
        "pair_funnel": pair_funnel(data.pair_stats),
        "scores_by_turn": scores_by_turn(data.candidates),
        "margins": margins(data.pairs),
        "pairs_per_example": pairs_per_example(data.pairs, data.candidates),
        "rejects": rejects_by_reason(data.rejects),
    }
    return {
        name: chart.properties(title=alt.Title(CHART_TITLES[name], subtitle=_subtitle(chart)))
        for name, chart in made.items()
    }


def _subtitle(chart: alt.Chart) -> str:
    title = chart.to_dict(validate=False).get("title")
    return title if isinstance(title, str) else ""


@cache
def _vega_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed, one script that defines ``window.vegaEmbed`` (from vl-convert)."""
    try:
        import vl_convert
    except ImportError as exc:
        raise MissingExtraError("the HTML report", "report", exc.name or "vl_convert") from None
    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])  # "v6.4.1" -> "6.4", altair's Vega-Lite
    version = f"v{wanted.replace('.', '_')}" if wanted in vl_convert.get_vegalite_versions() else None  # else newest
    # ignore: vl_convert's stub makes snippet required; it defaults to None (the window globals snippet)
    return vl_convert.javascript_bundle(vl_version=version).replace("</script", "<\\/script")  # type: ignore[call-arg]


def _table(rows: dict[str, Any], caption: str) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>" for k, v in rows.items())
    return f'<table class="stats"><caption>{html.escape(caption)}</caption>{body}</table>'


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _stats_html(data: RunData) -> str:
    parts = []
    if data.info is not None:
        info = data.info
        run = {
            "run id": ", ".join(info.run_ids) or None,
            "source": ", ".join(info.sources) or None,
            "created": info.created_at,
            "steps": info.steps,
            "candidates": info.candidates,
            "rejects": info.rejects,
        }
        if info.config is not None:
            run.update({f"config: {k}": v for k, v in info.config.model_dump().items()})
        parts.append(_table(run, "run"))
    if data.pair_stats is not None:
        parts.append(_table(data.pair_stats.model_dump(), "pairs"))
    if data.dataset_stats is not None:
        parts.append(_table(data.dataset_stats.model_dump(), "dataset"))
    if any(frame is not None for frame in (data.candidates, data.pairs, data.dataset)):
        quality = quality_checks(data.candidates, data.pairs, data.dataset)
        rows = quality.rows()
        rows.update({f"warning {i}": w for i, w in enumerate(quality.warnings, 1)})
        parts.append(_table(rows, "quality checks"))
    return "\n".join(parts) or "<p>no statistics</p>"


def _json_for_script(value: Any) -> str:
    return json.dumps(value).replace("</", "<\\/")


def render_html(data: RunData) -> str:
    """The report page as one HTML string (scripts and data inline; no network needed)."""
    made = charts(data)
    specs = {name: chart.to_dict() for name, chart in made.items()}
    divs = "\n".join(
        f'<section class="chart"><div id="chart-{name}" data-chart="{name}"></div></section>' for name in made
    )
    return PAGE.substitute(
        title=html.escape(data.title),
        stats=_stats_html(data),
        charts=divs,
        specs=_json_for_script(specs),
        vega_bundle=_vega_bundle(),
    )


def write_report(data: RunData | str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write the report of ``data`` (or of a run directory) to ``out``, atomically. Returns the path."""
    if not isinstance(data, RunData):
        data = load_run(data)
    return write_text(out, render_html(data))
