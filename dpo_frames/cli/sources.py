"""The SOURCE arguments of ``dpo-frames pairs``: files of any kind, globs, directories dpo_frames wrote.

Each source is read on its own (a steps file in batches, a candidates file or directory copied
a slice at a time) straight into the run's candidates, rejects and steps files, with their run
ids: several sources are one dataset of several runs, and memory holds one batch whatever the
sources' size.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dpo_frames import layout, schema
from dpo_frames._parquet import FrameWriter
from dpo_frames._threads import prefetched
from dpo_frames.candidates.collect import extract_batches, merge_tallies, no_steps, tally_rejects
from dpo_frames.cli.console import Stage
from dpo_frames.cli.errors import EXIT_BAD_INPUT, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS
from dpo_frames.errors import ConfigError, RunDirError, SourceError
from dpo_frames.rundir import RunDir, open_dir
from dpo_frames.steps import SourceKind, StepsWriter, iter_steps, source_kind

__all__ = ["Gathered", "Source", "expand", "gather"]

_GLOB = frozenset("*?[")


def expand(arguments: tuple[str, ...]) -> list[Path]:
    """The source paths of the arguments: a glob is expanded (sorted), a path taken as it is."""
    paths: list[Path] = []
    for argument in arguments:
        if any(c in argument for c in _GLOB) and not Path(argument).exists():
            found = sorted(Path(p) for p in glob.glob(argument, recursive=True))
            if not found:
                raise SourceError(f"no file matches {argument!r}")
            paths += found
        else:
            paths.append(Path(argument))
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    if len(unique) < len(paths):
        raise ConfigError("a source is given twice (its candidates would be paired with themselves)")
    return paths


def default_run_ids(paths: list[Path], run_id: str | None, out: Path) -> list[str]:
    """The run id given to the steps of each source that carry none.

    One source: ``run_id``, else the name of the run directory written. Several: each its own,
    its path below their common parent without the suffix (``a/workflow_output``), so the turns
    of different files never meet; ``run_id`` cannot name them all.
    """
    if len(paths) == 1:
        return [run_id or out.resolve().name]
    if run_id is not None:
        raise ConfigError(
            "--run-id names the run of one source; with several, each source is a run of its own "
            "(named by its path) or keeps the run ids it carries"
        )
    resolved = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    return [str(p.relative_to(common).with_suffix("")) if p.is_file() else str(p.relative_to(common)) for p in resolved]


@dataclass
class Source:
    """What one source held; its candidates and rejects went to the run's files as they were read."""

    source: Path
    kind: SourceKind
    candidates: int
    rejects: int
    steps: int | None
    """Steps read (None when the source held candidates, not steps)."""
    summary: pl.DataFrame
    """Steps by event type and name (:func:`~dpo_frames.summarize_steps`)."""
    run_ids: set[str]
    """The run ids of its candidates."""
    reject_tally: pl.DataFrame
    """Its rejects by reason (:func:`~dpo_frames.candidates.collect.tally_rejects`)."""


@dataclass
class Gathered:
    """Every source's candidates and rejects, put together in the run's files."""

    parts: list[Source]
    candidates: Path
    """The candidates Parquet file, every source's in order."""
    rejects: Path
    """The rejects Parquet file."""
    steps: Path | None
    """The steps Parquet file the steps of the step files were written to, as they were read (None
    when every source held candidates)."""
    steps_files: list[str]
    """Steps frames of source run directories, referenced rather than copied."""

    @property
    def steps_count(self) -> int | None:
        counts = [p.steps for p in self.parts if p.steps is not None]
        return sum(counts) if counts else None

    @property
    def candidate_count(self) -> int:
        return sum(p.candidates for p in self.parts)

    @property
    def reject_count(self) -> int:
        return sum(p.rejects for p in self.parts)

    @property
    def run_ids(self) -> list[str]:
        """The run ids of the candidates, sorted."""
        return sorted(set().union(*(p.run_ids for p in self.parts)))

    def rejects_by_reason(self) -> dict[str, int]:
        """The rejects counted by reason, largest first."""
        tally = merge_tallies([p.reject_tally for p in self.parts])
        counts = tally.select("reason", "n").sort(["n", "reason"], descending=[True, False])
        return {reason: int(n) for reason, n in counts.iter_rows()}

    def summary(self) -> pl.DataFrame:
        """Steps by event type and name over every source."""
        frames = [p.summary for p in self.parts if p.summary.height]
        if not frames:
            return self.parts[0].summary.clear()
        merged = pl.concat(frames, how="vertical_relaxed")
        return (
            merged.group_by("event_type", "name", "candidate_step")
            .agg(pl.col("steps").sum())
            .sort("steps", "event_type", "name", descending=[True, False, False], nulls_last=True)
            .select(merged.columns)
        )


_COPY_ROWS = 250_000
"""Rows of a stored frame copied at a time."""


def _copy_frame(frame: pl.LazyFrame, writer: FrameWriter, run_id: str | None = None) -> tuple[int, set[str]]:
    """Copy a stored frame (candidates or rejects) into the run's file, a slice at a time; with
    ``run_id``, its null run ids filled. Returns the rows copied and their run ids."""
    if run_id is not None:
        frame = frame.with_columns(pl.col("run_id").fill_null(run_id))
    copied, run_ids, offset = 0, set(), 0
    while True:
        part = frame.slice(offset, _COPY_ROWS).collect()
        if part.height == 0 and offset:
            break
        writer.write(part)
        copied += part.height
        run_ids.update(part["run_id"].unique().drop_nulls().to_list())
        offset += _COPY_ROWS
        if part.height < _COPY_ROWS:
            break
    return copied, run_ids


