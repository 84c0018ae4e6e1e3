"""Pairs frame <-> NAT ``TrajectoryCollection`` (one ``DPOItem`` trajectory per pair).

The builder returns trajectories (NAT's interface), the adapter accepts them; inside, the
data stays a pairs frame. Both directions are single passes over columns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import polars as pl
from nat.data_models.finetuning import DPOItem, OpenAIMessage, Trajectory, TrajectoryCollection

from dpo_frames import schema
from dpo_frames.errors import EmptyDatasetError
from dpo_frames.hashing import combine64, hex64, prompt_hash, xxh3

__all__ = ["DPO_TYPE", "collection_to_pairs", "pairs_to_collection"]

logger = logging.getLogger("dpo_frames.nat")

DPO_TYPE = "preference_pair"
"""``metadata["dpo_type"]`` of every trajectory, as in the reference builder."""

_META_COLUMNS = (
    "example_id",
    "turn_id",
    "chosen_score",
    "rejected_score",
    "score_diff",
    "chosen_index",
    "rejected_index",
    "pair_id",
    "run_id",
)


def _prompt(text: str, messages: list[dict[str, str]] | None) -> list[OpenAIMessage] | str:
    if messages is None:
        return text
    return [OpenAIMessage.model_construct(role=m["role"], content=m["content"]) for m in messages]


def pairs_to_collection(pairs: pl.DataFrame, run_id: str) -> TrajectoryCollection:
    """Trajectories grouped by example (in order of first appearance), one per pair.

    Each trajectory's episode is one ``DPOItem`` (the prompt as messages when the pair has
    them, else as text), its reward the pair's ``reward``, and its metadata the
    reference's keys (``dpo_type``, ``score_diff``, ``example_id``, ``turn_id``,
    ``chosen_score``, ``rejected_score``, ``chosen_index``, ``rejected_index``) plus
    ``pair_id`` and ``run_id``. Values come from a schema-checked frame, so the models are
    built without re-validation.
    """
    frame = schema.conform(pairs, schema.PAIRS, "pairs")
    cols = frame.select(
        "prompt_text", "prompt_messages", "chosen_response", "rejected_response", "reward", *_META_COLUMNS
    ).to_dict(as_series=False)
    groups: dict[Any, list[Trajectory]] = {}
    rows = zip(
        cols["prompt_text"],
        cols["prompt_messages"],
        cols["chosen_response"],
        cols["rejected_response"],
        cols["reward"],
        *(cols[c] for c in _META_COLUMNS),
        strict=True,
    )
    for text, messages, chosen, rejected, reward, *meta in rows:
        item = DPOItem.model_construct(
            prompt=_prompt(text, messages), chosen_response=chosen, rejected_response=rejected
        )
        metadata = {"dpo_type": DPO_TYPE, **dict(zip(_META_COLUMNS, meta, strict=True))}
        trajectory = Trajectory.model_construct(episode=[item], reward=reward, shaped_rewards=None, metadata=metadata)
        groups.setdefault(metadata["example_id"], []).append(trajectory)
    return TrajectoryCollection.model_construct(trajectories=list(groups.values()), run_id=run_id)


def _messages(prompt: Any) -> tuple[str, list[dict[str, str]] | None]:
    """(prompt_text, prompt_messages) of a DPOItem prompt."""
    if isinstance(prompt, str):
        return prompt, None
    messages = [m if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in prompt]
    return (messages[-1]["content"] if messages else ""), messages


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def collection_to_pairs(
    collection: TrajectoryCollection | Iterable[Iterable[Trajectory]], run_id: str | None = None
) -> pl.DataFrame:
    """The pairs frame of every ``DPOItem`` in a collection (any producer, not only ours).

    Metadata the builder put on trajectories (scores, indices, ``pair_id``) is carried
    over; what a foreign producer left out is null, and a missing ``pair_id`` is computed
    from the content (prompt, chosen, rejected). Episode items that are not ``DPOItem`` are
    counted and logged. Raises :class:`EmptyDatasetError` when there is no DPO item at all.
    """
    groups = getattr(collection, "trajectories", collection)
    run_id = run_id if run_id is not None else getattr(collection, "run_id", None)
    rows: dict[str, list[Any]] = {c: [] for c in schema.PAIRS}
    skipped = 0
    for group_index, group in enumerate(groups):
        for trajectory in group:
            meta = trajectory.metadata or {}
            items = [i for i in trajectory.episode if isinstance(i, DPOItem)]
            skipped += len(trajectory.episode) - len(items)
            for item in items:
                text, messages = _messages(item.prompt)
                rows["run_id"].append(meta.get("run_id", run_id))
                rows["example_id"].append(str(meta.get("example_id", f"group_{group_index}")))
                rows["turn_id"].append(None if meta.get("turn_id") is None else str(meta["turn_id"]))
                rows["prompt_text"].append(text)
                rows["prompt_messages"].append(messages)
                rows["chosen_response"].append(item.chosen_response)
                rows["rejected_response"].append(item.rejected_response)
                rows["chosen_score"].append(_float(meta.get("chosen_score")))
                rows["rejected_score"].append(_float(meta.get("rejected_score")))
                rows["score_diff"].append(_float(meta.get("score_diff")))
                rows["chosen_index"].append(_int(meta.get("chosen_index")))
                rows["rejected_index"].append(_int(meta.get("rejected_index")))
                rows["reward"].append(float(trajectory.reward))
                rows["pair_id"].append(meta.get("pair_id") if len(items) == 1 else None)
    if skipped:
        logger.warning("ignored %d episode item(s) that are not DPOItem", skipped)
    if not rows["prompt_text"]:
        where = f" of run {run_id}" if run_id else ""
        raise EmptyDatasetError(f"No DPO items found in trajectories{where}: nothing to train on")
    frame = pl.DataFrame(rows, schema=dict(schema.PAIRS), strict=False)
    return _fill_pair_ids(frame)


def _fill_pair_ids(frame: pl.DataFrame) -> pl.DataFrame:
    if frame["pair_id"].null_count() == 0:
        return frame
    # The pair id build_pairs gives: prompt, chosen and rejected hashes combined.
    hashes = frame.select(c=xxh3(pl.col("chosen_response")), r=xxh3(pl.col("rejected_response")))
    content_ids = hex64(combine64(prompt_hash(frame), hashes["c"], hashes["r"]))
    return frame.with_columns(pl.coalesce(pl.col("pair_id"), pl.lit(content_ids)).alias("pair_id"))
