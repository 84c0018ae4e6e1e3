"""KTO (unpaired preference) from scored candidates: each completion labelled desirable or undesirable.

Two ways to label (``KtoConfig.label_by``):

- ``score``: a completion scoring at least ``desirable_min_score`` is desirable, one scoring at most
  ``undesirable_max_score`` undesirable (give one or both; with one, the other side is everything
  else), anything between is left out. Turns of a single candidate, useless for DPO, count here
  (``single_candidate_records``).
- ``rank``: within its group (turn and prompt, as the pair engine groups candidates) the
  ``desirable_top`` best are desirable and the ``undesirable_bottom`` worst undesirable (None: every
  candidate below the desirable ones), ties broken as the pair engine breaks them; a candidate
  that ties in score with a desirable one is never undesirable. Groups of one candidate, or whose
  candidates all tie, say nothing by rank and are skipped (counted). The score thresholds, when
  given, also apply.

TRL's ``KTOTrainer`` wants the classes balanced through its weights: ``desirable_weight`` times
the desirable examples over ``undesirable_weight`` times the undesirable ones between 1 and 4/3.
:class:`KtoStats` reports the balance of the training split and weights that bring it there.
"""

from __future__ import annotations

import logging
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dpo_frames.dataset.completions import finalize_completions, gather_completions, ranked_candidates
from dpo_frames.dataset.finalize import DatasetStats, DedupMode
from dpo_frames.schema import TRAIN, VALIDATION

logger = logging.getLogger("dpo_frames")

__all__ = ["KtoConfig", "KtoStats", "build_kto"]


class KtoConfig(BaseModel):
    """How completions are labelled for KTO (the keys a YAML ``kto:`` block takes)."""

    model_config = ConfigDict(extra="forbid")

    label_by: Literal["score", "rank"] = Field(default="rank", description="score thresholds, or rank within the turn.")
    desirable_min_score: float | None = Field(default=None, allow_inf_nan=False)
    undesirable_max_score: float | None = Field(default=None, allow_inf_nan=False)
    desirable_top: int = Field(default=1, ge=1, description="rank: the best this many of a turn are desirable.")
    undesirable_bottom: int | None = Field(
        default=1, ge=1, description="rank: the worst this many are undesirable; None: all below the desirable ones."
    )

    @model_validator(mode="after")
    def _thresholds(self) -> KtoConfig:
        low, high = self.undesirable_max_score, self.desirable_min_score
        if self.label_by == "score" and low is None and high is None:
            raise ValueError("label_by='score' needs desirable_min_score, undesirable_max_score or both")
        if low is not None and high is not None and not high > low:
            raise ValueError(
                f"desirable_min_score ({high}) must be greater than undesirable_max_score ({low}), "
                "or a completion could be both"
            )
        return self


class KtoStats(BaseModel):
    """What :func:`build_kto` labelled, and the class balance TRL's ``KTOTrainer`` wants known.

    ``candidates - invalid_candidates = desirable + undesirable + unlabelled`` (before the dataset's
    dedup and sample); ``train_*``/``validation_*`` count the split files."""

    recipe: Literal["kto"] = "kto"
    config: KtoConfig = Field(default_factory=KtoConfig)
    candidates: int = 0
    invalid_candidates: int = 0
    turns: int = 0
    prompt_groups: int = 0
    single_candidate_groups: int = 0
    single_candidate_records: int = 0
    """Labelled completions from groups of a single candidate (usable by score, not by rank)."""
    tied_groups: int = 0
    """rank: groups whose candidates all tie, skipped."""
    desirable: int = 0
    undesirable: int = 0
    unlabelled: int = 0
    conflicting_labels: int = 0
    """(prompt, completion) pairs labelled both ways (the same text scored differently); both are kept."""
    train_desirable: int = 0
    train_undesirable: int = 0
    validation_desirable: int = 0
    validation_undesirable: int = 0
    desirable_fraction: float | None = None
    """Share of desirable records in the training split."""
    desirable_weight: float = 1.0
    undesirable_weight: float = 1.0
    """Weights for ``KTOConfig`` that put desirable * weight : undesirable * weight within [1, 4/3]."""
    split: DatasetStats = Field(default_factory=DatasetStats)


def _labels(ranked: pl.DataFrame, config: KtoConfig, stats: KtoStats) -> pl.DataFrame:
    score = pl.col("score")
    high, low = config.desirable_min_score, config.undesirable_max_score
    if config.label_by == "score":
        good = score >= high if high is not None else score > low
        bad = score <= low if low is not None else score < high
        return ranked.with_columns(label=pl.when(good).then(True).when(bad).then(False))
    rank_good = pl.col("place") < config.desirable_top
    floor = score.filter(rank_good).min().over("grp")  # the lowest desirable score of the group
    bottom = config.undesirable_bottom
    rank_bad = ~rank_good & (score < floor)
    if bottom is not None:
        rank_bad = rank_bad & (pl.col("place") >= pl.col("n") - bottom)
    if high is not None:
        rank_good = rank_good & (score >= high)
    if low is not None:
        rank_bad = rank_bad & (score <= low)
    all_tied = (pl.col("n") > 1) & (pl.col("top") == score.min().over("grp"))
    says = (pl.col("n") > 1) & ~all_tied  # a group of one, or all tied, says nothing by rank
    stats.tied_groups = ranked.filter(all_tied & (pl.col("place") == 0)).height
    return ranked.with_columns(label=pl.when(says & rank_good).then(True).when(says & rank_bad).then(False))


