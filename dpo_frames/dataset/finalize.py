"""Pairs -> dataset: deduplicate, sample down with a seed, split train/validation by prompt."""

from __future__ import annotations

import logging
from enum import StrEnum

import polars as pl
from pydantic import BaseModel

from dpo_frames import schema
from dpo_frames.errors import ConfigError
from dpo_frames.hashing import combine64, prompt_hash, unit_interval, xxh3
from dpo_frames.schema import TRAIN, VALIDATION

logger = logging.getLogger("dpo_frames")


class DedupMode(StrEnum):
    """How :func:`finalize_dataset` decides that two pairs are the same.

    A pair is (prompt, chosen, rejected); a prompt is its message list when it has one,
    else its text (a string prompt never equals a message list).
    """

    EXACT = "exact"
    """Byte-equal texts; message lists equal role for role and content for content."""
    NORMALIZED = "normalized"
    """Texts, roles and message contents with surrounding whitespace trimmed; a message list
    compared as canonical JSON (``[{"content":...,"role":...},...]``: keys sorted, no spaces)."""
    CASEFOLD = "casefold"
    """``normalized``, then lower-cased (Unicode lower-case mapping: ``"É"`` equals ``"é"``;
    not full case folding, so ``"ß"`` does not equal ``"ss"``)."""


class DatasetStats(BaseModel):
    """What :func:`finalize_dataset` kept and dropped, and how the split came out."""

    input_pairs: int = 0
    duplicate_pairs: int = 0
    dedup_mode: DedupMode = DedupMode.EXACT
    sampled_out_pairs: int = 0
    pairs: int = 0
    train_pairs: int = 0
    validation_pairs: int = 0
    prompts: int = 0
    train_prompts: int = 0
    validation_prompts: int = 0
    prompts_in_both_splits: int = 0
    moved_prompts: int = 0
    """Prompts put on the other side than their hash says, so that neither side is empty.
    Their side may differ in another run with other prompts (logged when it happens)."""
    seed: int = 0
    validation_fraction: float = 0.2


