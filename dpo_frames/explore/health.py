"""Health of a run in words: what is wrong (``bad``), unusual (``warn``), worth knowing (``info``)
or checked and fine (``ok``), each finding with the numbers behind it.

:func:`health_checks` reads the counts of :class:`~dpo_frames.PairStats` and
:class:`~dpo_frames.DatasetStats`, the numbers of
:func:`~dpo_frames.explore.quality.quality_checks` and one aggregate of the margins. The
thresholds are the module's constants. Needs no extra (the report shows the findings).

Example:
    >>> import dpo_frames
    >>> from dpo_frames.explore.health import health_checks
    >>> from dpo_frames.explore.summary import RunData
    >>> steps = dpo_frames.read_steps("examples/tictactoe/data/workflow_output.json")
    >>> candidates, rejects = dpo_frames.extract_candidates(steps)
    >>> pairs, stats = dpo_frames.build_pairs(candidates)
    >>> found = {f.key: f for f in health_checks(RunData(candidates=candidates, pairs=pairs, pair_stats=stats))}
    >>> found["ties"].level.value, found["ties"].title
    ('warn', '62% of the candidate pairs are tied')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from dpo_frames.explore.quality import TOP_PROMPT_SHARE, QualityReport, quality_checks
from dpo_frames.explore.summary import RunData, height

__all__ = [
    "DOMINANT_PROMPT_FACTOR",
    "DUPLICATE_SHARE_WARN",
    "PILE_BAND",
    "PILE_SHARE_WARN",
    "REJECT_RATE_BAD",
    "REJECT_RATE_WARN",
    "SINGLE_TURN_SHARE_WARN",
    "TIE_RATE_WARN",
    "Finding",
    "Level",
    "health_checks",
    "share",
]

REJECT_RATE_WARN = 0.05
"""Rejected candidate steps (of all candidate steps) above this share: ``warn``."""
REJECT_RATE_BAD = 0.2
"""... above this one: ``bad``."""
TIE_RATE_WARN = 0.5
"""Tied candidate pairs (of the candidate pairs) above this share: ``warn`` (the scorer tells few apart)."""
SINGLE_TURN_SHARE_WARN = 0.25
"""Turns with a single candidate (no partner) above this share: ``warn``."""
PILE_BAND = 0.05
"""The band just above the margin threshold, as a share of the margin range (threshold to the largest margin)."""
PILE_SHARE_WARN = 0.3
"""Pairs in that band above this share: ``warn`` (the threshold decides much of the data)."""
DOMINANT_PROMPT_FACTOR = 10
"""One prompt with more than this many times the mean pairs per prompt (20+ prompts): ``warn``."""
DOMINANCE_SHARE = 0.5
"""The top 1% of prompts holding more than this share of the pairs (100+ prompts): ``warn``."""
DUPLICATE_SHARE_WARN = 0.1
"""Duplicate pairs removed by the dataset above this share of its input: ``warn``."""
SPLIT_TOLERANCE = 0.05
"""The validation share may differ from the asked fraction by this much, or by 3 binomial
standard deviations of the prompt count, whichever is larger."""


class Level(StrEnum):
    """How much a finding matters, most first."""

    BAD = "bad"
    WARN = "warn"
    INFO = "info"
    OK = "ok"


_ORDER = {Level.BAD: 0, Level.WARN: 1, Level.INFO: 2, Level.OK: 3}


@dataclass(frozen=True)
class Finding:
    """One check: a stable ``key``, its level, a one-line ``title`` and the numbers in ``detail``."""

    key: str
    level: Level
    title: str
    detail: str = ""


def share(x: float) -> str:
    """A share for people: ``62%``, ``4.5%``, ``0.03%``, ``0%``.

    >>> share(0.625), share(0.045), share(0.0003), share(0.0)
    ('62%', '4.5%', '0.03%', '0%')
    """
    pct = 100 * x
    if pct == 0 or pct >= 10:
        return f"{pct:.0f}%"
    return f"{pct:.2g}%"


def _n(x: int) -> str:
    return f"{x:,}"


def _of(n: int, noun: str) -> str:
    """``1 prompt``, ``2 prompts``, ``1,000 prompts``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def health_checks(data: RunData, quality: QualityReport | None = None) -> list[Finding]:
    """Every applicable check of ``data``, most serious first (``quality`` is computed when not given)."""
    if quality is None:
        quality = quality_checks(data.candidates, data.pairs, data.dataset)
    found = [
        *_reject_checks(data),
        *_pair_stat_checks(data),
        *_tie_checks(quality),
        *_response_checks(data, quality),
        *_prompt_checks(quality),
        *_margin_checks(data),
        *_split_checks(data, quality),
    ]
    return sorted(found, key=lambda f: _ORDER[f.level])


