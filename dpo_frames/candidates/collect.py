"""One source file -> its candidates, rejects and the count of its steps, whatever the file holds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from dpo_frames import schema
from dpo_frames.candidates.extract import extract_candidates
from dpo_frames.candidates.rules import DEFAULT_STEP_NAME
from dpo_frames.candidates.summary import summarize_steps
from dpo_frames.steps import read_steps
from dpo_frames.steps.sources import SourceKind, source_kind

__all__ = ["Collected", "collect_candidates"]


@dataclass
class Collected:
    """What :func:`collect_candidates` read from one source."""

    source: Path
    kind: SourceKind
    candidates: pl.DataFrame
    rejects: pl.DataFrame
    steps: int | None = None
    """Steps read (None when the source held candidates, not steps)."""
    summary: pl.DataFrame = field(default_factory=lambda: summarize_steps(schema.empty(schema.STEPS)))
    """Steps by event type and name (:func:`~dpo_frames.summarize_steps`); empty for a candidates file."""
    steps_frame: pl.DataFrame | None = None
    """The steps, when asked for (``keep_steps``)."""


def collect_candidates(
    source: str | os.PathLike[str],
    step_name: str = DEFAULT_STEP_NAME,
    *,
    run_id: str | None = None,
    keep_steps: bool = False,
) -> Collected:
    """Read one file of any :class:`~dpo_frames.steps.SourceKind` into candidates and rejects.

    A steps file (workflow_output.json, eval items, JSONL or Parquet of steps) goes through
    :func:`~dpo_frames.extract_candidates`; a candidates Parquet file is taken as it is
    (re-pairing without the workflow). ``run_id`` fills the run id where the source has none.

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
    steps = read_steps(path, run_id=run_id)
    candidates, rejects = extract_candidates(steps, step_name)
    return Collected(
        path,
        kind,
        candidates,
        rejects,
        steps=steps.height,
        summary=summarize_steps(steps, step_name),
        steps_frame=steps if keep_steps else None,
    )
