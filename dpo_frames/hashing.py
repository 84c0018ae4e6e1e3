"""Stable content hashes as Polars expressions.

xxh3 and md5 (via ``polars-hash``) are fixed, published algorithms: the same text gives
the same hash on every machine and every version, unlike ``Expr.hash``. Pair ids and
the train/validation split rest on them.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace on expressions)
import pyarrow as pa


def xxh3(expr: pl.Expr) -> pl.Expr:
    """xxh3-64 (seed 0) of the UTF-8 bytes of a string expression, as UInt64."""
    return expr.nchash.xxh3_64()  # type: ignore[attr-defined]  # namespace registered at runtime by polars_hash


def _in_thread_chunks(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` cut into one chunk per Polars thread (large frames only): Polars runs the
    xxh3 plugin over the chunks of a column in parallel, over one chunk on one thread."""
    threads = pl.thread_pool_size()
    if threads < 2 or frame.height < 200_000:
        return frame
    step = -(-frame.height // threads)
    return pl.concat([frame.slice(i, step) for i in range(0, frame.height, step)], rechunk=False)


def prompt_hash(frame: pl.DataFrame, text: str = "prompt_text", messages: str = "prompt_messages") -> pl.Series:
    """Stable UInt64 hash of each row's whole prompt: its text and, if any, its message list.

    A string prompt and a one-message list with the same text hash differently (the
    message part is 0 for a string prompt and a hash of the messages otherwise).
    """
    text_hash = frame.select(xxh3(pl.col(text)).fill_null(0)).to_series()
    return combine64(text_hash, messages_hash(frame.get_column(messages)))


_K_POSITION = np.uint64(0x9E3779B97F4A7C15)


def messages_hash(messages: pl.Series) -> pl.Series:
    """Stable UInt64 hash of each message list (0 for null), without building strings.

    Message i (from 0) hashes as mix(xxh3(role) * M1 ^ xxh3(content) ^ (i + 1) * K), and a
    list as mix(XOR of its messages' hashes ^ mix(length + 1)), with splitmix64's mix and
    multiplier M1 and the golden-ratio constant K, all modulo 2**64. Fixed arithmetic
    on xxh3 values, so the same on every machine and version.
    """
    lengths = messages.list.len()
    n = lengths.fill_null(0).to_numpy().astype(np.int64)
    starts = np.cumsum(n) - n
    flat = _in_thread_chunks(messages.explode(empty_as_null=False, keep_nulls=False).struct.unnest()).select(
        r=xxh3(pl.col("role").fill_null("")), c=xxh3(pl.col("content").fill_null(""))
    )
    with np.errstate(over="ignore"):
        position = np.arange(1, int(n.sum()) + 1, dtype=np.int64)  # 1-based position in its list
        position -= np.repeat(starts, n)
        position = position.view(np.uint64)
        position *= _K_POSITION
        each = flat["r"].to_numpy() * _M1
        each ^= flat["c"].to_numpy()
        each ^= position
        each = _mix64(each, copy=False)
        folded = np.zeros(len(n), dtype=np.uint64)
        nonempty = n > 0
        if nonempty.any():
            folded[nonempty] = np.bitwise_xor.reduceat(each, starts[nonempty])
        result = _mix64(folded ^ _mix64(n.astype(np.uint64) + np.uint64(1)))
    valid = lengths.is_not_null().to_numpy()
    return pl.Series(np.where(valid, result, np.uint64(0)), dtype=pl.UInt64)


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """The splitmix64 finalizer (wrapping uint64 arithmetic), on a copy (or on ``x`` itself)."""
    x = x.astype(np.uint64, copy=copy)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


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
    # from_arrow is typed DataFrame | Series for any input; an Arrow array gives a Series.
    return cast(pl.Series, pl.from_arrow(array)).cast(pl.Binary).bin.encode("hex")


def unit_interval(hash_u64: pl.Expr) -> pl.Expr:
    """Map a UInt64 hash to [0, 1) (53 high bits, exactly representable)."""
    return (hash_u64 // (1 << 11)).cast(pl.Float64) / float(1 << 53)
