"""Steps frames, batch after batch, into one Parquet file (a file of any size, read in batches, kept for SQL)."""

from __future__ import annotations

import os

from dpo_frames import schema
from dpo_frames._parquet import FrameWriter

__all__ = ["StepsWriter"]


class StepsWriter(FrameWriter):
    """Write steps frames to one Parquet file as they come (:class:`~dpo_frames._parquet.FrameWriter`
    of the steps schema): in place when closed, removed if the block writing it fails.

    Example:
        >>> import tempfile, pathlib, polars as pl
        >>> from dpo_frames.steps import iter_steps
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "steps.parquet"
        >>> with StepsWriter(path) as writer:
        ...     for batch in iter_steps([{"payload": {"event_type": "LLM_END"}}] * 3, batch_size=2):
        ...         writer.write(batch)
        >>> writer.rows, pl.read_parquet(path).height
        (3, 3)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path, schema.STEPS, "steps")
