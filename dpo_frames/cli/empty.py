"""What to say when there is nothing to build from: what was found instead, and the way out."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dpo_frames.cli.sources import Gathered
from dpo_frames.pairs import PairConfig, PairStats
from dpo_frames.steps import SourceKind

__all__ = ["no_candidates_message", "no_pairs_message"]

STEP_FILTER_HINT = (
    "NAT's workflow_output.json keeps only LLM_END and TOOL_END steps unless the eval config sets "
    "eval.general.output.workflow_output_step_filter: [TTC_END]"
)


def _listed(rows: pl.DataFrame, limit: int = 6) -> str:
    shown = [f"{r['event_type']} {r['name']!r} ({r['steps']:,})" for r in rows.head(limit).iter_rows(named=True)]
    more = f" and {rows.height - limit} more" if rows.height > limit else ""
    return ", ".join(shown) + more


def no_candidates_message(gathered: Gathered, step_name: str) -> str:
    """Why there is no candidate: no steps, no TTC_END of that name (and which names there are), or all rejected."""
    where = ", ".join(str(p.source) for p in gathered.parts)
    summary = gathered.summary()
    workflow_output = any(p.kind is SourceKind.WORKFLOW_OUTPUT for p in gathered.parts)
    named = summary.filter(pl.col("candidate_step"))
    if named.height and int(named["steps"].sum()):
        listed = ", ".join(f"{r} ({n:,})" for r, n in gathered.rejects_by_reason().items())
        return (
            f"no candidates in {where}: all {gathered.reject_count:,} candidate steps were rejected ({listed}); "
            "pass --allow-empty to write the run and look at its rejects (dpo-frames sql RUN rejects_by_reason)"
        )
    unparsable = f" ({gathered.reject_count:,} lines or items were not steps at all)" if gathered.reject_count else ""
    if summary.height == 0 or int(summary["steps"].sum()) == 0:
        hint = f"; {STEP_FILTER_HINT}" if workflow_output else ""
        return f"no candidates in {where}: it holds no intermediate steps{unparsable}{hint}"
    ttc = summary.filter(pl.col("event_type") == "TTC_END")
    if ttc.height:
        names = ttc.sort("steps", descending=True)
        return (
            f"no candidates in {where}: no TTC_END step is named {step_name!r}; the TTC_END steps are named "
            f"{', '.join(repr(n) for n in names['name'].to_list())}: pass --ttc-step-name {names['name'][0]}"
            f"{unparsable}"
        )
    hint = f" ({STEP_FILTER_HINT})" if workflow_output else ""
    return (
        f"no candidates in {where}: no TTC_END step at all{hint}; the steps found are {_listed(summary)}"
        f"{unparsable}. The workflow must record each scored candidate as a TTC_END step (after its TTC_START)"
    )


def no_pairs_message(stats: PairStats, config: PairConfig, out: Path) -> str:
    """Why no pair was made of the candidates, with the setting to change."""
    reasons = ", ".join(f"{n:,} {k.replace('_', ' ')}" for k, n in stats.skipped().items()) or "none counted"
    hints = []
    if stats.below_margin_pairs:
        hints.append(f"lower --min-score-diff (now {config.min_score_diff:g})")
    if stats.turns and stats.single_candidate_turns == stats.turns:
        hints.append("every turn has a single candidate: pairs need two scored candidates of one turn")
    if stats.cross_prompt_pairs and not stats.candidate_pairs:
        hints.append("the candidates of each turn have different prompts, and they never pair across prompts")
    if stats.tied_pairs and stats.tied_pairs == stats.candidate_pairs - stats.trimmed_pairs:
        hints.append("every candidate pair is tied: the scores of a turn's candidates are all equal")
    way_out = f"; {'; '.join(hints)}" if hints else ""
    return (
        f"no pairs from {stats.candidates:,} candidates in {stats.turns:,} turns (skipped: {reasons}){way_out}. "
        f"{out} holds the candidates: re-pair them with `dpo-frames pairs {out} --out NEW_DIR ...`, "
        "or pass --allow-empty"
    )
