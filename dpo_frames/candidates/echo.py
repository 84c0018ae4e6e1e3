"""Prompts as real workflows record them: a candidate's own answer echoed at the end of its prompt.

Workflows often record a candidate's prompt as the conversation *after* the model answered:
the last message is an assistant message whose content is the candidate's own output (with
retries, the earlier failed attempts sit before it). That answer is not part of the prompt:
left in, every candidate of a turn has its own prompt, so nothing pairs, and an exported
record's prompt ends with its chosen response. :func:`strip_echoes` removes it, on the
candidates frame, whichever extraction path made it.
"""

from __future__ import annotations

import polars as pl

from dpo_frames import schema
from dpo_frames.candidates.rules import RejectReason

__all__ = ["echoed_output", "strip_echoes"]


def echoed_output() -> pl.Expr:
    """True for a candidate whose message prompt ends with an assistant message equal to its response
    (compared without leading and trailing white space); False otherwise, string prompts included."""
    last = pl.col("prompt_messages").list.last()
    same = last.struct.field("content").str.strip_chars() == pl.col("response").str.strip_chars()
    return (pl.col("prompt_messages").list.len() > 0) & (last.struct.field("role") == "assistant") & same


def strip_echoes(candidates: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``(candidates, rejects, echoes)``: every echoed answer removed from the end of its prompt.

    ``prompt_messages`` loses its last message and ``prompt_text`` becomes the new last
    message's content. A prompt that had nothing but the echo (or whose new last message is
    empty) has no prompt left: that candidate moves to ``rejects`` as ``missing input``.
    ``echoes`` counts every candidate whose echo was found, rejected ones included.

    Example:
        >>> import polars as pl
        >>> from dpo_frames import schema
        >>> user = {"role": "user", "content": "2+2?"}
        >>> frame = schema.conform(pl.DataFrame({
        ...     "run_id": "r", "example_id": "e", "turn_id": "t", "turn_index": 0, "candidate_index": [0, 1],
        ...     "prompt_text": ["4", "2+2?"], "response": ["4", "5"], "score": [1.0, 0.0], "step_uuid": ["a", "b"],
        ...     "metadata": None, "prompt_messages": [[user, {"role": "assistant", "content": "4"}], [user]],
        ... }), schema.CANDIDATES, "candidates")
        >>> stripped, rejects, echoes = strip_echoes(frame)
        >>> echoes, stripped["prompt_text"].to_list(), stripped["prompt_messages"].to_list()[0], rejects.height
        (1, ['2+2?', '2+2?'], [{'role': 'user', 'content': '2+2?'}], 0)
    """
    flags = _echo_flags(candidates)
    echoes = int(flags.sum())
    if echoes == 0:
        return candidates, schema.empty(schema.REJECTS), 0
    messages = pl.col("prompt_messages")
    kept = messages.list.head(messages.list.len() - 1)
    frame = candidates.with_columns(
        prompt_messages=pl.when(flags).then(kept).otherwise(messages),
        prompt_text=pl.when(flags).then(kept.list.last().struct.field("content")).otherwise(pl.col("prompt_text")),
    )
    empty = flags & frame.select(pl.col("prompt_text").fill_null("") == "").to_series()
    if not empty.any():
        return frame, schema.empty(schema.REJECTS), echoes
    return frame.filter(~empty), _rejects(candidates.filter(empty)), echoes


def _echo_flags(candidates: pl.DataFrame) -> pl.Series:
    """:func:`echoed_output` per row; the texts are compared only where the last message is the assistant's."""
    last_role = pl.col("prompt_messages").list.last().struct.field("role")
    assistant = candidates.select((last_role == "assistant").fill_null(False)).to_series()
    if not assistant.any():  # prompts recorded before the answer: nothing to compare
        return assistant
    subset = candidates.select("prompt_messages", "response").with_row_index("row").filter(assistant)
    echoed = subset.filter(echoed_output().fill_null(False))["row"]
    return pl.int_range(candidates.height, dtype=pl.UInt32, eager=True).is_in(echoed.implode()).alias("echo")


def _rejects(candidates: pl.DataFrame) -> pl.DataFrame:
    """The rejects of candidates whose prompt was nothing but their own answer."""
    source = pl.coalesce(
        pl.col("step_uuid"),
        pl.concat_str(
            pl.lit("run "), pl.col("run_id"), pl.lit(" example "), pl.col("example_id"),
            pl.lit(" turn "), pl.col("turn_id"), pl.lit(" candidate "), pl.col("candidate_index").cast(pl.String),
            ignore_nulls=True,
        ),
    )  # fmt: skip
    raw = pl.struct(
        "turn_id",
        "turn_index",
        "candidate_index",
        "score",
        input=pl.col("prompt_messages"),
        output=pl.col("response"),
    ).struct.json_encode()
    rejects = candidates.select(source=source, reason=pl.lit(str(RejectReason.MISSING_INPUT)), raw=raw)
    return schema.conform(rejects, schema.REJECTS, "rejects")