def _reject_checks(data: RunData) -> list[Finding]:
    info = data.info
    rejects = info.rejects if info is not None and info.rejects is not None else height(data.rejects)
    candidates = info.candidates if info is not None and info.candidates is not None else height(data.candidates)
    if rejects is None or candidates is None:
        return []
    total = rejects + candidates
    rate = rejects / total if total else 0.0
    level = Level.BAD if rate > REJECT_RATE_BAD else Level.WARN if rate > REJECT_RATE_WARN else Level.OK
    if rejects == 0:
        return [Finding("rejects", Level.OK, "no candidate step was rejected", f"{_n(candidates)} usable candidates")]
    reasons = dict(info.rejects_by_reason) if info is not None and info.rejects_by_reason else {}
    if not reasons and data.rejects is not None:
        counted = data.rejects.lazy().group_by("reason").len().sort(["len", "reason"], descending=[True, False])
        reasons = dict(counted.collect().iter_rows())
    top = ", ".join(f"{_n(v)} {k}" for k, v in list(reasons.items())[:3])
    return [
        Finding(
            "rejects",
            level,
            f"{share(rate)} of the candidate steps were rejected",
            f"{_n(rejects)} of {_n(total)} malformed" + (f": {top}" if top else ""),
        )
    ]


def _pair_stat_checks(data: RunData) -> list[Finding]:
    ps = data.pair_stats
    if ps is None:
        return []
    found = []
    if ps.pairs == 0:
        found.append(Finding("no_pairs", Level.BAD, "no pairs", f"{_n(ps.candidates)} candidates made no pair"))
    if ps.prompt_mismatch_turns:
        found.append(
            Finding(
                "prompt_mismatch",
                Level.WARN,
                f"{_n(ps.prompt_mismatch_turns)} turn(s) with candidates of different prompts",
                f"{_n(ps.cross_prompt_pairs)} cross-prompt candidate pairs never paired; "
                "candidates of one turn usually share their prompt",
            )
        )
    if ps.turns:
        single = ps.single_candidate_turns / ps.turns
        if single > SINGLE_TURN_SHARE_WARN:
            found.append(
                Finding(
                    "single_candidate_turns",
                    Level.WARN,
                    f"{share(single)} of the turns have a single candidate",
                    f"{_n(ps.single_candidate_turns)} of {_n(ps.turns)} turns make no pair",
                )
            )
    if ps.invalid_candidates:
        found.append(
            Finding(
                "invalid_candidates",
                Level.WARN,
                f"{_n(ps.invalid_candidates)} candidate row(s) without a usable score or text",
                "left out of the pairing",
            )
        )
    if ps.identical_response_pairs:
        found.append(
            Finding(
                "identical_dropped",
                Level.INFO,
                f"{_n(ps.identical_response_pairs)} candidate pairs with identical responses were dropped",
                "they carry no preference signal",
            )
        )
    return found


def _tie_checks(q: QualityReport) -> list[Finding]:
    if q.tie_rate is None:
        return []
    level = Level.WARN if q.tie_rate > TIE_RATE_WARN else Level.OK
    detail = f"{_n(q.tied_candidate_pairs)} of {_n(q.candidate_pairs)} candidate pairs have equal scores"
    if q.groups_with_tied_best:
        detail += f"; {_n(q.groups_with_tied_best)} of {_n(q.prompt_groups)} turns have a tied best score"
    return [Finding("ties", level, f"{share(q.tie_rate)} of the candidate pairs are tied", detail)]


def _response_checks(data: RunData, q: QualityReport) -> list[Finding]:
    if q.checked is None:
        return []
    found = []
    where = f"in the {q.checked} frame"
    if q.identical_response_pairs:
        found.append(
            Finding(
                "identical",
                Level.BAD,
                f"{_n(q.identical_response_pairs)} pair(s) with identical chosen and rejected texts",
                where,
            )
        )
    near = q.near_identical_response_pairs - q.identical_response_pairs
    if near > 0:
        found.append(
            Finding(
                "near_identical",
                Level.WARN,
                f"{_n(near)} pair(s) whose texts differ only in case or surrounding whitespace",
                where,
            )
        )
    if q.empty_response_pairs:
        found.append(
            Finding(
                "empty", Level.BAD, f"{_n(q.empty_response_pairs)} pair(s) with an empty chosen or rejected text", where
            )
        )
    if q.empty_candidate_responses:
        found.append(
            Finding(
                "empty_candidates",
                Level.WARN,
                f"{_n(q.empty_candidate_responses)} candidate(s) with an empty response",
                "in the candidates frame",
            )
        )
    if not found and q.pairs:
        found.append(Finding("responses", Level.OK, "no identical or empty responses", f"{_n(q.pairs)} pairs {where}"))
    return found


