"""The report's charts (Altair), each drawn from a small aggregate computed with Polars (at most a
few hundred rows, whatever the size of the run). Counts are integers on every axis and legend,
with thousands separators; a ``domain`` given to a chart fixes its x range, so the charts of
several runs compare on the same scale.
"""

from __future__ import annotations

import math

import polars as pl

from dpo_frames.errors import MissingExtraError
from dpo_frames.explore.summary import Frame
from dpo_frames.hashing import prompt_hash
from dpo_frames.pairs.stats import PairStats

try:
    import altair as alt
except ImportError as exc:
    raise MissingExtraError("the HTML report", "report", exc.name or "altair") from None

__all__ = [
    "BINS",
    "MAX_TURN_INDEX",
    "TOP_EXAMPLES",
    "chosen_vs_rejected",
    "margins",
    "message",
    "most_pairs_per_prompt",
    "pair_funnel",
    "pairs_per_example",
    "pairs_per_prompt",
    "prompt_counts",
    "rejects_by_reason",
    "scores_by_turn",
    "value_range",
]

BINS = 20
"""Bins of the score and margin histograms."""
TOP_EXAMPLES = 30
"""Examples shown in the pairs-per-example chart (the ones with the most pairs)."""
MAX_TURN_INDEX = 40
"""Turn indexes from this one on are drawn as one row ``40+``."""
MAX_PROMPT_BARS = 40
"""Pairs-per-prompt bars: one per count up to this many, else wider bins."""

Domain = tuple[float, float] | None
_COUNT_AXIS = alt.Axis(format=",d", tickMinStep=1)
_COUNT_LEGEND = alt.Legend(format=",d", tickMinStep=1)
_SCORE_AXIS = alt.Axis(format=".3~g", labelOverlap="greedy", tickCount=10)
_BAR = "#4c78a8"
HEIGHT = 220


def _thousands(n: int) -> str:
    return f"{n:,}"


def _lazy(frame: Frame) -> pl.LazyFrame:
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def _values(frame: pl.DataFrame) -> alt.Data:
    return alt.Data(values=frame.to_dicts())


def message(text: str) -> alt.Chart:
    """A chart that only says ``text`` (no data of that kind)."""
    return (
        alt.Chart(alt.Data(values=[{"text": text}]))
        .mark_text(size=14, color="#666")
        .encode(text="text:N")
        .properties(width=400, height=60)
    )


def _range(frame: pl.LazyFrame, *columns: str) -> tuple[float, float] | None:
    row = frame.select(
        lo=pl.min_horizontal(*(pl.col(c).min() for c in columns)),
        hi=pl.max_horizontal(*(pl.col(c).max() for c in columns)),
    ).collect()
    lo, hi = row.row(0)
    return None if lo is None else (float(lo), float(hi))


def value_range(frames: list[Frame | None], *columns: str) -> Domain:
    """The range of ``columns`` over several frames (finite values), for a shared ``domain``."""
    found = [
        r
        for f in frames
        if f is not None
        for r in [_range(_lazy(f).filter(pl.all_horizontal(pl.col(c).is_finite() for c in columns)), *columns)]
        if r
    ]
    return (min(r[0] for r in found), max(r[1] for r in found)) if found else None


def _bin_exprs(column: str, lo: float, hi: float) -> tuple[pl.Expr, pl.Expr, float]:
    width = (hi - lo) / BINS if hi > lo else 1.0
    index = ((pl.col(column) - lo) / width).floor().clip(0, BINS - 1)
    start = lo + index * width
    return start, start + width, width


def _x_scale(domain: Domain) -> alt.Scale | alt.UndefinedType:
    return alt.Scale(domain=list(domain), nice=False) if domain else alt.Undefined


