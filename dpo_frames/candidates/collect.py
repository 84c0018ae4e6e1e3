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
from dpo_frames._parquet import FrameWriter
from dpo_frames._threads import prefetched
from dpo_frames.candidates.echo import strip_echoes
from dpo_frames.candidates.extract import warn_echoes
from dpo_frames.candidates.rules import DEFAULT_STEP_NAME
from dpo_frames.candidates.sql import SeenSteps, candidates_from_frame
from dpo_frames.candidates.summary import summary_of_counts
from dpo_frames.steps import DEFAULT_BATCH_SIZE, StepsWriter, iter_steps
from dpo_frames.steps.sources import SourceKind, source_kind

__all__ = ["Collected", "Extracted", "collect_candidates", "extract_batches", "merge_tallies", "tally_rejects"]


def no_steps() -> pl.DataFrame:
    """The step summary of a source without steps."""
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
    summary: pl.DataFrame = field(default_factory=no_steps)
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
    strip_echoed_output: bool = True,
) -> Collected:
    """Read one file of any :class:`~dpo_frames.steps.SourceKind` into candidates and rejects.

    A steps file (workflow_output.json, eval items, JSONL or Parquet of steps) is read
    ``batch_size`` steps at a time, each batch through the rules of
    :func:`~dpo_frames.extract_candidates` (same candidates, same rejects, same order as on the
    whole file); a candidates Parquet file is taken as it is (re-pairing without the workflow).
    ``run_id`` fills the run id where the source has none. The steps are kept in memory with
    ``keep_steps``, or written as they are read to ``steps_to`` (a Parquet path, or a
    :class:`~dpo_frames.steps.StepsWriter` several sources share). ``strip_echoed_output``: as
    :func:`~dpo_frames.extract_candidates`'.

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

        # The next batch is parsed (and its steps written) while the last one's candidates are extracted.
        batches = prefetched(tee(iter_steps(path, run_id=run_id, batch_size=batch_size)))
        extracted = extract_batches(batches, step_name, strip_echoed_output=strip_echoed_output)
    assert extracted.candidates is not None and extracted.rejects is not None  # kept: no writer given
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

    candidates: pl.DataFrame | None
    """None when they were written to ``candidates_to`` instead."""
    rejects: pl.DataFrame | None
    """None when they were written to ``rejects_to`` instead."""
    steps: int
    summary: pl.DataFrame
    candidate_count: int
    reject_count: int
    run_ids: set[str]
    """The run ids of the candidates."""
    reject_tally: pl.DataFrame
    """The rejects by reason (in order of first reject): ``reason``, ``n``, ``sources`` (the first few)."""


def tally_rejects(rejects: pl.DataFrame, shown: int = 3) -> pl.DataFrame:
    """The rejects by reason, in order of first reject: how many (``n``) and the ``sources`` of the first ``shown``.
    Tallies of consecutive parts of a rejects frame put together (:func:`merge_tallies`) are the whole's tally."""
    return rejects.group_by("reason", maintain_order=True).agg(n=pl.len(), sources=pl.col("source").head(shown))


def merge_tallies(tallies: list[pl.DataFrame], shown: int = 3) -> pl.DataFrame:
    """The tally of consecutive rejects frames from theirs (see :func:`tally_rejects`)."""
    if not tallies:
        return tally_rejects(schema.empty(schema.REJECTS), shown)
    merged = pl.concat(tallies)
    return merged.group_by("reason", maintain_order=True).agg(
        pl.col("n").sum(), pl.col("sources").explode().head(shown)
    )


def extract_batches(
    batches: Iterable[pl.DataFrame],
    step_name: str = DEFAULT_STEP_NAME,
    *,
    candidates_to: FrameWriter | None = None,
    rejects_to: FrameWriter | None = None,
    strip_echoed_output: bool = True,
) -> Extracted:
    """:func:`~dpo_frames.extract_candidates` over steps frames that are the batches of one source:
    the duplicate rule holds across batches, echoed answers are stripped (one warning for all) and
    the rejects come in the order of the whole frame's (the steps' rejects, then the prompts that
    were nothing but an echo); the steps are counted by event type and name as they go. Candidates
    and rejects go to their writer as they are found when one is given (memory then holds one batch),
    else they are kept."""
    import duckdb

    earlier = SeenSteps()
    kept: list[pl.DataFrame] = []
    step_rejects: list[pl.DataFrame] = []
    echo_rejects: list[pl.DataFrame] = []
    counts: list[pl.DataFrame] = []
    run_ids: set[str] = set()
    echoes = read = found_count = 0
    with duckdb.connect() as con:
        for batch in batches:
            read += batch.height
            counts.append(batch.group_by("event_type", "name").agg(steps=pl.len()))
            found, rejected = candidates_from_frame(batch, step_name, earlier=earlier, con=con)
            if strip_echoed_output:
                stripped, more, echoed = strip_echoes(found)
            else:
                stripped, more, echoed = found, schema.empty(schema.REJECTS), 0
            echoes += echoed
            found_count += stripped.height
            run_ids.update(stripped["run_id"].unique().drop_nulls().to_list())
            if candidates_to is not None:
                candidates_to.write(stripped)
            else:
                kept.append(stripped)
            step_rejects.append(rejected if rejects_to is None else tally_rejects(rejected))
            if rejects_to is not None:
                rejects_to.write(rejected)
            echo_rejects.append(more)
    more_all = pl.concat(echo_rejects) if echo_rejects else schema.empty(schema.REJECTS)
    warn_echoes(echoes, found_count + more_all.height, more_all.height)
    if rejects_to is not None:
        rejects_to.write(more_all)
        rejects, tally = None, merge_tallies([*step_rejects, tally_rejects(more_all)])
    else:
        rejects = pl.concat([*step_rejects, more_all])
        tally = tally_rejects(rejects)
    steps_by_type = (
        pl.concat(counts).group_by("event_type", "name").agg(pl.col("steps").sum()) if counts else no_steps()
    )
    return Extracted(
        candidates=None
        if candidates_to is not None
        else (pl.concat(kept) if kept else schema.empty(schema.CANDIDATES)),
        rejects=rejects,
        steps=read,
        summary=summary_of_counts(steps_by_type, step_name),
        candidate_count=found_count,
        reject_count=int(tally["n"].sum()),
        run_ids=run_ids,
        reject_tally=tally,
    )