def _open_run(path: Path) -> RunDir:
    try:
        return open_dir(path)
    except RunDirError as exc:
        raise SourceError(
            f"{path} is a directory but {exc}; give the files in it instead (e.g. {path}/*.jsonl)"
        ) from None


def _collect_dir(path: Path, run_id: str, writers: _Writers) -> tuple[Source, list[str]]:
    """A directory dpo_frames wrote: its candidates (and rejects) are re-paired, its steps referenced."""
    run = _open_run(path)
    candidates = run.frame("candidates")
    if candidates is None:
        raise SourceError(
            f"{path} holds no candidates (its frames: {', '.join(run.record.frames) or 'none'}): "
            "re-pairing needs the candidates of a `dpo-frames pairs` run or a NAT collection run"
        )
    count, run_ids = _copy_frame(candidates, writers.candidates, run_id)
    rejects = run.frame("rejects")
    reject_frame = rejects.collect() if rejects is not None else schema.empty(schema.REJECTS)
    writers.rejects.write(reject_frame)
    summary = pl.DataFrame(run.record.steps_by_type) if run.record.steps_by_type else no_steps()
    source = Source(
        path,
        SourceKind.CANDIDATES_PARQUET,
        count,
        reject_frame.height,
        run.record.steps,
        summary,
        run_ids,
        tally_rejects(reject_frame),
    )
    return source, [str(f.resolve()) for f in run.files("steps")]


def _collect_file(path: Path, step_name: str, run_id: str, writers: _Writers) -> Source:
    """A file of any kind: a candidates Parquet file copied, a steps file read in batches."""
    kind = source_kind(path)
    if kind is SourceKind.CANDIDATES_PARQUET:
        candidates = pl.scan_parquet(path)
        schema.conform(pl.DataFrame(schema=candidates.collect_schema()), schema.CANDIDATES, f"candidates ({path})")
        count, run_ids = _copy_frame(candidates, writers.candidates, run_id)
        empty = tally_rejects(schema.empty(schema.REJECTS))
        return Source(path, kind, count, 0, None, no_steps(), run_ids, empty)
    # The next batch is parsed (and its steps written) while the last one's candidates are extracted.
    batches = prefetched(writers.tee_steps(iter_steps(path, run_id=run_id)))
    got = extract_batches(batches, step_name, candidates_to=writers.candidates, rejects_to=writers.rejects)
    return Source(
        path, kind, got.candidate_count, got.reject_count, got.steps, got.summary, got.run_ids, got.reject_tally
    )


class _Writers:
    """The run's candidates, rejects and (once a step file comes) steps files, written as sources are read."""

    def __init__(self, stack: ExitStack, out_dir: Path) -> None:
        self._stack, self._out = stack, out_dir
        self.candidates = stack.enter_context(
            FrameWriter(out_dir / layout.frame_file("candidates"), schema.CANDIDATES, "candidates")
        )
        self.rejects = stack.enter_context(
            FrameWriter(out_dir / layout.frame_file("rejects"), schema.REJECTS, "rejects")
        )
        self.steps: StepsWriter | None = None

    def tee_steps(self, batches: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        """The batches, each written to the steps file on the way."""
        if self.steps is None:
            self.steps = self._stack.enter_context(StepsWriter(self._out / layout.frame_file("steps")))
        for batch in batches:
            self.steps.write(batch)
            yield batch


def where_rejected(tally: pl.DataFrame, run_id: str, *, lines: bool = False) -> str:
    """`` (unparsable step: line 2, line 5; missing score: u7 and 3 more)``: each reason with the
    first rejects it names (their step UUID, else their place; in a JSONL file a step out of any
    item is its line), so they can be found in the file. ``tally``: :func:`~dpo_frames.candidates.collect.tally_rejects`."""
    if tally.height == 0:
        return ""
    source = pl.col("sources").list.eval(pl.element().str.strip_prefix(f"run {run_id} "))
    if lines:
        source = source.list.eval(pl.element().str.replace(r"^step (\d+)$", "line $1"))
    named = [
        f"{reason}: {', '.join(str(s) for s in sources)}"
        + (f" and {n - len(sources):,} more" if n > len(sources) else "")
        for reason, n, sources in tally.select("reason", "n", source).rows()
    ]
    return f" ({'; '.join(named)})"


def gather(paths: list[Path], step_name: str, run_ids: list[str], stage: Stage, out_dir: Path) -> Gathered:
    """Read every source (in order) into the run's frames in ``out_dir`` (candidates, rejects and, if
    a source is a step file, steps), noting what each held on ``stage``."""
    parts: list[Source] = []
    steps_files: list[str] = []
    with ExitStack() as stack:
        writers = _Writers(stack, out_dir)
        for path, run_id in zip(paths, run_ids, strict=True):
            with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"cannot read steps from {path}: "):
                if path.is_dir():
                    source, referenced = _collect_dir(path, run_id, writers)
                    steps_files += referenced
                else:
                    source = _collect_file(path, step_name, run_id, writers)
            held = f"{source.steps:,} steps, " if source.steps is not None else ""
            stage.note(
                f"{path.name}: {held}{source.candidates:,} candidates, {source.rejects:,} rejects"
                + where_rejected(source.reject_tally, run_id, lines=path.suffix.lower() == ".jsonl")
            )
            parts.append(source)
        steps = writers.steps.path if writers.steps is not None else None
    return Gathered(parts, writers.candidates.path, writers.rejects.path, steps, steps_files)