def _prompt_checks(q: QualityReport) -> list[Finding]:
    if not q.prompts or q.pairs_per_prompt is None:
        return []
    mean = q.pairs / q.prompts
    top_share = q.pairs_per_prompt.max / q.pairs
    detail = (
        f"{_of(q.prompts, 'prompt')}, {mean:.3g} pairs per prompt on average, at most {q.pairs_per_prompt.max:,.0f} "
        f"({share(top_share)} of the pairs)"
    )
    if q.prompts >= 100 and (q.top_prompts_share or 0) > DOMINANCE_SHARE:
        title = f"the top {TOP_PROMPT_SHARE:.0%} of prompts ({_n(q.top_prompts)}) hold {share(q.top_prompts_share or 0)} of the pairs"
        return [Finding("dominance", Level.WARN, title, detail)]
    if q.prompts >= 20 and q.pairs_per_prompt.max > DOMINANT_PROMPT_FACTOR * mean:
        title = f"one prompt holds {share(top_share)} of the pairs ({q.pairs_per_prompt.max / mean:.0f}x the mean)"
        return [Finding("dominance", Level.WARN, title, detail)]
    return [Finding("dominance", Level.OK, "no prompt dominates", detail)]


def _margin_checks(data: RunData) -> list[Finding]:
    trained = data.trained()
    if trained is None:
        return []
    name, frame = trained
    threshold = data.info.config.min_score_diff if data.info is not None and data.info.config is not None else 0.0
    lf = frame.lazy()
    top = lf.select(pl.col("score_diff").max()).collect().item()
    if top is None or top <= threshold:
        return []
    band = threshold + PILE_BAND * (top - threshold)
    row = lf.select(n=pl.len(), near=(pl.col("score_diff") <= band).sum()).collect().row(0)
    pile = row[1] / row[0] if row[0] else 0.0
    at = f"min_score_diff {threshold:.3g}" if threshold > 0 else "zero"
    detail = f"{_n(row[1])} of {_n(row[0])} pairs ({name} frame) have a margin within {band - threshold:.3g} of {at}"
    if pile > PILE_SHARE_WARN:
        return [Finding("margin_pile", Level.WARN, f"{share(pile)} of the margins are piled at {at}", detail)]
    return [Finding("margin_pile", Level.OK, f"margins are not piled at {at}", detail)]


def _split_checks(data: RunData, q: QualityReport) -> list[Finding]:
    ds = data.dataset_stats
    found = []
    if q.cross_split_prompts:
        level = Level.WARN if q.prompts == 1 else Level.BAD
        why = " (every pair has the same prompt, so the pairs were split)" if q.prompts == 1 else ""
        found.append(
            Finding("cross_split", level, f"{_n(q.cross_split_prompts)} prompt(s) in both train and validation{why}")
        )
    elif q.cross_split_prompts == 0:
        found.append(Finding("cross_split", Level.OK, "no prompt is on both sides of the split"))
    near = (q.cross_split_prompts_normalized or 0) - (q.cross_split_prompts or 0)
    if near > 0:
        found.append(
            Finding(
                "cross_split_near",
                Level.WARN,
                f"{_n(near)} prompt(s) differing only in case or whitespace sit on both sides of the split",
            )
        )
    if ds is None or ds.pairs == 0:
        return found
    if ds.input_pairs and ds.duplicate_pairs / ds.input_pairs > DUPLICATE_SHARE_WARN:
        found.append(
            Finding(
                "duplicates",
                Level.WARN,
                f"{share(ds.duplicate_pairs / ds.input_pairs)} of the pairs were duplicates",
                f"{_n(ds.duplicate_pairs)} of {_n(ds.input_pairs)} removed ({ds.dedup_mode.value})",
            )
        )
    found.append(
        _split_fraction(ds.validation_fraction, ds.validation_prompts, ds.prompts, ds.validation_pairs, ds.pairs)
    )
    return found


def _split_fraction(asked: float, val_prompts: int, prompts: int, val_pairs: int, pairs: int) -> Finding:
    prompt_share = val_prompts / prompts if prompts else 0.0
    pair_share = val_pairs / pairs if pairs else 0.0
    spread = 3 * math.sqrt(asked * (1 - asked) / prompts) if prompts else 0.0
    tolerance = max(SPLIT_TOLERANCE, spread)
    detail = (
        f"asked {share(asked)} of the prompts; validation has {_n(val_prompts)} of {_n(prompts)} prompts "
        f"({share(prompt_share)}) and {_n(val_pairs)} of {_n(pairs)} pairs ({share(pair_share)})"
    )
    off = max(abs(prompt_share - asked), abs(pair_share - asked))
    if asked > 0 and val_pairs == 0:
        return Finding("split", Level.BAD, "the validation split is empty", detail)
    if off > tolerance:
        return Finding(
            "split", Level.WARN, f"validation is {share(pair_share)} of the pairs, asked {share(asked)}", detail
        )
    return Finding(
        "split", Level.OK, f"validation is {share(pair_share)} of the pairs, as asked ({share(asked)})", detail
    )
