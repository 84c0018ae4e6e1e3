"""What the SFT and KTO recipes share: ranking candidates within their turn, and finalizing the
selected completions with the same dedup, seeded sample and leak-free split as pairs.

The dataset decisions are those of :func:`~dpo_frames.dataset.finalize.decide`, on the same
narrow keys (:data:`~dpo_frames.dataset.finalize.KEY_COLUMNS`): for a completion, ``prompt`` is
its whole prompt, ``chosen`` its text, ``rejected`` its label, ``pair`` its record id and
``prompt_text`` the text the split is decided on. So a prompt keeps its side across recipes:
the SFT and DPO datasets of one run put each prompt on the same side.
"""

from __future__ import annotations

import polars as pl

from dpo_frames import schema
from dpo_frames.dataset.finalize import (
    KEY_COLUMNS,
    DatasetStats,
    DedupMode,
    decide,
    dedup_mode_of,
    normalized_prompt,
    normalized_text,
)
from dpo_frames.hashing import combine64, hex64, prompt_hash, xxh3
from dpo_frames.pairs.engine import narrow_candidates, usable_candidates

__all__ = ["completion_keys", "finalize_completions", "gather_completions", "ranked_candidates"]

_USED = (*schema.TURN_KEYS, "candidate_index", "prompt_text", "prompt_messages", "response", "score")


def ranked_candidates(candidates: pl.DataFrame | pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``(valid, ranked, invalid)``: the usable candidates (the columns a completion needs), their
    narrow frame ranked within each prompt group, and how many rows were not usable.

    ``ranked`` has, per candidate, ``cid`` (row of ``valid``), ``turn``, ``grp`` (turn and prompt,
    as the pair engine groups them), ``score``, ``place`` (0 the best: highest score, then lowest
    ``candidate_index``, then input order, as the pair engine breaks ties), ``n`` (candidates of
    its group), ``top`` (the group's best score) and ``other`` (the best score among the others of
    the group; null alone), ``rh``/``ph`` (response and prompt hashes).
    """
    frame = schema.collect_frame(candidates, "candidates")
    frame = schema.conform(frame, schema.CANDIDATES, "candidates")
    usable = frame.select(usable_candidates()).to_series().fill_null(False)
    valid = (frame if usable.all() else frame.filter(usable)).select(_USED).rechunk()
    narrow = narrow_candidates(valid)
    ranked = narrow.sort(["grp", "score", "ci", "cid"], descending=[False, True, False, False]).with_columns(
        place=pl.int_range(pl.len(), dtype=pl.UInt32).over("grp"), n=pl.len().over("grp")
    )
    second = pl.col("score").slice(1, 1).first().over("grp")  # null in a group of one
    first = pl.col("score").first().over("grp")
    ranked = ranked.with_columns(
        top=first, other=pl.when(pl.col("n") < 2).then(None).when(pl.col("place") == 0).then(second).otherwise(first)
    )
    return valid, ranked.sort("cid"), frame.height - valid.height


def gather_completions(valid: pl.DataFrame, picked: pl.DataFrame) -> pl.DataFrame:
    """The completions of the ``picked`` rows of the ranked frame (``cid``, ``label``, ``margin``), in input order."""
    picked = picked.sort("cid")
    texts = valid.select(
        pl.col(*schema.TURN_KEYS, "prompt_text", "prompt_messages").gather(picked["cid"]),
        completion=pl.col("response").gather(picked["cid"]),
        score=pl.col("score").gather(picked["cid"]),
        candidate_index=pl.col("candidate_index").gather(picked["cid"]),
    )
    label = picked["label"].cast(pl.UInt64)
    record_id = hex64(combine64(picked["ph"], picked["rh"], label))
    extra = picked.select("margin", "label").with_columns(record_id=record_id, split=pl.lit(None, pl.String))
    return pl.concat([texts, extra], how="horizontal").select(list(schema.COMPLETIONS))


def completion_keys(completions: pl.DataFrame, *, dedup_mode: DedupMode | str = DedupMode.EXACT) -> pl.DataFrame:
    """The narrow keys of :func:`~dpo_frames.dataset.finalize.decide` for completions (see the module doc)."""
    mode = dedup_mode_of(dedup_mode)
    label = completions.select(pl.col("label").cast(pl.UInt64)).to_series()
    ids = completions.select(pair=xxh3(pl.col("record_id")), prompt_text=xxh3(pl.col("prompt_text")))
    if mode is DedupMode.EXACT:
        texts = completions.select(chosen=xxh3(pl.col("completion"))).with_columns(prompt=prompt_hash(completions))
    else:
        casefold = mode is DedupMode.CASEFOLD
        texts = completions.select(
            prompt=xxh3(normalized_prompt(casefold=casefold)),
            chosen=xxh3(normalized_text(pl.col("completion"), casefold=casefold)),
        )
    return pl.concat([texts.with_columns(rejected=label), ids], how="horizontal").select(KEY_COLUMNS)


def finalize_completions(
    completions: pl.DataFrame,
    *,
    deduplicate: bool = True,
    max_records: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    dedup_mode: DedupMode | str = DedupMode.EXACT,
) -> tuple[pl.DataFrame, DatasetStats]:
    """Deduplicate (prompt, completion, label), sample ``max_records`` with ``seed`` and split by prompt
    text, exactly as :func:`~dpo_frames.finalize_dataset` does for pairs (its ``*_pairs`` counts are records)."""
    mode = dedup_mode_of(dedup_mode)
    kept, stats = decide(
        completion_keys(completions, dedup_mode=mode),
        deduplicate=deduplicate,
        max_pairs=max_records,
        seed=seed,
        validation_fraction=validation_fraction,
    )
    stats.dedup_mode = mode
    frame = completions[kept["row"]].with_columns(split=kept["split"])
    return schema.conform(frame, schema.COMPLETIONS, "completions"), stats