def _count(labelled: pl.DataFrame, stats: KtoStats) -> None:
    first = labelled.filter(pl.col("place") == 0)
    stats.prompt_groups, stats.turns = first.height, first["turn"].n_unique()
    stats.single_candidate_groups = int((first["n"] == 1).sum())
    stats.desirable = int((labelled["label"] == True).sum())  # noqa: E712  (a Polars comparison, nulls excluded)
    stats.undesirable = int((labelled["label"] == False).sum())  # noqa: E712
    stats.unlabelled = labelled.height - stats.desirable - stats.undesirable
    stats.single_candidate_records = labelled.filter((pl.col("n") == 1) & pl.col("label").is_not_null()).height


def _balance(dataset: pl.DataFrame, stats: KtoStats) -> None:
    def count(split: str, label: bool) -> int:
        return dataset.filter((pl.col("split") == split) & (pl.col("label") == label)).height

    stats.train_desirable, stats.train_undesirable = count(TRAIN, True), count(TRAIN, False)
    stats.validation_desirable, stats.validation_undesirable = count(VALIDATION, True), count(VALIDATION, False)
    good, bad = stats.train_desirable, stats.train_undesirable
    if good + bad:
        stats.desirable_fraction = round(good / (good + bad), 6)
    if good and bad and good < bad:
        stats.desirable_weight = round(bad / good, 4)
    elif good and bad and good > bad * 4 / 3:
        stats.undesirable_weight = round(good / bad, 4)
    conflicts = dataset.group_by("prompt_text", "completion").agg(pl.col("label").n_unique().alias("labels"))
    stats.conflicting_labels = int((conflicts["labels"] > 1).sum())


def build_kto(
    candidates: pl.DataFrame | pl.LazyFrame,
    config: KtoConfig | None = None,
    *,
    deduplicate: bool = True,
    max_records: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    dedup_mode: DedupMode | str = DedupMode.EXACT,
) -> tuple[pl.DataFrame, KtoStats]:
    """The KTO dataset of the candidates: a completions frame (``label`` True for desirable, with
    ``split``) and :class:`KtoStats`. Write it in ``trl-kto`` or ``trl-kto-conversational``.

    ``deduplicate`` (on prompt, completion and label), ``max_records``, ``seed``,
    ``validation_fraction`` and ``dedup_mode`` work as in :func:`~dpo_frames.finalize_dataset`.

    Example:
        >>> import polars as pl, dpo_frames
        >>> candidates = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": ["t0", "t0", "t0", "t1"],
        ...     "turn_index": 0, "candidate_index": [0, 1, 2, 0], "prompt_text": ["2+2?"] * 3 + ["3+3?"],
        ...     "prompt_messages": None, "response": ["4", "5", "22", "6"], "score": [1.0, 0.5, 0.0, 0.9],
        ...     "step_uuid": ["a", "b", "c", "d"], "metadata": None})
        >>> kto, stats = dpo_frames.build_kto(candidates)  # by rank: best desirable, worst undesirable
        >>> sorted(zip(kto["completion"], kto["label"])), stats.single_candidate_groups
        ([('22', False), ('4', True)], 1)
        >>> kto, stats = dpo_frames.build_kto(candidates, dpo_frames.KtoConfig(label_by="score", desirable_min_score=0.8))
        >>> stats.desirable, stats.undesirable, stats.single_candidate_records
        (2, 2, 1)
    """
    config = config or KtoConfig()
    valid, ranked, invalid = ranked_candidates(candidates)
    stats = KtoStats(config=config, candidates=valid.height + invalid, invalid_candidates=invalid)
    ranked = ranked.with_columns(margin=pl.col("score") - pl.col("other"))
    labelled = _labels(ranked, config, stats)
    _count(labelled, stats)
    picked = labelled.filter(pl.col("label").is_not_null())
    dataset, stats.split = finalize_completions(
        gather_completions(valid, picked),
        deduplicate=deduplicate,
        max_records=max_records,
        seed=seed,
        validation_fraction=validation_fraction,
        dedup_mode=dedup_mode,
    )
    _balance(dataset, stats)
    logger.info(
        "build_kto: %d candidates -> %d records (%d desirable, %d undesirable in train; weights %s / %s)",
        stats.candidates,
        stats.split.pairs,
        stats.train_desirable,
        stats.train_undesirable,
        stats.desirable_weight,
        stats.undesirable_weight,
    )
    return dataset, stats
