"""One source file -> its candidates, rejects and the count of its steps, whatever the file holds.

A steps file is read in batches (:func:`~dpo_frames.steps.iter_steps`): each batch becomes its
candidates and rejects and, when asked, goes on to a steps Parquet file, so the steps of a file
of any size are never held whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dpo_frames import schema
from dpo_frames.candidates.echo import strip_echoes
from dpo_frames.candidates.extract import warn_echoes
from dpo_frames.candidates.rules import DEFAULT_STEP_NAME
from dpo_frames.candidates.sql import SeenSteps, candidates_from_frame
from dpo_frames.candidates.summary import summary_of_counts
from dpo_frames.steps import DEFAULT_BATCH_SIZE, StepsWriter, iter_steps
from dpo_frames.steps.sources import SourceKind, source_kind

__all__ = ["Collected", "collect_candidates", "extract_batches"]


def _no_steps() -> pl.DataFrame:
    return summary_of_counts(pl.DataFrame(schema={"event_type": pl.String, "name": pl.String, "steps": pl.UInt32}), "")


@dataclass
class Collected:
    """What :func:`collect_candidates` read from one source."""

    source: Path
    kind: SourceKind
    candidates: pl.DataFrame
    rejects: pl.DataFrame
    steps: int | None = None
    """Steps read (None when the source held candidates, not steps)."""
    summary: pl.DataFrame = field(default_factory=_no_steps)
    """Steps by event type and name (:func:`~dpo_frames.summarize_steps`); empty for a candidates file."""
    steps_frame: pl.DataFrame | None = None
    """The steps, when asked for (``keep_steps``)."""


def collect_candidates(
    source: str | os.PathLike[str],
    step_name: str = DEFAULT_STEP_NAME,
    *,
    run_id: str | None = None,
    keep_steps: bool = False,
    steps_to: str | os.PathLike[str] | StepsWriter | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Collected:
    """Read one file of any :class:`~dpo_frames.steps.SourceKind` into candidates and rejects.

    A steps file (workflow_output.json, eval items, JSONL or Parquet of steps) is read
    ``batch_size`` steps at a time, each batch through the rules of
    :func:`~dpo_frames.extract_candidates` (same candidates, same rejects, same order as on the
    whole file); a candidates Parquet file is taken as it is (re-pairing without the workflow).
    ``run_id`` fills the run id where the source has none. The steps are kept in memory with
    ``keep_steps``, or written as they are read to ``steps_to`` (a Parquet path, or a
    :class:`~dpo_frames.steps.StepsWriter` several sources share).

    Example:
        >>> got = collect_candidates("examples/tictactoe/data/workflow_output.json", run_id="r1")
        >>> got.kind.value, got.steps, got.candidates.height, got.rejects.height
        ('workflow_output', 119, 119, 0)
    """
    path = Path(source)
    kind = source_kind(path)
    if kind is SourceKind.CANDIDATES_PARQUET:
        frame = pl.read_parquet(path)
        if run_id is not None:
            frame = frame.with_columns(pl.col("run_id").fill_null(run_id))
        candidates = schema.conform(frame, schema.CANDIDATES, f"candidates ({path})")
        return Collected(path, kind, candidates, schema.empty(schema.REJECTS))
    kept: list[pl.DataFrame] = []
    sink: AbstractContextManager[StepsWriter | None] = (
        nullcontext(steps_to) if steps_to is None or isinstance(steps_to, StepsWriter) else StepsWriter(steps_to)
    )
    with sink as writer:

        def tee(batches: Iterable[pl.DataFrame]) -> Iterable[pl.DataFrame]:
            for batch in batches:
                if writer is not None:
                    writer.write(batch)
                if keep_steps:
                    kept.append(batch)
                yield batch

        extracted = extract_batches(tee(iter_steps(path, run_id=run_id, batch_size=batch_size)), step_name)
    return Collected(
        path,
        kind,
        extracted.candidates,
        extracted.rejects,
        steps=extracted.steps,
        summary=extracted.summary,
        steps_frame=(kept[0] if len(kept) == 1 else pl.concat(kept)) if keep_steps else None,
    )


@dataclass
class Extracted:
    """The candidates, rejects and step counts of batches of steps (:func:`extract_batches`)."""

    candidates: pl.DataFrame
    rejects: pl.DataFrame
    steps: int
    summary: pl.DataFrame


def extract_batches(batches: Iterable[pl.DataFrame], step_name: str = DEFAULT_STEP_NAME) -> Extracted:
    """:func:`~dpo_frames.extract_candidates` over steps frames that are the batches of one source:
    the duplicate rule holds across batches, echoed answers are stripped (one warning for all) and
    the rejects come in the order of the whole frame's (the steps' rejects, then the prompts that
    were nothing but an echo); the steps are counted by event type and name as they go."""
    import duckdb

    earlier = SeenSteps()
    candidates, rejects, echo_rejects, counts = [], [], [], []
    echoes = read = 0
    with duckdb.connect() as con:
        for batch in batches:
            read += batch.height
            counts.append(batch.group_by("event_type", "name").agg(steps=pl.len()))
            found, rejected = candidates_from_frame(batch, step_name, earlier=earlier, con=con)
            stripped, more, echoed = strip_echoes(found)
            echoes += echoed
            candidates.append(stripped)
            rejects.append(rejected)
            echo_rejects.append(more)
    found_all = pl.concat(candidates) if candidates else schema.empty(schema.CANDIDATES)
    more_all = pl.concat(echo_rejects) if echo_rejects else schema.empty(schema.REJECTS)
    warn_echoes(echoes, found_all.height + more_all.height, more_all.height)
    steps_by_type = (
        pl.concat(counts).group_by("event_type", "name").agg(pl.col("steps").sum()) if counts else _no_steps()
    )
    return Extracted(
        found_all,
        pl.concat([*rejects, more_all]) if rejects else more_all,
        read,
        summary_of_counts(steps_by_type, step_name),
    )
