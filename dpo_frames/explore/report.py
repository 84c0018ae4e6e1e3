"""The HTML report of one run, or of several side by side: one self-contained page that works offline.

The page has, per run: the funnel from steps to the dataset (:func:`~dpo_frames.explore.summary.funnel`),
the health panel (:func:`~dpo_frames.explore.health.health_checks`), a pair browser (chosen and
rejected side by side, the differing words marked, filters, sorting, paging) and the charts
(Altair, each drawn from a small aggregate computed with Polars, each saying which frame it
shows). The pair browser embeds every pair up to ``embed_pairs`` per run, else a sample
(:mod:`~dpo_frames.explore._report_pairs`: the widest and closest margins plus a content-hash
draw); charts and numbers always describe whole frames. The page inlines the Vega, Vega-Lite
and Vega-Embed JavaScript (the bundle shipped by ``vl-convert-python``) and its own script.

Example:
    >>> import dpo_frames
    >>> from dpo_frames import report
    >>> steps = dpo_frames.read_steps("examples/tictactoe/data/workflow_output.json")  # doctest: +SKIP
    >>> candidates, rejects = dpo_frames.extract_candidates(steps)                    # doctest: +SKIP
    >>> pairs, stats = dpo_frames.build_pairs(candidates)                             # doctest: +SKIP
    >>> data = report.RunData(candidates=candidates, rejects=rejects, pairs=pairs, pair_stats=stats)  # doctest: +SKIP
    >>> report.charts(data)["margins"]    # an altair chart, shown inline in Jupyter  # doctest: +SKIP
    >>> report.write_report(data, "report.html")                                      # doctest: +SKIP
    >>> report.write_report(["runs/a", "runs/b"], "compare.html")  # two runs side by side  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from dpo_frames._atomic import write_text
from dpo_frames.errors import ConfigError, MissingExtraError
from dpo_frames.explore import _report_charts as ch
from dpo_frames.explore._report_html import PAGE, SCRIPT
from dpo_frames.explore._report_pairs import EXTREMES, MAX_TEXT_CHARS, PAIR_SAMPLE, encode, sample_pairs
from dpo_frames.explore._report_sections import RunView, funnel_html, health_html, numbers_html, summary_html
from dpo_frames.explore.health import health_checks
from dpo_frames.explore.quality import quality_checks
from dpo_frames.explore.summary import RunData, height, load_run, load_runs

try:
    import altair as alt
except ImportError as exc:
    raise MissingExtraError("the HTML report", "report", exc.name or "altair") from None

__all__ = [
    "CHART_TITLES",
    "PAIR_SAMPLE",
    "RunData",
    "charts",
    "load_run",
    "load_runs",
    "render_html",
    "write_report",
]

BINS, MAX_TURN_INDEX, TOP_EXAMPLES = ch.BINS, ch.MAX_TURN_INDEX, ch.TOP_EXAMPLES
scores_by_turn, margins, pairs_per_example = ch.scores_by_turn, ch.margins, ch.pairs_per_example
rejects_by_reason, pair_funnel, pairs_per_prompt = ch.rejects_by_reason, ch.pair_funnel, ch.pairs_per_prompt
chosen_vs_rejected = ch.chosen_vs_rejected

CHART_TITLES: dict[str, str] = {
    "pair_funnel": "What became of the candidate pairs",
    "margins": "Margin (score_diff) of the pairs",
    "scores_by_turn": "Candidate scores per turn position",
    "chosen_vs_rejected": "Chosen against rejected score",
    "pairs_per_prompt": "Pairs per prompt",
    "pairs_per_example": "Pairs per example",
    "rejects": "Rejected candidate steps by reason",
}
"""The charts, in page order, by name."""

Domains = dict[str, ch.Domain]


def _shared_domains(runs: Sequence[RunData]) -> Domains:
    """The x ranges the charts of several runs share, so that they compare on one scale."""
    if len(runs) < 2:
        return {}
    trained = [t[1] if (t := r.trained()) else None for r in runs]
    margin = ch.value_range(trained, "score_diff")
    top = max((ch.most_pairs_per_prompt(ch.prompt_counts(f)) for f in trained if f is not None), default=0)
    return {
        "margins": (min(0.0, margin[0]), margin[1]) if margin else None,
        "scores": ch.value_range([r.candidates for r in runs], "score"),
        "pair_scores": ch.value_range(trained, "chosen_score", "rejected_score"),
        "prompts": (1.0, float(top)) if top else None,
    }


def _subtitle(what: str, frame: Any, unit: str) -> str:
    n = height(frame)
    return f"{what} · {n:,} {unit}" if n is not None else what


def charts(data: RunData, domains: Domains | None = None) -> dict[str, alt.TopLevelMixin]:
    """Every chart of :data:`CHART_TITLES`, titled, the subtitle naming the frame it shows, by name."""
    d = domains or {}
    trained = data.trained()
    name, frame = trained if trained else ("pairs", None)
    threshold = data.info.config.min_score_diff if data.info is not None and data.info.config is not None else 0.0
    pairs_sub = _subtitle(f"{name} frame", frame, "pairs")
    made: dict[str, tuple[alt.TopLevelMixin, str]] = {
        "pair_funnel": (ch.pair_funnel(data.pair_stats), "pair statistics (PairStats) of the pairs stage"),
        "margins": (ch.margins(frame, d.get("margins"), threshold), pairs_sub),
        "scores_by_turn": (
            ch.scores_by_turn(data.candidates, d.get("scores")),
            _subtitle("candidates frame", data.candidates, "candidates"),
        ),
        "chosen_vs_rejected": (ch.chosen_vs_rejected(frame, d.get("pair_scores")), pairs_sub),
        "pairs_per_prompt": (ch.pairs_per_prompt(frame, d.get("prompts")), pairs_sub),
        "pairs_per_example": (ch.pairs_per_example(frame, data.candidates), pairs_sub),
        "rejects": (ch.rejects_by_reason(data.rejects), _subtitle("rejects frame", data.rejects, "rejected steps")),
    }
    titled = {}
    for key, (chart, sub) in made.items():
        own = chart.to_dict(validate=False).get("title")
        lines = [sub] + ([own] if isinstance(own, str) else [])
        titled[key] = chart.properties(title=alt.Title(CHART_TITLES[key], subtitle=lines, anchor="start"))
    return titled


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


def _json_for_script(value: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``<`` at all (``</script>``, ``<!--``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _view(data: RunData) -> RunView:
    quality = quality_checks(data.candidates, data.pairs, data.dataset)
    return RunView(data, quality, health_checks(data, quality))


def _chart_cells(runs: Sequence[RunData]) -> tuple[str, dict[str, Any]]:
    domains = _shared_domains(runs)
    specs: dict[str, Any] = {}
    per_run = [charts(r, domains) for r in runs]
    rows = []
    for key in CHART_TITLES:
        cells = []
        for i, made in enumerate(per_run):
            ident = f"chart-{i}-{key}"
            specs[ident] = made[key].properties(width="container").to_dict()
            cells.append(f'<figure class="chart"><div id="{ident}" data-chart="{key}" data-run="{i}"></div></figure>')
        rows.append("".join(cells))
    klass = "charts several" if len(runs) > 1 else "charts"
    return f'<div class="{klass}" style="--runs: {len(runs)}">{"".join(rows)}</div>', specs


def _sample_note(samples: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {"source": s.source, "total": s.total, "embedded": s.frame.height, "sampled": s.sampled}
        if s is not None
        else {"source": None, "total": 0, "embedded": 0, "sampled": False}
        for s in samples
    ]


def render_html(data: RunData | Sequence[RunData], embed_pairs: int = PAIR_SAMPLE) -> str:
    """The report page of one run, or of several compared side by side, as one HTML string
    (scripts and data inline; no network needed). ``embed_pairs``: pairs embedded per run."""
    runs = [data] if isinstance(data, RunData) else list(data)
    if not runs:
        raise ConfigError("a report needs at least one run")
    views = [_view(r) for r in runs]
    chart_html, specs = _chart_cells(runs)
    samples = [sample_pairs(r, embed_pairs) for r in runs]
    payload = {
        "runs": [{"label": r.name, **note} for r, note in zip(runs, _sample_note(samples), strict=True)],
        "limits": {"embed_pairs": embed_pairs, "extremes": EXTREMES, "max_text": MAX_TEXT_CHARS},
        **encode(samples),
    }
    title = runs[0].title if len(runs) == 1 else f"dpo_frames: {len(runs)} runs compared"
    summaries = "".join(
        f'<div class="summary-run"><span class="run-name">{html.escape(v.data.name)}</span>{summary_html(v)}</div>'
        for v in views
    )
    return PAGE.substitute(
        title=html.escape(title),
        summaries=summaries,
        funnel=funnel_html(views),
        health=health_html(views),
        charts=chart_html,
        numbers=numbers_html(views),
        specs=_json_for_script(specs),
        pairs=_json_for_script(payload),
        vega_bundle=_vega_bundle(),
        script=SCRIPT,
    )


def write_report(
    data: RunData | Sequence[RunData] | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    embed_pairs: int = PAIR_SAMPLE,
) -> Path:
    """Write the report of ``data`` (a RunData, a run directory, or a list of either: compared side
    by side) to ``out``, atomically. Returns the path."""
    if isinstance(data, RunData):
        runs: list[RunData] = [data]
    elif isinstance(data, str | os.PathLike):
        runs = [load_run(data)]
    else:
        items = list(data)
        paths = [d for d in items if not isinstance(d, RunData)]
        loaded = iter(load_runs(paths))
        runs = [d if isinstance(d, RunData) else next(loaded) for d in items]
    return write_text(out, render_html(runs, embed_pairs))
