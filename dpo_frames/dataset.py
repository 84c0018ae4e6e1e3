"""Pairs -> dataset: deduplicate, sample down with a seed, split train/validation by prompt."""

from __future__ import annotations

import logging

import polars as pl
from pydantic import BaseModel

from dpo_frames import schema
from dpo_frames.hashing import combine64, prompt_hash, unit_interval, xxh3

logger = logging.getLogger("dpo_frames")

TRAIN = "train"
VALIDATION = "validation"


class DatasetStats(BaseModel):
    """What :func:`finalize_dataset` kept and dropped, and how the split came out."""

    input_pairs: int = 0
    duplicate_pairs: int = 0
    sampled_out_pairs: int = 0
    pairs: int = 0
    train_pairs: int = 0
    validation_pairs: int = 0
    prompts: int = 0
    train_prompts: int = 0
    validation_prompts: int = 0
    prompts_in_both_splits: int = 0
    seed: int = 0
    validation_fraction: float = 0.2


def finalize_dataset(pairs: pl.DataFrame | pl.LazyFrame, *, deduplicate: bool = True, max_pairs: int | None = None,
                     seed: int = 0, validation_fraction: float = 0.2) -> tuple[pl.DataFrame, DatasetStats]:
    """Deduplicate, sample and split pairs into the dataset frame (pairs + ``split``).

    - ``deduplicate``: one pair per (prompt, chosen, rejected) across runs, the first kept;
      a prompt is its message list when it has one, else its text.
    - ``max_pairs``: keep a seeded sample of that many pairs. The sample depends only on
      the seed and the pairs' content ids, not on row order, process or machine.
    - ``validation_fraction``: the share of prompts whose pairs go to ``validation``. The
      split is by prompt text (hashed with xxh3, independent of the seed), so no prompt
      text sits on both sides and a pair keeps its side across runs and versions. With
      two or more pairs neither side is left empty: a prompt moves side if needed, and
      when every pair has the same prompt the pairs themselves are split (the one case a
      prompt must sit on both sides; counted in ``prompts_in_both_splits``, and logged).

    Example:
        >>> import polars as pl, dpo_frames
        >>> pairs = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": "t",
        ...     "prompt_text": ["a", "b", "a"], "prompt_messages": None,
        ...     "chosen_response": ["x", "x", "x"], "rejected_response": ["y", "y", "y"],
        ...     "chosen_score": 1.0, "rejected_score": 0.0, "score_diff": 1.0, "chosen_index": 0,
        ...     "rejected_index": 1, "reward": 1.0, "pair_id": ["p1", "p2", "p1"]})
        >>> dataset, stats = dpo_frames.finalize_dataset(pairs)
        >>> stats.duplicate_pairs, sorted(dataset["split"].to_list())
        (1, ['train', 'validation'])
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be strictly between 0 and 1, got {validation_fraction}")
    if max_pairs is not None and max_pairs < 1:
        raise ValueError(f"max_pairs must be at least 1 or None, got {max_pairs}")
    frame = pairs.collect() if isinstance(pairs, pl.LazyFrame) else pairs
    frame = schema.conform(frame, schema.PAIRS, "pairs").select(list(schema.PAIRS))
    stats = DatasetStats(input_pairs=frame.height, seed=seed, validation_fraction=validation_fraction)
    if deduplicate:
        frame = _deduplicate(frame)
        stats.duplicate_pairs = stats.input_pairs - frame.height
    if max_pairs is not None and frame.height > max_pairs:
        stats.sampled_out_pairs = frame.height - max_pairs
        frame = _sample(frame, max_pairs, seed)
    dataset = _split(frame, validation_fraction)
    _count_split(dataset, stats)
    if stats.prompts_in_both_splits:
        logger.warning("all %d pairs share one prompt: split by pair, so that prompt is in both splits",
                       stats.pairs)
    return schema.conform(dataset, schema.DATASET, "dataset"), stats


def _deduplicate(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep the first pair of each (prompt, chosen, rejected), compared by three 64-bit xxh3 hashes."""
    key = frame.select(prompt=prompt_hash(frame), chosen=xxh3(pl.col("chosen_response")),
                       rejected=xxh3(pl.col("rejected_response")))
    return frame.filter(key.select(pl.struct(pl.all()).is_first_distinct()).to_series())


def _sample(frame: pl.DataFrame, max_pairs: int, seed: int) -> pl.DataFrame:
    seed_hash = pl.Series([seed], dtype=pl.UInt64).extend_constant(seed, frame.height - 1)
    key = combine64(seed_hash, frame.select(xxh3(pl.col("pair_id"))).to_series())
    keep = pl.int_range(pl.len()).sort_by([key, pl.int_range(pl.len())]).head(max_pairs)
    rows = frame.select(keep.alias("row")).to_series().sort()
    return frame[rows]


def _split(frame: pl.DataFrame, fraction: float) -> pl.DataFrame:
    """Validation = prompts whose text hashes below ``fraction``; a 64-bit collision only
    puts two prompts on the same side, so the hash stands in for the text."""
    frame = frame.with_columns(_prompt=xxh3(pl.col("prompt_text")))
    prompts = frame.select(pl.col("_prompt").unique().sort())
    prompts = prompts.with_columns(_bucket=unit_interval(pl.col("_prompt"))).sort("_bucket", "_prompt")
    validation = prompts.filter(pl.col("_bucket") < fraction)["_prompt"]
    if frame.height >= 2 and prompts.height >= 2:
        if validation.len() == 0:
            validation = prompts.head(1)["_prompt"]
        elif validation.len() == prompts.height:
            validation = prompts.head(prompts.height - 1)["_prompt"]
    split = pl.when(pl.col("_prompt").is_in(validation.implode())).then(pl.lit(VALIDATION)).otherwise(pl.lit(TRAIN))
    frame = frame.with_columns(split=split)
    if frame.height >= 2 and prompts.height == 1:
        frame = _split_single_prompt(frame, fraction)
    return frame.drop("_prompt")


def _split_single_prompt(frame: pl.DataFrame, fraction: float) -> pl.DataFrame:
    n_validation = min(frame.height - 1, max(1, round(frame.height * fraction)))
    rank = xxh3(pl.col("pair_id")).rank("ordinal")
    return frame.with_columns(split=pl.when(rank <= n_validation).then(pl.lit(VALIDATION)).otherwise(pl.lit(TRAIN)))


def _count_split(dataset: pl.DataFrame, stats: DatasetStats) -> None:
    per_prompt = dataset.group_by(xxh3(pl.col("prompt_text")).alias("_prompt")).agg(pl.col("split").n_unique().alias("sides"),
                                                     pl.col("split").first().alias("side"))
    counts = dataset["split"].value_counts()
    by_split = dict(zip(counts["split"].to_list(), counts["count"].to_list()))
    stats.pairs = dataset.height
    stats.train_pairs = by_split.get(TRAIN, 0)
    stats.validation_pairs = by_split.get(VALIDATION, 0)
    stats.prompts = per_prompt.height
    stats.prompts_in_both_splits = int((per_prompt["sides"] > 1).sum())
    single = per_prompt.filter(pl.col("sides") == 1)
    stats.train_prompts = int((single["side"] == TRAIN).sum()) + stats.prompts_in_both_splits
    stats.validation_prompts = int((single["side"] == VALIDATION).sum()) + stats.prompts_in_both_splits
