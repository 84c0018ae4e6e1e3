"""Best-of-n SFT (rejection sampling) from scored candidates: per turn the best candidate, if good enough.

Candidates are grouped as the pair engine groups them: by turn (``run_id``, ``example_id``,
``turn_id``) and, inside a turn, by prompt (candidates with different prompts are not compared).
The best of a group is the highest score; a tie for it goes to the lowest ``candidate_index``, then
the first in input order, as in :func:`~dpo_frames.build_pairs`. It becomes a record when its score
is at least ``min_score`` and, with ``min_margin``, when it beats the best of the others by at least
that much (a group of one has no others: with a margin it is skipped and counted). Then dedup, a
seeded sample and the leak-free split by prompt, as for pairs.
"""

from __future__ import annotations

import logging
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from dpo_frames.dataset.completions import finalize_completions, gather_completions, ranked_candidates
from dpo_frames.dataset.finalize import DatasetStats, DedupMode

logger = logging.getLogger("dpo_frames")

__all__ = ["SftConfig", "SftStats", "build_sft"]


class SftConfig(BaseModel):
    """Which candidates become SFT records (the keys a YAML ``sft:`` block takes)."""

    model_config = ConfigDict(extra="forbid")

    min_score: float | None = Field(
        default=None, allow_inf_nan=False, description="The best candidate's score must be at least this. None: any."
    )
    min_margin: float | None = Field(
        default=None,
        ge=0.0,
        allow_inf_nan=False,
        description="The best must beat the best other candidate of its turn by at least this (0 admits a tie for "
        "best; a turn of one candidate has no margin and is skipped). None: no margin needed.",
    )


class SftStats(BaseModel):
    """What :func:`build_sft` selected and skipped; ``prompt_groups = below_min_score + below_margin +
    single_candidate_skipped + selected``. ``split`` is the dataset's (its ``*_pairs`` counts are records)."""

    recipe: Literal["sft"] = "sft"
    config: SftConfig = Field(default_factory=SftConfig)
    candidates: int = 0
    invalid_candidates: int = 0
    """Rows with no usable score, turn, prompt or response (a hand-made frame)."""
    turns: int = 0
    prompt_groups: int = 0
    prompt_mismatch_turns: int = 0
    """Turns whose candidates have different prompts (each prompt is a group of its own)."""
    single_candidate_groups: int = 0
    tied_best_groups: int = 0
    """Groups whose top score is shared (the tie is broken by candidate index, then input order)."""
    below_min_score: int = 0
    below_margin: int = 0
    single_candidate_skipped: int = 0
    """Groups of one candidate skipped because ``min_margin`` needs others to compare with."""
    selected: int = 0
    split: DatasetStats = Field(default_factory=DatasetStats)


def _select(ranked: pl.DataFrame, config: SftConfig, stats: SftStats) -> pl.DataFrame:
    best = ranked.filter(pl.col("place") == 0).with_columns(margin=pl.col("score") - pl.col("other"))
    stats.prompt_groups = best.height
    stats.turns = best["turn"].n_unique()
    stats.prompt_mismatch_turns = int((best.group_by("turn").len()["len"] > 1).sum())
    stats.single_candidate_groups = int((best["n"] == 1).sum())
    stats.tied_best_groups = int((best["margin"] == 0).sum())
    if config.min_score is not None:
        kept = best.filter(pl.col("score") >= config.min_score)
        stats.below_min_score, best = best.height - kept.height, kept
    if config.min_margin is not None:
        alone = best.filter(pl.col("n") == 1).height
        kept = best.filter((pl.col("n") > 1) & (pl.col("margin") >= config.min_margin))
        stats.single_candidate_skipped = alone
        stats.below_margin = best.height - kept.height - alone
        best = kept
    stats.selected = best.height
    return best.with_columns(label=pl.lit(True))


def build_sft(
    candidates: pl.DataFrame | pl.LazyFrame,
    config: SftConfig | None = None,
    *,
    deduplicate: bool = True,
    max_records: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    dedup_mode: DedupMode | str = DedupMode.EXACT,
) -> tuple[pl.DataFrame, SftStats]:
    """The SFT dataset of the candidates: a completions frame (with ``split``) and :class:`SftStats`.

    Write it with :func:`~dpo_frames.write_dataset` in ``customizer-sft``, ``trl-sft`` or
    ``trl-sft-conversational``. ``deduplicate``, ``max_records``, ``seed``, ``validation_fraction``
    and ``dedup_mode`` work as in :func:`~dpo_frames.finalize_dataset`.

    Example:
        >>> import polars as pl, dpo_frames
        >>> candidates = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": ["t0", "t0", "t1", "t1"],
        ...     "turn_index": 0, "candidate_index": [0, 1, 0, 1], "prompt_text": ["2+2?", "2+2?", "3+3?", "3+3?"],
        ...     "prompt_messages": None, "response": ["4", "5", "6", "7"], "score": [1.0, 0.0, 0.6, 0.5],
        ...     "step_uuid": ["a", "b", "c", "d"], "metadata": None})
        >>> sft, stats = dpo_frames.build_sft(candidates, dpo_frames.SftConfig(min_margin=0.5))
        >>> sft["completion"].to_list(), stats.below_margin
        (['4'], 1)
    """
    config = config or SftConfig()
    valid, ranked, invalid = ranked_candidates(candidates)
    stats = SftStats(config=config, candidates=valid.height + invalid, invalid_candidates=invalid)
    picked = _select(ranked, config, stats)
    completions = gather_completions(valid, picked)
    dataset, stats.split = finalize_completions(
        completions,
        deduplicate=deduplicate,
        max_records=max_records,
        seed=seed,
        validation_fraction=validation_fraction,
        dedup_mode=dedup_mode,
    )
    logger.info(
        "build_sft: %d candidates in %d turns -> %d records (%d below min_score, %d below margin, %d alone)",
        stats.candidates,
        stats.turns,
        stats.split.pairs,
        stats.below_min_score,
        stats.below_margin,
        stats.single_candidate_skipped,
    )
    return dataset, stats
