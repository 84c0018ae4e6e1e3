"""The static HTML sections of the report page: the funnel, the health panel and the numbers,
one column (or row) per run so that several runs compare side by side. Every number is
formatted for people (thousands separators, shares in per cent, scores to 3 digits)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dpo_frames.explore.health import Finding, Level, share
from dpo_frames.explore.quality import QualityReport
from dpo_frames.explore.summary import RunData, Stage, funnel

__all__ = ["LEVEL_WORDS", "RunView", "fmt", "funnel_html", "health_html", "numbers_html", "summary_html"]

LEVEL_WORDS = {Level.BAD: "problem", Level.WARN: "unusual", Level.INFO: "note", Level.OK: "ok"}
"""How each level reads on the page."""
_STAGES = ("steps", "candidates", "candidate_pairs", "pairs", "dataset")


@dataclass
class RunView:
    """One run as the page shows it: its data, quality numbers and health findings."""

    data: RunData
    quality: QualityReport
    findings: list[Finding]

    @property
    def stages(self) -> list[Stage]:
        return funnel(self.data)


def esc(value: Any) -> str:
    return html.escape(str(value))


def fmt(value: Any) -> str:
    """A value for people: ``1,110,564``, ``0.468``, ``—`` for nothing.

    >>> fmt(1110564), fmt(0.46833), fmt(None), fmt(True), fmt(1e-05)
    ('1,110,564', '0.468', '—', 'yes', '1e-05')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1e15 else f"{value:.3e}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def _stage_html(stage: Stage | None, before: Stage | None) -> str:
    if stage is None:
        return '<div class="stage stage-none">—</div>'
    kept = ""
    if before is not None and before.unit == stage.unit == "pairs" and before.count and stage.count is not None:
        kept = f'<div class="kept">{share(stage.count / before.count)} kept</div>'
    removed = "".join(f'<li><span class="minus">−{v:,}</span> {esc(k)}</li>' for k, v in stage.removed)
    notes = "".join(f'<li><span class="note-n">{v:,}</span> {esc(k)}</li>' for k, v in stage.notes)
    return (
        f'<div class="stage" data-stage="{stage.key}"><div class="stage-label">{esc(stage.label)}</div>'
        f'<div class="stage-count">{fmt(stage.count)}</div>{kept}'
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + (f'<ul class="removed" title="what did not go on from the stage before">{removed}</ul>' if removed else "")
        + "</div>"
    )


def funnel_html(views: Sequence[RunView]) -> str:
    """Steps -> ... -> dataset, a row per run, stages aligned in columns."""
    present = [k for k in _STAGES if any(s.key == k for v in views for s in v.stages)]
    if not present:
        return '<p class="empty">nothing counted: no record, statistics or frames</p>'
    several = len(views) > 1
    heads = "".join(f'<div class="stage-head">{esc(k.replace("_", " "))}</div>' for k in present)
    rows = [f'<div class="run-label"></div>{heads}' if several else ""]
    for view in views:
        by_key = {s.key: s for s in view.stages}
        cells, before = [], None
        for key in present:
            stage = by_key.get(key)
            cells.append(_stage_html(stage, before))
            before = stage or before
        label = f'<div class="run-label">{esc(view.data.name)}</div>' if several else ""
        rows.append(label + "".join(cells))
    columns = ("minmax(8rem, max-content) " if several else "") + f"repeat({len(present)}, minmax(9rem, 1fr))"
    return f'<div class="funnel" style="grid-template-columns: {columns}">{"".join(rows)}</div>'


def _counts(findings: Sequence[Finding]) -> dict[Level, int]:
    return {level: sum(f.level is level for f in findings) for level in Level}


def summary_html(view: RunView) -> str:
    """The run's health in one line of badges: ``2 problems · 1 unusual · 6 ok``."""
    counts = _counts(view.findings)
    parts = []
    for level in Level:
        n = counts[level]
        if n or level is Level.OK:
            word = LEVEL_WORDS[level] + ("s" if n != 1 and level is Level.BAD else "")
            parts.append(f'<span class="badge {level.value}">{n} {word}</span>')
    return f'<span class="run-summary" data-run="{esc(view.data.name)}">{" ".join(parts)}</span>'


def _finding_html(f: Finding) -> str:
    detail = f'<div class="detail">{esc(f.detail)}</div>' if f.detail else ""
    return (
        f'<li class="finding {f.level.value}" data-key="{esc(f.key)}" data-level="{f.level.value}">'
        f'<span class="badge {f.level.value}">{LEVEL_WORDS[f.level]}</span>'
        f'<div><div class="title">{esc(f.title)}</div>{detail}</div></li>'
    )