def finalize_dataset(
    pairs: pl.DataFrame | pl.LazyFrame,
    *,
    deduplicate: bool = True,
    max_pairs: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    dedup_mode: DedupMode | str = DedupMode.EXACT,
) -> tuple[pl.DataFrame, DatasetStats]:
    """Deduplicate, sample and split pairs into the dataset frame (pairs + ``split``).

    - ``deduplicate``: one pair per (prompt, chosen, rejected) across runs, the first kept;
      a prompt is its message list when it has one, else its text. ``dedup_mode``
      (:class:`DedupMode`) says how texts compare: ``exact`` (the default), ``normalized``
      (surrounding whitespace trimmed, message lists as canonical JSON) or ``casefold``
      (normalized, then lower-cased). Deduplication comes before the ``max_pairs`` sample,
      so the sample never spends a place on a duplicate.
    - ``max_pairs``: keep a seeded sample of that many pairs. The sample depends only on
      the seed and the pairs' content ids, not on row order, process or machine.
    - ``validation_fraction``: the share of prompts whose pairs go to ``validation``. The
      split is by prompt text (hashed with xxh3, independent of the seed), so no prompt
      text sits on both sides and a pair keeps its side across runs and versions. With
      two or more pairs neither side is left empty: a prompt moves side if needed, and
      when every pair has the same prompt the pairs themselves are split (the one case a
      prompt must sit on both sides; counted in ``prompts_in_both_splits``, and logged).
      ``validation_fraction=0`` puts every pair in ``train`` (a train-only dataset).

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
    mode = dedup_mode_of(dedup_mode)
    frame = schema.collect_frame(pairs, "pairs")
    frame = schema.conform(frame, schema.PAIRS, "pairs").select(list(schema.PAIRS))
    kept, stats = decide(
        pair_keys(frame, dedup_mode=mode),
        deduplicate=deduplicate,
        max_pairs=max_pairs,
        seed=seed,
        validation_fraction=validation_fraction,
    )
    stats.dedup_mode = mode
    dataset = frame[kept["row"]].with_columns(split=kept["split"])
    return schema.conform(dataset, schema.DATASET, "dataset"), stats


def pair_keys(pairs: pl.DataFrame, *, dedup_mode: DedupMode | str = DedupMode.EXACT) -> pl.DataFrame:
    """The narrow per-pair hashes every dataset decision rests on, one row per pair in order.

    ``prompt`` (the whole prompt: text and messages), ``chosen``, ``rejected`` (dedup,
    compared as ``dedup_mode`` says), ``pair`` (the pair id: sampling) and ``prompt_text``
    (the split, always the exact text). Computing these per chunk and deciding on their
    concatenation gives the same dataset as one big frame, which is how the partitioned
    path stays within memory.
    """
    mode = dedup_mode_of(dedup_mode)
    ids = pairs.select(pair=xxh3(pl.col("pair_id")), prompt_text=xxh3(pl.col("prompt_text")))
    if mode is DedupMode.EXACT:
        texts = pairs.select(
            chosen=xxh3(pl.col("chosen_response")), rejected=xxh3(pl.col("rejected_response"))
        ).with_columns(prompt=prompt_hash(pairs))
    else:
        casefold = mode is DedupMode.CASEFOLD
        texts = pairs.select(
            prompt=xxh3(normalized_prompt(casefold=casefold)),
            chosen=xxh3(normalized_text(pl.col("chosen_response"), casefold=casefold)),
            rejected=xxh3(normalized_text(pl.col("rejected_response"), casefold=casefold)),
        )
    return pl.concat([texts, ids], how="horizontal").select(KEY_COLUMNS)


def dedup_mode_of(value: DedupMode | str) -> DedupMode:
    """``value`` as a :class:`DedupMode`; a :class:`~dpo_frames.errors.ConfigError` naming the modes otherwise."""
    try:
        return DedupMode(value)
    except ValueError:
        raise ConfigError(f"dedup_mode must be one of {[m.value for m in DedupMode]}, got {value!r}") from None


def normalized_text(expr: pl.Expr, *, casefold: bool = False) -> pl.Expr:
    """A text with surrounding whitespace trimmed and, with ``casefold``, lower-cased."""
    trimmed = expr.str.strip_chars()
    return trimmed.str.to_lowercase() if casefold else trimmed


def normalized_prompt(
    text: str = "prompt_text", messages: str = "prompt_messages", *, casefold: bool = False
) -> pl.Expr:
    """The canonical form of a prompt, one string per row: ``m`` + its message list as canonical
    JSON (keys sorted, no spaces; role and content normalized), or ``s`` + its normalized text.

    Example:
        >>> import polars as pl
        >>> from dpo_frames import schema
        >>> frame = pl.DataFrame({"prompt_text": [" Hi ", "x"],
        ...     "prompt_messages": [None, [{"role": "user", "content": " Hi\\n"}]]},
        ...     schema={"prompt_text": pl.String, "prompt_messages": schema.MESSAGES})
        >>> frame.select(normalized_prompt()).to_series().to_list()
        ['sHi', 'm[{"content":"Hi","role":"user"}]']
    """
    element = pl.element().struct
    as_json = (
        pl.col(messages)
        .list.eval(
            pl.struct(
                content=normalized_text(element.field("content"), casefold=casefold),
                role=normalized_text(element.field("role"), casefold=casefold),
            ).struct.json_encode()
        )
        .list.join(",")
    )
    return (
        pl.when(pl.col(messages).is_not_null())
        .then(pl.lit("m[") + as_json + pl.lit("]"))
        .otherwise(pl.lit("s") + normalized_text(pl.col(text), casefold=casefold))
    )


KEY_COLUMNS = ("prompt", "chosen", "rejected", "pair", "prompt_text")


def decide(
    keys: pl.DataFrame,
    *,
    deduplicate: bool = True,
    max_pairs: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
) -> tuple[pl.DataFrame, DatasetStats]:
    """Which pairs the dataset keeps, in order, and on which side: ``(row, split)`` rows,
    ``row`` indexing ``keys`` (see :func:`pair_keys`); the rules of :func:`finalize_dataset`."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ConfigError(
            f"validation_fraction must be at least 0 (0: train only) and below 1, got {validation_fraction}"
        )
    if max_pairs is not None and max_pairs < 1:
        raise ConfigError(f"max_pairs must be at least 1 or None, got {max_pairs}")
    if not 0 <= seed < 2**64:
        raise ConfigError(f"seed must be between 0 and 2**64 - 1, got {seed}")
    stats = DatasetStats(input_pairs=keys.height, seed=seed, validation_fraction=validation_fraction)
    frame = keys.with_row_index("row")
    if deduplicate:
        frame = frame.filter(pl.struct("prompt", "chosen", "rejected").is_first_distinct())
        stats.duplicate_pairs = stats.input_pairs - frame.height
    if max_pairs is not None and frame.height > max_pairs:
        stats.sampled_out_pairs = frame.height - max_pairs
        frame = _sample(frame, max_pairs, seed)
    frame, stats.moved_prompts = _split(frame, validation_fraction)
    _count_split(frame, stats)
    logger.info(
        "finalize_dataset: %d pairs -> %d (%d duplicates, %d sampled out): %d train / %d validation, %d prompts",
        stats.input_pairs,
        stats.pairs,
        stats.duplicate_pairs,
        stats.sampled_out_pairs,
        stats.train_pairs,
        stats.validation_pairs,
        stats.prompts,
    )
    if stats.prompts_in_both_splits:
        logger.warning("all %d pairs share one prompt: split by pair, so that prompt is in both splits", stats.pairs)
    return frame.select("row", "split"), stats


