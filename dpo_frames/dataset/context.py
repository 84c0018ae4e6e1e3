"""No context dropped silently: what a plain (string-prompt) export does with prompts of several messages.

A format whose prompt is one string (``customizer`` without ``use_full_message_history``, ``trl``,
``customizer-sft``, ``trl-sft``, ``trl-kto``) can hold only one message of a message prompt: the last
one. A conversation with a system prompt would become its bare last user turn, and two conversations
that end alike would become one record. So such an export of prompts of more than one message is
refused (:class:`~dpo_frames.errors.PromptContextError`, naming the format that keeps the messages),
unless ``prompt_context="last_message"`` asks for the truncation; then it is counted
(:class:`ContextStats`) and logged as a warning, with the records that collapse into one.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import polars as pl
from pydantic import BaseModel

from dpo_frames.errors import ConfigError, PromptContextError
from dpo_frames.hashing import combine64, prompt_hash, xxh3

logger = logging.getLogger("dpo_frames")

__all__ = ["ContextStats", "ContextTally", "PromptContext", "check_prompt_context", "prompt_context_of"]


class PromptContext(StrEnum):
    """What a plain (string-prompt) export does with prompts of more than one message."""

    REFUSE = "refuse"
    """Refuse the export, naming the choices (the default)."""
    LAST_MESSAGE = "last_message"
    """Keep the last message only (NAT's reference with ``use_full_message_history: false``), counted and warned."""


class ContextStats(BaseModel):
    """How an export treated message prompts (recorded with the dataset)."""

    prompt_context: PromptContext = PromptContext.REFUSE
    plain_prompt: bool = False
    """Whether the format's prompt is one string (else it carries the whole message list)."""
    records: int = 0
    multi_message_prompts: int = 0
    """Records whose prompt has more than one message."""
    truncated_prompts: int = 0
    """Records written with the last message of their prompt only."""
    collapsed_records: int = 0
    """Records equal to another one once truncated while different before (lost to a later dedup)."""


def prompt_context_of(value: PromptContext | str) -> PromptContext:
    """``value`` as a :class:`PromptContext`; a :class:`~dpo_frames.errors.ConfigError` naming the values otherwise."""
    try:
        return PromptContext(value)
    except ValueError:
        raise ConfigError(f"prompt_context must be one of {[c.value for c in PromptContext]}, got {value!r}") from None


def _collapsed(frame: pl.DataFrame, responses: list[str]) -> int:
    """Distinct records (whole prompt) minus distinct records once the prompt is its last message only.

    Records whose cut form is unique are distinct either way (the whole prompt holds its last
    message), so only those whose cut form comes back have their whole prompt hashed: the
    message lists, the costly part, are hashed for the few records that can collapse."""
    if frame.height == 0:
        return 0
    parts = [frame.select(xxh3(pl.col(c).cast(pl.String)).fill_null(0)).to_series() for c in responses]
    plain = combine64(frame.select(xxh3(pl.col("prompt_text")).fill_null(0)).to_series(), *parts)
    shared = plain.is_duplicated()
    if not shared.any():
        return 0
    full = combine64(prompt_hash(frame.filter(shared)), *(part.filter(shared) for part in parts))
    return full.n_unique() - plain.filter(shared).n_unique()


def record_hashes(frame: pl.DataFrame, responses: list[str]) -> tuple[pl.Series, pl.Series]:
    """A hash per record with its whole prompt, and one with the prompt's last message only."""
    if frame.height == 0:
        empty = pl.Series([], dtype=pl.UInt64)
        return empty, empty
    parts = [frame.select(xxh3(pl.col(c).cast(pl.String)).fill_null(0)).to_series() for c in responses]
    full = combine64(prompt_hash(frame), *parts)
    plain = combine64(frame.select(xxh3(pl.col("prompt_text")).fill_null(0)).to_series(), *parts)
    return full, plain


def _multi_message(frame: pl.DataFrame) -> int:
    return int(frame.select((pl.col("prompt_messages").list.len() > 1).fill_null(False).sum()).item())


def _what_is_cut(multi: int, records: int, format: str, collapsed: int) -> str:
    what = (
        f"{multi} of {records} records have prompts of more than one message; the {format} format's "
        f"prompt is one string, so only their last message would be kept"
    )
    return what + (f" ({collapsed} records would collapse into others)" if collapsed else "")


def _refusal(what: str, keep_hint: str) -> PromptContextError:
    return PromptContextError(
        f"{what}. To keep every message, {keep_hint}; to keep the last message only, on purpose, "
        "pass prompt_context='last_message' (CLI: --last-message-only)"
    )


class ContextTally:
    """:func:`check_prompt_context` over an export written in parts (one per partition of a scaled
    build): each part is counted as it is written (refused at the first that would be cut), the
    records that collapse are counted over all parts, and the warning is logged once.

    Example:
        >>> import polars as pl
        >>> from dpo_frames import schema
        >>> part = pl.DataFrame({"prompt_text": ["hi"], "chosen_response": ["a"], "rejected_response": ["b"],
        ...     "prompt_messages": [[{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}]]},
        ...     schema_overrides={"prompt_messages": schema.MESSAGES})
        >>> tally = ContextTally(format="customizer", plain_prompt=True, keep_hint="keep them",
        ...     responses=["chosen_response", "rejected_response"], prompt_context="last_message")
        >>> tally.add(part); tally.add(part.with_columns(pl.lit([None]).cast(schema.MESSAGES).alias("prompt_messages")))
        >>> tally.stats().truncated_prompts, tally.stats().collapsed_records
        (1, 1)
    """

    def __init__(
        self,
        *,
        format: str,
        plain_prompt: bool,
        responses: list[str],
        keep_hint: str,
        prompt_context: PromptContext | str = PromptContext.REFUSE,
    ) -> None:
        self.format, self.responses, self.keep_hint = format, responses, keep_hint
        self.mode = prompt_context_of(prompt_context)
        self.plain_prompt = plain_prompt
        self.records = self.multi = 0
        self._full: list[pl.Series] = []
        self._plain: list[pl.Series] = []

    def add(self, part: pl.DataFrame) -> None:
        """Count one part of the export; raises :class:`~dpo_frames.errors.PromptContextError` where
        it would be cut and the cut was not asked for."""
        multi = _multi_message(part)
        self.records += part.height
        self.multi += multi
        if not self.plain_prompt:
            return
        if multi and self.mode is PromptContext.REFUSE:
            raise _refusal(_what_is_cut(self.multi, self.records, self.format, 0), self.keep_hint)
        full, plain = record_hashes(part, self.responses)
        self._full.append(full)
        self._plain.append(plain)

    def merge(self, other: ContextTally) -> None:
        """Add the parts another tally counted (a worker's, in a distributed build)."""
        self.records += other.records
        self.multi += other.multi
        self._full += other._full
        self._plain += other._plain

    def stats(self) -> ContextStats:
        """The counts of every part added (the warning logged by :meth:`log`)."""
        stats = ContextStats(
            prompt_context=self.mode,
            plain_prompt=self.plain_prompt,
            records=self.records,
            multi_message_prompts=self.multi,
        )
        if self.plain_prompt and self.multi:
            full = pl.concat(self._full) if self._full else pl.Series([], dtype=pl.UInt64)
            plain = pl.concat(self._plain) if self._plain else pl.Series([], dtype=pl.UInt64)
            stats.truncated_prompts = self.multi
            stats.collapsed_records = full.n_unique() - plain.n_unique()
        return stats

    def log(self) -> ContextStats:
        """:meth:`stats`, with the warning of a cut asked for."""
        stats = self.stats()
        if stats.truncated_prompts:
            what = _what_is_cut(stats.truncated_prompts, stats.records, self.format, stats.collapsed_records)
            logger.warning("%s: kept as asked (prompt_context=last_message)", what)
        return stats


def check_prompt_context(
    frame: pl.DataFrame,
    *,
    format: str,
    plain_prompt: bool,
    responses: list[str],
    keep_hint: str,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> ContextStats:
    """Count the message prompts an export of ``format`` would cut, and refuse or allow the cut.

    ``responses`` are the frame's columns that make a record besides its prompt (for the count of
    records that collapse); ``keep_hint`` says how to keep the messages with this format.

    Example:
        >>> import polars as pl
        >>> from dpo_frames import schema
        >>> frame = pl.DataFrame({"prompt_text": ["hi", "hi"], "completion": ["a", "a"],
        ...     "prompt_messages": [[{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}],
        ...                         [{"role": "user", "content": "hi"}]]},
        ...     schema={"prompt_text": pl.String, "completion": pl.String, "prompt_messages": schema.MESSAGES})
        >>> stats = check_prompt_context(frame, format="trl-sft", plain_prompt=True, responses=["completion"],
        ...     keep_hint="use trl-sft-conversational", prompt_context="last_message")
        >>> stats.truncated_prompts, stats.collapsed_records
        (1, 1)
    """
    mode = prompt_context_of(prompt_context)
    multi = _multi_message(frame)
    stats = ContextStats(prompt_context=mode, plain_prompt=plain_prompt, records=frame.height)
    stats.multi_message_prompts = multi
    if not plain_prompt or multi == 0:
        return stats
    collapsed = _collapsed(frame, responses)
    what = _what_is_cut(multi, frame.height, format, collapsed)
    if mode is PromptContext.REFUSE:
        raise _refusal(what, keep_hint)
    stats.truncated_prompts, stats.collapsed_records = multi, collapsed
    logger.warning("%s: kept as asked (prompt_context=last_message)", what)
    return stats