def health_html(views: Sequence[RunView]) -> str:
    """Each run's findings, most serious first, the runs side by side."""
    columns = []
    for view in views:
        head = f"<h3>{esc(view.data.name)} {summary_html(view)}</h3>" if len(views) > 1 else summary_html(view)
        items = "".join(_finding_html(f) for f in view.findings) or '<li class="finding info">nothing to check</li>'
        columns.append(f'<div class="health-run">{head}<ul class="findings">{items}</ul></div>')
    return f'<div class="health" style="--runs: {len(views)}">{"".join(columns)}</div>'


def _key_numbers(view: RunView) -> dict[str, Any]:
    d, q = view.data, view.quality
    ps, ds, info = d.pair_stats, d.dataset_stats, d.info
    config = info.config if info is not None else None
    m = q.margin
    return {
        "run ids": ", ".join(info.run_ids) if info and info.run_ids else None,
        "kind": info.kind.value if info else None,
        "strategy": config.pair_strategy.value if config else None,
        "min_score_diff": config.min_score_diff if config else None,
        "max_pairs_per_turn": config.max_pairs_per_turn if config else None,
        "steps": info.steps if info else None,
        "candidates": q.candidates or (ps.candidates if ps else None),
        "rejects": info.rejects if info else None,
        "turns": ps.turns if ps else None,
        "candidate pairs": ps.candidate_pairs if ps else None,
        "tie rate": share(q.tie_rate) if q.tie_rate is not None else None,
        "pairs": ps.pairs if ps else None,
        f"pairs checked ({q.checked or '—'} frame)": q.pairs,
        "margin p10 · median · p90": f"{m.p10:.3g} · {m.p50:.3g} · {m.p90:.3g}" if m else None,
        "margin min · max": f"{m.min:.3g} · {m.max:.3g}" if m else None,
        "prompts": q.prompts,
        "pairs per prompt median · max": (
            f"{q.pairs_per_prompt.p50:,.3g} · {q.pairs_per_prompt.max:,.0f}" if q.pairs_per_prompt else None
        ),
        "share of the top 1% of prompts": share(q.top_prompts_share) if q.top_prompts_share is not None else None,
        "dataset pairs": ds.pairs if ds else None,
        "train · validation pairs": f"{ds.train_pairs:,} · {ds.validation_pairs:,}" if ds else None,
        "validation fraction asked": share(ds.validation_fraction) if ds else None,
        "duplicates removed": ds.duplicate_pairs if ds else None,
        "identical · empty response pairs": f"{q.identical_response_pairs:,} · {q.empty_response_pairs:,}",
        "prompts on both sides of the split": q.cross_split_prompts,
    }


def _table(rows: dict[str, list[Any]], names: Sequence[str], caption: str, klass: str) -> str:
    head = "".join(f"<th>{esc(n)}</th>" for n in names) if len(names) > 1 else ""
    body = "".join(
        f"<tr><th>{esc(k)}</th>{''.join(f'<td>{esc(fmt(v))}</td>' for v in values)}</tr>"
        for k, values in rows.items()
        if any(v is not None for v in values)
    )
    head_row = f"<thead><tr><th></th>{head}</tr></thead>" if head else ""
    return f'<table class="{klass}"><caption>{esc(caption)}</caption>{head_row}<tbody>{body}</tbody></table>'


def _merge(dicts: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    return {k: [d.get(k) for d in dicts] for k in keys}


def numbers_html(views: Sequence[RunView]) -> str:
    """The key numbers, then every statistic (PairStats, DatasetStats, quality, settings), a column per run."""
    names = [v.data.name for v in views]
    key = _table(_merge([_key_numbers(v) for v in views]), names, "key numbers", "numbers key")
    parts = []
    sections = {
        "pair statistics (PairStats)": [v.data.pair_stats.model_dump() if v.data.pair_stats else {} for v in views],
        "dataset statistics (DatasetStats)": [
            v.data.dataset_stats.model_dump(mode="json") if v.data.dataset_stats else {} for v in views
        ],
        "quality checks": [v.quality.rows() for v in views],
        "pairing settings (PairConfig)": [
            v.data.info.config.model_dump(mode="json") if v.data.info and v.data.info.config else {} for v in views
        ],
        "record": [_record_rows(v.data) for v in views],
    }
    for caption, dicts in sections.items():
        if any(dicts):
            parts.append(_table(_merge(dicts), names, caption, "numbers"))
    every = (
        '<details class="all-numbers"><summary>every statistic, setting and the record</summary>'
        f'<div class="numbers-grid">{"".join(parts)}</div></details>'
    )
    return f'<div class="numbers-grid">{key}</div>{every}'


def _record_rows(data: RunData) -> dict[str, Any]:
    info = data.info
    if info is None:
        return {}
    rows: dict[str, Any] = {
        "directory": str(data.path) if data.path else None,
        "written by": f"{info.producer} (dpo_frames {info.dpo_frames_version})",
        "created": info.created_at or None,
        "sources": ", ".join(info.sources) or None,
    }
    if info.dataset is not None:
        rows["dataset format"] = info.dataset.format
        rows["dataset made from"] = info.dataset.source
    return rows
