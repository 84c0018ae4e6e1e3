"""Column names and dtypes of every frame: the public contract, declared once.

Each frame is a :class:`polars.Schema` (an ordered mapping of column name to dtype). Use
:func:`conform` at boundaries (after reading a file, before writing one) to check and
order columns. The keys that identify a turn, and the values of the ``split`` column,
are declared here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from dpo_frames.errors import SchemaError

if TYPE_CHECKING:
    from polars._typing import SchemaDict

TURN_KEYS: tuple[str, ...] = ("run_id", "example_id", "turn_id")
"""The columns that identify a turn: candidates of one turn are compared with each other."""

TRAIN = "train"
VALIDATION = "validation"
SPLITS: tuple[str, ...] = (TRAIN, VALIDATION)
"""The values of the dataset's ``split`` column."""

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
MESSAGES = pl.List(MESSAGE)


def _schema(columns: SchemaDict) -> pl.Schema:
    # Typed here: in pl.Schema's union-typed parameter mypy infers a dict literal mixing
    # dtype classes and instances as dict[str, object].
    return pl.Schema(columns)


STEPS = _schema(
    {
        "run_id": pl.String,
        "example_id": pl.String,
        "step_index": pl.Int64,
        "event_type": pl.String,
        "event_category": pl.String,
        "name": pl.String,
        "step_uuid": pl.String,
        "event_timestamp": pl.Float64,
        "data": pl.String,
        "metadata": pl.String,
    }
)

CANDIDATES = _schema(
    {
        "run_id": pl.String,
        "example_id": pl.String,
        "turn_id": pl.String,
        "turn_index": pl.Int64,
        "candidate_index": pl.Int64,
        "prompt_text": pl.String,
        "prompt_messages": MESSAGES,
        "response": pl.String,
        "score": pl.Float64,
        "step_uuid": pl.String,
        "metadata": pl.String,
    }
)

REJECTS = _schema(
    {
        "source": pl.String,
        "reason": pl.String,
        "raw": pl.String,
    }
)

PAIRS = _schema(
    {
        "run_id": pl.String,
        "example_id": pl.String,
        "turn_id": pl.String,
        "prompt_text": pl.String,
        "prompt_messages": MESSAGES,
        "chosen_response": pl.String,
        "rejected_response": pl.String,
        "chosen_score": pl.Float64,
        "rejected_score": pl.Float64,
        "score_diff": pl.Float64,
        "chosen_index": pl.Int64,
        "rejected_index": pl.Int64,
        "reward": pl.Float64,
        "pair_id": pl.String,
    }
)

DATASET = _schema({**PAIRS, "split": pl.String})

COMPLETIONS = _schema(
    {
        "run_id": pl.String,
        "example_id": pl.String,
        "turn_id": pl.String,
        "prompt_text": pl.String,
        "prompt_messages": MESSAGES,
        "completion": pl.String,
        "score": pl.Float64,
        "candidate_index": pl.Int64,
        "margin": pl.Float64,
        "label": pl.Boolean,
        "record_id": pl.String,
        "split": pl.String,
    }
)
"""The dataset of an SFT or KTO export: one scored completion per row, ``label`` True for a desirable
one (every row of SFT), ``margin`` its score above the best other candidate of its turn (null alone)."""

FRAMES: Mapping[str, pl.Schema] = {
    "steps": STEPS,
    "candidates": CANDIDATES,
    "rejects": REJECTS,
    "pairs": PAIRS,
    "dataset": DATASET,
    "completions": COMPLETIONS,
}


def empty(schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with the given schema."""
    return pl.DataFrame(schema=schema)


def _castable(actual: pl.DataType, expected: pl.DataType) -> bool:
    """Same dtype, all-null, or a lossless widening (any integer to Int64, any number to Float64)."""
    if actual == expected or actual == pl.Null or (isinstance(expected, pl.List) and actual == pl.List(pl.Null)):
        return True
    if expected == pl.Int64:
        return actual.is_integer() and actual not in (pl.UInt64,)
    if expected == pl.Float64:
        return actual.is_numeric()
    return False


def conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], name: str) -> pl.DataFrame:
    """Check that ``frame`` has every column of ``schema`` with a compatible dtype.

    Returns the frame with the schema's columns first, in order, cast to the declared
    dtypes (an all-null column, or a narrower integer or float, is cast); extra
    columns are kept after them. Raises :class:`SchemaError` naming what is missing or
    mistyped.
    """
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise SchemaError(f"{name} frame is missing column(s) {missing}; expected {list(schema)}")
    wrong = [
        f"{c}: {frame.schema[c]} (expected {dtype})"
        for c, dtype in schema.items()
        if not _castable(frame.schema[c], dtype)
    ]
    if wrong:
        raise SchemaError(f"{name} frame has column(s) of the wrong type: {'; '.join(wrong)}")
    extra = [c for c in frame.columns if c not in schema]
    columns = [pl.col(c).cast(d) for c, d in schema.items()] + extra  # apart: inside select(...) mypy rejects the +
    return frame.select(columns)


def is_frame(obj: object) -> bool:
    """Whether ``obj`` is a frame :func:`collect_frame` takes (Polars, pandas or Arrow)."""
    if isinstance(obj, (pl.DataFrame, pl.LazyFrame)):
        return True
    module = type(obj).__module__
    return (module.startswith("pandas") and type(obj).__name__ == "DataFrame") or (
        module.startswith("pyarrow") and type(obj).__name__ in ("Table", "RecordBatch")
    )


def collect_frame(obj: Any, name: str) -> pl.DataFrame:
    """``obj`` as a Polars DataFrame: a Polars DataFrame as is, a LazyFrame collected, a pandas
    DataFrame or a pyarrow Table converted once; anything else a :class:`SchemaError` that says
    what is taken.

    Example:
        >>> import pyarrow as pa
        >>> collect_frame(pa.table({"a": [1, 2]}), "pairs").shape
        (2, 1)
        >>> collect_frame([{"a": 1}], "pairs")
        Traceback (most recent call last):
        ...
        dpo_frames.errors.SchemaError: pairs: expected a frame (Polars DataFrame or LazyFrame, pandas DataFrame or pyarrow Table), got list
    """
    if isinstance(obj, pl.DataFrame):
        return obj
    if isinstance(obj, pl.LazyFrame):
        return obj.collect()
    if is_frame(obj):
        if type(obj).__module__.startswith("pandas"):
            return pl.from_pandas(obj)
        converted = pl.from_arrow(obj)
        assert isinstance(converted, pl.DataFrame)  # a Table or RecordBatch converts to a frame
        return converted
    raise SchemaError(
        f"{name}: expected a frame (Polars DataFrame or LazyFrame, pandas DataFrame or pyarrow "
        f"Table), got {type(obj).__name__}"
    )
