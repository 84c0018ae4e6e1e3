"""Steps frames, batch after batch, into one Parquet file (a file of any size, read in batches, kept for SQL)."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from dpo_frames import schema
from dpo_frames.layout import temp_name

__all__ = ["StepsWriter"]


class StepsWriter:
    """Write steps frames to one Parquet file as they come, through a temporary name: the file is
    in place when the writer is closed, and removed if the block writing it fails.

    Example:
        >>> import tempfile, pathlib
        >>> from dpo_frames.steps import iter_steps
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "steps.parquet"
        >>> with StepsWriter(path) as writer:
        ...     for batch in iter_steps([{"payload": {"event_type": "LLM_END"}}] * 3, batch_size=2):
        ...         writer.write(batch)
        >>> writer.rows, pl.read_parquet(path).height
        (3, 3)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rows = 0
        self._tmp = self.path.with_name(temp_name(self.path.name))
        self._writer: Any = None

    def write(self, steps: pl.DataFrame) -> None:
        """Append a steps frame (checked against the steps schema)."""
        import pyarrow.parquet as pq

        table = schema.conform(steps, schema.STEPS, "steps").to_arrow(compat_level=pl.CompatLevel.oldest())
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows += steps.height

    def close(self) -> None:
        """Finish the file and put it in place (an empty steps file if nothing was written)."""
        if self._writer is None:
            self.write(schema.empty(schema.STEPS))
        self._writer.close()
        self._tmp.replace(self.path)

    def abort(self) -> None:
        """Drop what was written (the target is left as it was)."""
        if self._writer is not None:
            with suppress(Exception):
                self._writer.close()
        with suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> StepsWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