def _sample(frame: pl.DataFrame, max_pairs: int, seed: int) -> pl.DataFrame:
    """The ``max_pairs`` pairs with the smallest seeded hash of their id, in their order."""
    seed_hash = pl.Series([seed], dtype=pl.UInt64).extend_constant(seed, frame.height - 1)
    key = combine64(seed_hash, frame["pair"])
    keep = pl.int_range(pl.len()).sort_by([key, pl.int_range(pl.len())]).head(max_pairs)
    return frame[frame.select(keep.alias("i")).to_series().sort()]


def _split(frame: pl.DataFrame, fraction: float) -> tuple[pl.DataFrame, int]:
    """Validation = prompts whose text hashes below ``fraction``; a 64-bit collision only
    puts two prompts on the same side, so the hash stands in for the text. Also returns
    how many prompts had to move side so that neither side is empty. ``fraction`` 0: all train."""
    if fraction == 0.0:
        return frame.with_columns(split=pl.lit(TRAIN)), 0
    prompts = frame.select(pl.col("prompt_text").unique())
    prompts = prompts.with_columns(_bucket=unit_interval(pl.col("prompt_text"))).sort("_bucket", "prompt_text")
    validation = prompts.filter(pl.col("_bucket") < fraction)["prompt_text"]
    moved = 0
    if frame.height >= 2 and prompts.height >= 2:
        if validation.len() == 0:
            validation, moved = prompts.head(1)["prompt_text"], 1
        elif validation.len() == prompts.height:
            validation, moved = prompts.head(prompts.height - 1)["prompt_text"], 1
    if frame.height < 2:
        validation = validation.clear()  # one pair trains; validation stays empty only then
    in_validation = pl.col("prompt_text").is_in(validation.implode())
    frame = frame.with_columns(split=pl.when(in_validation).then(pl.lit(VALIDATION)).otherwise(pl.lit(TRAIN)))
    if frame.height >= 2 and prompts.height == 1:
        n_validation = min(frame.height - 1, max(1, round(frame.height * fraction)))
        rank = pl.col("pair").rank("ordinal")
        frame = frame.with_columns(
            split=pl.when(rank <= n_validation).then(pl.lit(VALIDATION)).otherwise(pl.lit(TRAIN))
        )
    if moved:
        logger.info(
            "split: %d prompt moved side so that neither side is empty (its side may differ in runs "
            "with other prompts)",
            moved,
        )
    return frame, moved


def _count_split(frame: pl.DataFrame, stats: DatasetStats) -> None:
    per_prompt = frame.group_by("prompt_text").agg(sides=pl.col("split").n_unique(), side=pl.col("split").first())
    stats.pairs = frame.height
    stats.train_pairs = int((frame["split"] == TRAIN).sum())
    stats.validation_pairs = stats.pairs - stats.train_pairs
    stats.prompts = per_prompt.height
    stats.prompts_in_both_splits = int((per_prompt["sides"] > 1).sum())
    single = per_prompt.filter(pl.col("sides") == 1)
    stats.train_prompts = int((single["side"] == TRAIN).sum()) + stats.prompts_in_both_splits
    stats.validation_prompts = int((single["side"] == VALIDATION).sum()) + stats.prompts_in_both_splits