def scores_by_turn(candidates: Frame | None, domain: Domain = None) -> alt.TopLevelMixin:
    """Heat map of the candidates' scores per turn position (turn index), with each position's median."""
    if candidates is None:
        return message("no candidates frame")
    lf = _lazy(candidates).filter(pl.col("score").is_finite())
    span = domain or _range(lf, "score")
    if span is None:
        return message("no candidates")
    start, end, _ = _bin_exprs("score", *span)
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
    keyed = lf.with_columns(turn=turn, order=order)
    counts = (
        keyed.group_by("turn", "order", start.alias("bin_start"), end.alias("bin_end"))
        .agg(candidates=pl.len())
        .with_columns(share=pl.col("candidates") / pl.col("candidates").sum().over("turn"))
        .sort("order", "bin_start")
        .collect()
    )
    medians = (
        keyed.group_by("turn", "order")
        .agg(median=pl.col("score").median(), n=pl.len())
        .sort("order")
        .with_columns(position=pl.format("{} ({})", "turn", pl.col("n").map_elements(_thousands, pl.String)))
        .collect()
    )
    counts = counts.join(medians.select("turn", "position"), on="turn")
    turn_order = medians["position"].to_list()
    y = alt.Y("position:O", title="turn index (candidates)", sort=turn_order)
    cells = (
        alt.Chart(_values(counts))
        .mark_rect()
        .encode(
            x=alt.X("bin_start:Q", title="score", bin="binned", scale=_x_scale(span), axis=_SCORE_AXIS),
            x2="bin_end:Q",
            y=y,
            color=alt.Color(
                "share:Q",
                scale=alt.Scale(scheme="blues"),
                title="share of the position",
                legend=alt.Legend(format=".0%"),
            ),
            tooltip=[
                alt.Tooltip("turn:O", title="turn index"),
                alt.Tooltip("bin_start:Q", title="score from", format=".3g"),
                alt.Tooltip("bin_end:Q", title="score to", format=".3g"),
                alt.Tooltip("candidates:Q", format=","),
                alt.Tooltip("share:Q", title="share of the turn position", format=".1%"),
            ],
        )
    )
    median = (
        alt.Chart(_values(medians))
        .mark_tick(color="#e45756", thickness=3)
        .encode(
            x=alt.X("median:Q"),
            y=y,
            tooltip=[
                alt.Tooltip("turn:O", title="turn index"),
                alt.Tooltip("median:Q", title="median score", format=".3g"),
                alt.Tooltip("n:Q", title="candidates", format=","),
            ],
        )
    )
    return alt.layer(cells, median).properties(width=480, height=alt.Step(22))


