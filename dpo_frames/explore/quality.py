"""Quality checks of preference data: what the counts in PairStats and DatasetStats don't say.

:func:`quality_checks` looks at the candidates (ties), the pairs or the dataset (margins,
how the pairs spread over prompts, identical or empty responses) and the dataset's split
(no prompt on both sides). Every number comes from group-wise aggregations over narrow
hash columns, so it runs on large frames (and on ``LazyFrame`` scans of a run directory).

Example:
    >>> import polars as pl, dpo_frames
    >>> from dpo_frames.explore.quality import quality_checks
    >>> candidates = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": "t", "turn_index": 0,
    ...     "candidate_index": [0, 1, 2], "prompt_text": "2+2?", "prompt_messages": None,
    ...     "response": ["4", "5", "four"], "score": [1.0, 0.0, 1.0], "step_uuid": None, "metadata": None})
    >>> pairs, _ = dpo_frames.build_pairs(candidates)
    >>> report = quality_checks(candidates, pairs)
    >>> report.tie_rate, report.pairs, report.margin.min
    (0.3333333333333333, 2, 1.0)
"""

from __future__ import annotations

import math
from typing import Any, cast

import polars as pl
from pydantic import BaseModel, Field

from dpo_frames import schema
from dpo_frames.dataset.finalize import TRAIN, VALIDATION, normalized_text
from dpo_frames.hashing import prompt_hash, xxh3
from dpo_frames.pairs.engine import narrow_candidates, usable_candidates

__all__ = ["TOP_PROMPT_SHARE", "Distribution", "QualityReport", "quality_checks"]

TOP_PROMPT_SHARE = 0.01
"""The share of prompts (the ones with the most pairs) whose share of the pairs is reported."""
DOMINANCE_WARNING = 0.5
"""Warn when the top prompts hold more than this share of the pairs (and there are 100+ prompts)."""

Frame = pl.DataFrame | pl.LazyFrame


class Distribution(BaseModel):
    """Summary of a numeric column: extremes, mean and quantiles (linear interpolation)."""

    count: int
    mean: float
    min: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    max: float

    @classmethod
    def of(cls, values: pl.Series) -> Distribution | None:
        """The distribution of the non-null values, or None when there are none."""
        values = values.drop_nulls().cast(pl.Float64)
        if values.len() == 0:
            return None
        # polars types the aggregates as any literal or None; of non-null Float64 values they are floats
        q = {f"p{int(p * 100)}": float(cast(float, values.quantile(p, "linear"))) for p in (0.1, 0.25, 0.5, 0.75, 0.9)}
        return cls(
            count=values.len(),
            mean=float(cast(float, values.mean())),
            min=float(cast(float, values.min())),
            max=float(cast(float, values.max())),
            **q,
        )


class QualityReport(BaseModel):
    """What :func:`quality_checks` found. Fields of a part not given are None (or 0)."""

    candidates: int = Field(0, description="Usable candidates (finite score, text present).")
    candidate_pairs: int = Field(0, description="Pairs of candidates sharing a turn and a prompt.")
    tied_candidate_pairs: int = Field(0, description="Of those, pairs with equal scores (they never pair).")
    tie_rate: float | None = Field(None, description="tied_candidate_pairs / candidate_pairs.")
    prompt_groups: int = Field(0, description="(turn, prompt) groups of candidates.")
    groups_with_tied_best: int = Field(0, description="Groups whose top score is shared by 2+ candidates.")
    empty_candidate_responses: int = Field(0, description="Candidates whose response is empty or whitespace.")
    checked: str | None = Field(None, description="Which frame the pair checks ran on: dataset or pairs.")
    pairs: int = Field(0, description="Pairs in the checked frame.")
    margin: Distribution | None = Field(None, description="score_diff of the pairs.")
    prompts: int = Field(0, description="Distinct prompts (text and messages) among the pairs.")
    pairs_per_prompt: Distribution | None = None
    top_prompts: int = Field(0, description=f"The {TOP_PROMPT_SHARE:.0%} of prompts with the most pairs (at least 1).")
    top_prompts_share: float | None = Field(None, description="Share of the pairs those top prompts hold.")
    identical_response_pairs: int = Field(0, description="Pairs whose chosen and rejected texts are equal.")
    near_identical_response_pairs: int = Field(
        0, description="Pairs whose texts are equal once trimmed and lower-cased (includes identical ones)."
    )
    empty_response_pairs: int = Field(0, description="Pairs whose chosen or rejected text is empty or whitespace.")
    cross_split_prompts: int | None = Field(
        None, description="Prompt texts with pairs in both train and validation: must be 0."
    )
    cross_split_prompts_normalized: int | None = Field(
        None, description="Prompt texts in both splits once trimmed and lower-cased (near-duplicate leaks)."
    )
    cross_split_ok: bool | None = Field(None, description="cross_split_prompts == 0; None without a dataset.")
    warnings: list[str] = Field(default_factory=list)

    def ok(self) -> bool:
        """No warning was raised."""
        return not self.warnings

    def rows(self) -> dict[str, Any]:
        """The report flattened for a two-column table: distributions on one line, floats to 4 digits."""
        rows: dict[str, Any] = {}
        for key, value in self.model_dump(exclude={"warnings"}).items():
            if isinstance(value, dict):
                rows[key] = " · ".join(f"{k} {value[k]:.4g}" for k in ("min", "p10", "p50", "p90", "max", "mean"))
            elif isinstance(value, float):
                rows[key] = f"{value:.4g}"
            else:
                rows[key] = value
        return rows


def _collect(frame: Frame, columns: list[str]) -> pl.DataFrame:
    if isinstance(frame, pl.LazyFrame):  # a scan: only these columns are read
        return frame.select(columns).collect()
    return schema.collect_frame(frame, "frame").select(columns)


