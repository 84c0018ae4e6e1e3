"""The expressions every record format is made of: a prompt as messages, a response as an assistant turn."""

from __future__ import annotations

import polars as pl

__all__ = ["assistant", "messages_prompt"]


def messages_prompt() -> pl.Expr:
    """The prompt as a message list; a string prompt becomes one user message."""
    as_user = pl.concat_list(pl.struct(role=pl.lit("user"), content=pl.col("prompt_text")))
    return pl.coalesce(pl.col("prompt_messages"), as_user)


def assistant(col: str) -> pl.Expr:
    """A response as a one-message assistant turn."""
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col(col)))