def margins(pairs: Frame | None, domain: Domain = None, threshold: float = 0.0) -> alt.TopLevelMixin:
    """Histogram of the pairs' score differences (bins from 0), with ``min_score_diff`` marked when set."""
    if pairs is None:
        return message("no pairs frame")
    lf = _lazy(pairs)
    found = _range(lf, "score_diff")
    if found is None:
        return message("no pairs")
    span = domain or (min(0.0, found[0]), found[1])
    start, end, _ = _bin_exprs("score_diff", *span)
    counts = (
        lf.group_by(start.alias("bin_start"), end.alias("bin_end"))
        .agg(pairs=pl.len())
        .with_columns(share=pl.col("pairs") / pl.col("pairs").sum())
        .sort("bin_start")
        .collect()
    )
    bars = (
        alt.Chart(_values(counts))
        .mark_bar(color=_BAR)
        .encode(
            x=alt.X(
                "bin_start:Q",
                title="score_diff (chosen - rejected)",
                bin="binned",
                scale=_x_scale(span),
                axis=_SCORE_AXIS,
            ),
            x2="bin_end:Q",
            y=alt.Y("pairs:Q", title="pairs", axis=_COUNT_AXIS),
            tooltip=[
                alt.Tooltip("bin_start:Q", title="from", format=".3g"),
                alt.Tooltip("bin_end:Q", title="to", format=".3g"),
                alt.Tooltip("pairs:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
    )
    if threshold <= 0:
        return bars.properties(width=480, height=HEIGHT)
    rule = (
        alt.Chart(alt.Data(values=[{"threshold": threshold}]))
        .mark_rule(color="#e45756", strokeDash=[4, 3])
        .encode(x="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="min_score_diff", format=".3g")])
    )
    return alt.layer(bars, rule).properties(width=480, height=HEIGHT)


def chosen_vs_rejected(pairs: Frame | None, domain: Domain = None) -> alt.Chart:
    """Heat map of the pairs: chosen score against rejected score."""
    if pairs is None:
        return message("no pairs frame")
    lf = _lazy(pairs)
    span = domain or _range(lf, "chosen_score", "rejected_score")
    if span is None:
        return message("no pairs")
    cs, ce, _ = _bin_exprs("chosen_score", *span)
    rs, re_, _ = _bin_exprs("rejected_score", *span)
    counts = (
        lf.group_by(cs.alias("c0"), ce.alias("c1"), rs.alias("r0"), re_.alias("r1"))
        .agg(pairs=pl.len())
        .sort("c0", "r0")
        .collect()
    )
    scale = _x_scale(span)
    return (
        alt.Chart(_values(counts))
        .mark_rect()
        .encode(
            x=alt.X("r0:Q", title="rejected score", bin="binned", scale=scale),
            x2="r1:Q",
            y=alt.Y("c0:Q", title="chosen score", bin="binned", scale=scale),
            y2="c1:Q",
            color=alt.Color("pairs:Q", scale=alt.Scale(scheme="greens"), title="pairs", legend=_COUNT_LEGEND),
            tooltip=[
                alt.Tooltip("c0:Q", title="chosen from", format=".3g"),
                alt.Tooltip("r0:Q", title="rejected from", format=".3g"),
                alt.Tooltip("pairs:Q", format=","),
            ],
        )
        .properties(width=480, height=HEIGHT)
    )


def prompt_counts(pairs: Frame) -> pl.DataFrame:
    """Pairs per prompt (``n``), one row per distinct prompt (its text and messages, as the quality checks count)."""
    frame = _lazy(pairs).select("prompt_text", "prompt_messages").collect()
    return frame.select(prompt=prompt_hash(frame)).group_by("prompt").agg(n=pl.len())


def most_pairs_per_prompt(counts: pl.DataFrame) -> int:
    """The largest ``n`` of :func:`prompt_counts` (0 without prompts)."""
    return int(counts.select(pl.col("n").max()).item() or 0)


def pairs_per_prompt(pairs: Frame | None, domain: Domain = None) -> alt.Chart:
    """Bars: how many prompts have 1, 2, ... pairs (a few prompts holding many pairs show on the right)."""
    if pairs is None:
        return message("no pairs frame")
    per = prompt_counts(pairs)
    if per.height == 0:
        return message("no pairs")
    top = int(domain[1]) if domain else most_pairs_per_prompt(per)
    width = max(1, math.ceil(top / MAX_PROMPT_BARS))
    start = ((pl.col("n") - 1) // width) * width + 1
    found = per.group_by(start.cast(pl.Int64).alias("bin_start")).agg(prompts=pl.len(), pairs=pl.col("n").sum())
    every = pl.DataFrame({"bin_start": pl.int_range(1, top + 1, width, eager=True, dtype=pl.Int64)})
    counts = (
        every.join(found, on="bin_start", how="left")  # every bin, empty ones too: runs compare bar for bar
        .with_columns(pl.col("prompts", "pairs").fill_null(0), bin_end=pl.col("bin_start") + width)
        .sort("bin_start")
    )
    counts = counts.with_columns(
        label=pl.col("bin_start").cast(pl.String)
        if width == 1
        else pl.format("{}-{}", "bin_start", pl.col("bin_end") - 1)
    )
    title = "pairs per prompt" if width == 1 else f"pairs per prompt (bins of {width})"
    return (
        alt.Chart(_values(counts))
        .mark_bar(color="#72b7b2")
        .encode(
            x=alt.X(
                "label:O",
                title=title,
                sort=counts["label"].to_list(),
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy"),
            ),
            y=alt.Y("prompts:Q", title="prompts", axis=_COUNT_AXIS),
            tooltip=[
                alt.Tooltip("label:O", title="pairs per prompt"),
                alt.Tooltip("prompts:Q", format=","),
                alt.Tooltip("pairs:Q", title="their pairs", format=","),
            ],
        )
        .properties(width=480, height=HEIGHT)
    )


def pairs_per_example(pairs: Frame | None, candidates: Frame | None = None) -> alt.Chart:
    """Bars: pairs of the examples with the most pairs (examples without pairs count in the title)."""
    if pairs is None:
        return message("no pairs frame")
    per = _lazy(pairs).group_by(pl.col("example_id").fill_null("none")).agg(pairs=pl.len())
    if candidates is not None:
        examples = _lazy(candidates).select(pl.col("example_id").fill_null("none")).unique()
        per = examples.join(per, on="example_id", how="full", coalesce=True).with_columns(pl.col("pairs").fill_null(0))
    per_df = per.sort(["pairs", "example_id"], descending=[True, False]).collect()
    if per_df.height == 0:
        return message("no pairs")
    without = int((per_df["pairs"] == 0).sum())
    top = per_df.head(TOP_EXAMPLES)
    title = f"the {min(TOP_EXAMPLES, per_df.height):,} of {per_df.height:,} examples with the most pairs"
    if without:
        title += f"; {without:,} without pairs"
    return (
        alt.Chart(_values(top))
        .mark_bar(color="#72b7b2")
        .encode(
            x=alt.X("pairs:Q", title="pairs", axis=_COUNT_AXIS),
            y=alt.Y("example_id:N", title="example", sort=top["example_id"].to_list()),
            tooltip=["example_id:N", alt.Tooltip("pairs:Q", format=",")],
        )
        .properties(width=480, height=alt.Step(16), title=title)
    )


def rejects_by_reason(rejects: Frame | None) -> alt.Chart:
    """Bars: rejected candidate steps by reason."""
    if rejects is None:
        return message("no rejects frame")
    counts = (
        _lazy(rejects)
        .group_by("reason")
        .agg(rejects=pl.len())
        .sort(["rejects", "reason"], descending=[True, False])
        .collect()
    )
    if counts.height == 0:
        return message("no rejects: every candidate step was usable")
    return (
        alt.Chart(_values(counts))
        .mark_bar(color="#e45756")
        .encode(
            x=alt.X("rejects:Q", title="rejected steps", axis=_COUNT_AXIS),
            y=alt.Y("reason:N", title=None, sort=counts["reason"].to_list()),
            tooltip=["reason:N", alt.Tooltip("rejects:Q", format=",")],
        )
        .properties(width=480, height=alt.Step(22))
    )


def pair_funnel(stats: PairStats | None) -> alt.Chart:
    """Bars: how the candidate pairs split into skips by reason and kept pairs."""
    if stats is None:
        return message("no pair statistics")
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
    total = max(stats.candidate_pairs, 1)
    frame = pl.DataFrame({"outcome": [p[0] for p in parts], "pairs": [p[1] for p in parts]}).with_columns(
        share=pl.col("pairs") / total
    )
    return (
        alt.Chart(_values(frame))
        .mark_bar()
        .encode(
            x=alt.X("pairs:Q", title=f"candidate pairs ({stats.candidate_pairs:,} in all)", axis=_COUNT_AXIS),
            y=alt.Y("outcome:N", title=None, sort=frame["outcome"].to_list()),
            color=alt.condition(alt.datum.outcome == "kept", alt.value("#54a24b"), alt.value("#bab0ac")),
            tooltip=["outcome:N", alt.Tooltip("pairs:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=480, height=alt.Step(22))
    )