def _blank(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().str.len_bytes() == 0


def quality_checks(
    candidates: Frame | None = None, pairs: Frame | None = None, dataset: Frame | None = None
) -> QualityReport:
    """Quality numbers of candidates, pairs and a dataset; any of the three may be None.

    - candidates: tie rate (tied pairs among the pairs of candidates sharing a turn and a
      prompt), prompt groups whose best score is tied, empty responses;
    - pairs, or the dataset when given (what is trained on): margin (``score_diff``)
      distribution, pairs per prompt, the share of the pairs held by the top 1% of
      prompts, identical / near-identical / empty responses;
    - dataset: prompt texts found on both sides of the split (``cross_split_ok`` is the
      assertion: it must be True; the one documented exception is a dataset whose pairs
      all share a single prompt, which :func:`~dpo_frames.finalize_dataset` logs).
    """
    report = QualityReport()
    if candidates is not None:
        _candidate_checks(_collect(candidates, list(schema.CANDIDATES)), report)
    checked = dataset if dataset is not None else pairs
    if checked is not None:
        report.checked = "dataset" if dataset is not None else "pairs"
        columns = ["prompt_text", "prompt_messages", "chosen_response", "rejected_response", "score_diff"]
        _pair_checks(_collect(checked, columns), report)
    if dataset is not None:
        _split_checks(_collect(dataset, ["prompt_text", "split"]), report)
    _warn(report)
    return report


def _candidate_checks(frame: pl.DataFrame, report: QualityReport) -> None:
    frame = schema.conform(frame, schema.CANDIDATES, "candidates")
    valid = frame.filter(usable_candidates())
    narrow = narrow_candidates(valid)
    groups = narrow.group_by("grp").agg(n=pl.len(), top=(pl.col("score") == pl.col("score").max()).sum())
    levels = narrow.group_by("grp", "score").len()
    report.candidates = valid.height
    report.prompt_groups = groups.height
    report.candidate_pairs = int(groups.select((pl.col("n") * (pl.col("n") - 1) // 2).sum()).item() or 0)
    report.tied_candidate_pairs = int(levels.select((pl.col("len") * (pl.col("len") - 1) // 2).sum()).item() or 0)
    report.tie_rate = report.tied_candidate_pairs / report.candidate_pairs if report.candidate_pairs else None
    report.groups_with_tied_best = int((groups["top"] > 1).sum())
    report.empty_candidate_responses = int(valid.select(_blank("response").sum()).item() or 0)


def _pair_checks(frame: pl.DataFrame, report: QualityReport) -> None:
    report.pairs = frame.height
    report.margin = Distribution.of(frame["score_diff"])
    per_prompt = frame.select(prompt=prompt_hash(frame)).group_by("prompt").len()["len"].sort(descending=True)
    report.prompts = per_prompt.len()
    report.pairs_per_prompt = Distribution.of(per_prompt)
    if report.prompts:
        report.top_prompts = max(1, math.ceil(report.prompts * TOP_PROMPT_SHARE))
        report.top_prompts_share = float(per_prompt.head(report.top_prompts).sum()) / frame.height

    def near(col: str) -> pl.Expr:
        return xxh3(normalized_text(pl.col(col), casefold=True))

    counts = frame.select(
        identical=(pl.col("chosen_response") == pl.col("rejected_response")).sum(),
        near=(near("chosen_response") == near("rejected_response")).sum(),
        empty=(_blank("chosen_response") | _blank("rejected_response")).sum(),
    ).row(0, named=True)
    report.identical_response_pairs = int(counts["identical"] or 0)
    report.near_identical_response_pairs = int(counts["near"] or 0)
    report.empty_response_pairs = int(counts["empty"] or 0)


def _split_checks(frame: pl.DataFrame, report: QualityReport) -> None:
    def both_sides(key: pl.Expr) -> int:
        sides = frame.group_by(key.alias("k")).agg(
            train=(pl.col("split") == TRAIN).any(), validation=(pl.col("split") == VALIDATION).any()
        )
        return int((sides["train"] & sides["validation"]).sum())

    report.cross_split_prompts = both_sides(xxh3(pl.col("prompt_text")))
    report.cross_split_prompts_normalized = both_sides(xxh3(normalized_text(pl.col("prompt_text"), casefold=True)))
    report.cross_split_ok = report.cross_split_prompts == 0


def _warn(report: QualityReport) -> None:
    w = report.warnings
    if report.cross_split_prompts:
        w.append(
            f"{report.cross_split_prompts} prompt(s) in both train and validation"
            + (" (all pairs share one prompt, so the pairs were split)" if report.prompts == 1 else "")
        )
    near_leaks = (report.cross_split_prompts_normalized or 0) - (report.cross_split_prompts or 0)
    if near_leaks > 0:
        w.append(
            f"{near_leaks} prompt(s) differing "
            f"only in case or surrounding whitespace sit on different sides of the split"
        )
    if report.identical_response_pairs:
        w.append(f"{report.identical_response_pairs} pair(s) with identical chosen and rejected texts")
    if report.near_identical_response_pairs > report.identical_response_pairs:
        w.append(
            f"{report.near_identical_response_pairs - report.identical_response_pairs} pair(s) whose texts "
            f"differ only in case or surrounding whitespace"
        )
    if report.empty_response_pairs:
        w.append(f"{report.empty_response_pairs} pair(s) with an empty chosen or rejected text")
    if report.prompts >= 100 and (report.top_prompts_share or 0) > DOMINANCE_WARNING:
        w.append(f"the top {report.top_prompts} prompt(s) hold {report.top_prompts_share:.0%} of the pairs")
