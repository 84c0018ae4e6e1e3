"""Stable content hashes as Polars expressions.

xxh3 and md5 (via ``polars-hash``) are fixed, published algorithms: the same text gives
the same hash on every machine and every version, unlike ``Expr.hash``. Pair ids and
the train/validation split rest on them.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import polars_hash  # noqa: F401  (registers the .nchash namespace on expressions)

_FIELD = "\x1e"  # between the role and the content of one message
_ITEM = "\x1d"  # between messages


def xxh3(expr: pl.Expr) -> pl.Expr:
    """xxh3-64 (seed 0) of the UTF-8 bytes of a string expression, as UInt64."""
    return expr.nchash.xxh3_64()


def _joined_messages(messages: str) -> pl.Expr:
    """A message list as one string (role and content of each message); null stays null."""
    element = pl.element().struct
    return pl.col(messages).list.eval(
        element.field("role").fill_null("") + _FIELD + element.field("content").fill_null("")).list.join(_ITEM)


def prompt_hash(frame: pl.DataFrame, text: str = "prompt_text", messages: str = "prompt_messages") -> pl.Series:
    """Stable UInt64 hash of each row's whole prompt: its text and, if any, its message list.

    A string prompt and a one-message list with the same text hash differently (the
    message part is 0 for a string prompt and a hash of role + content otherwise).
    """
    parts = frame.select(xxh3(pl.col(text)).fill_null(0).alias("t"),
                         xxh3(_joined_messages(messages)).fill_null(0).alias("m"))
    return combine64(parts["t"], parts["m"])


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def combine64(*hashes: pl.Series) -> pl.Series:
    """Combine UInt64 hash columns, in order, into one stable UInt64 hash."""
    with np.errstate(over="ignore"):
        acc = np.zeros(len(hashes[0]), dtype=np.uint64)
        for h in hashes:
            acc = _mix64(acc ^ h.cast(pl.UInt64).to_numpy())
    return pl.Series(acc, dtype=pl.UInt64)


def hex64(values: pl.Series) -> pl.Series:
    """UInt64 values as 16 lower-case hex digits (big-endian), vectorized through Arrow."""
    big_endian = values.cast(pl.UInt64).to_numpy().astype(">u8", copy=False)
    array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(8), len(big_endian), [None, pa.py_buffer(big_endian)])
    return pl.from_arrow(array).cast(pl.Binary).bin.encode("hex")


def unit_interval(hash_u64: pl.Expr) -> pl.Expr:
    """Map a UInt64 hash to [0, 1) (53 high bits, exactly representable)."""
    return (hash_u64 // (1 << 11)).cast(pl.Float64) / float(1 << 53)


def canonical_prompt(text: str = "prompt_text", messages: str = "prompt_messages") -> pl.Expr:
    """One string per prompt: ``m`` + the joined messages, or ``s`` + the text.

    Materializes a string per row; prefer :func:`prompt_hash` on large frames.
    """
    return (pl.when(pl.col(messages).is_not_null()).then(pl.lit("m") + _joined_messages(messages))
            .otherwise(pl.lit("s") + pl.col(text)))
