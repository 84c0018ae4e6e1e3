"""The SOURCE arguments of ``dpo-frames pairs``: files of any kind, globs, directories dpo_frames wrote.

Each source is read on its own (:func:`~dpo_frames.candidates.collect_candidates` for a file,
the candidates frame for a directory) and the results are put together with their run ids:
several sources are one dataset of several runs.
"""

from __future__ import annotations

import glob
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from dpo_frames import schema
from dpo_frames.candidates import Collected, collect_candidates
from dpo_frames.cli.console import Stage
from dpo_frames.cli.errors import EXIT_BAD_INPUT, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS
from dpo_frames.errors import ConfigError, RunDirError, SourceError
from dpo_frames.rundir import open_dir
from dpo_frames.steps import SourceKind, StepsWriter, source_kind

__all__ = ["Gathered", "expand", "gather"]

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
class Gathered:
    """Every source's candidates and rejects, put together."""

    parts: list[Collected]
    candidates: pl.DataFrame
    rejects: pl.DataFrame
    steps: Path | None
    """The steps Parquet file the steps of the step files were written to, as they were read (None
    when every source held candidates)."""
    steps_files: list[str]
    """Steps frames of source run directories, referenced rather than copied."""

    @property
    def steps_count(self) -> int | None:
        counts = [p.steps for p in self.parts if p.steps is not None]
        return sum(counts) if counts else None

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


def _collect_dir(path: Path, run_id: str) -> tuple[Collected, list[str]]:
    """A directory dpo_frames wrote: its candidates (and rejects) are re-paired, its steps referenced."""
    try:
        run = open_dir(path)
    except RunDirError as exc:
        raise SourceError(
            f"{path} is a directory but {exc}; give the files in it instead (e.g. {path}/*.jsonl)"
        ) from None
    candidates = run.frame("candidates")
    if candidates is None:
        raise SourceError(
            f"{path} holds no candidates (its frames: {', '.join(run.record.frames) or 'none'}): "
            "re-pairing needs the candidates of a `dpo-frames pairs` run or a NAT collection run"
        )
    frame = candidates.collect().with_columns(pl.col("run_id").fill_null(run_id))
    rejects = run.frame("rejects")
    collected = Collected(
        path,
        SourceKind.CANDIDATES_PARQUET,
        frame,
        rejects.collect() if rejects is not None else schema.empty(schema.REJECTS),
        steps=run.record.steps,
    )
    if run.record.steps_by_type:
        collected.summary = pl.DataFrame(run.record.steps_by_type)
    return collected, [str(f.resolve()) for f in run.files("steps")]


def where_rejected(rejects: pl.DataFrame, run_id: str, *, lines: bool = False, shown: int = 3) -> str:
    """`` (unparsable step: line 2, line 5; missing score: u7 and 3 more)``: each reason with the
    first rejects it names (their step UUID, else their place; in a JSONL file a step out of any
    item is its line), so they can be found in the file."""
    if rejects.height == 0:
        return ""
    source = pl.col("source").str.strip_prefix(f"run {run_id} ")
    if lines:
        source = source.str.replace(r"^step (\d+)$", "line $1")
    by_reason = rejects.group_by("reason", maintain_order=True).agg(pl.len().alias("n"), source.head(shown)).rows()
    named = [
        f"{reason}: {', '.join(str(s) for s in sources)}"
        + (f" and {n - len(sources):,} more" if n > len(sources) else "")
        for reason, n, sources in by_reason
    ]
    return f" ({'; '.join(named)})"


def gather(paths: list[Path], step_name: str, run_ids: list[str], stage: Stage, steps_to: Path) -> Gathered:
    """Read every source (in order), noting what each held on ``stage``; the steps of the step files
    go to one Parquet file, ``steps_to``, as they are read (it is written only if one source is a
    step file)."""
    parts: list[Collected] = []
    steps_files: list[str] = []
    with ExitStack() as stack:
        writer: StepsWriter | None = None
        for path, run_id in zip(paths, run_ids, strict=True):
            with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"cannot read steps from {path}: "):
                if path.is_dir():
                    collected, referenced = _collect_dir(path, run_id)
                    steps_files += referenced
                else:
                    if writer is None and source_kind(path) is not SourceKind.CANDIDATES_PARQUET:
                        writer = stack.enter_context(StepsWriter(steps_to))
                    collected = collect_candidates(path, step_name, run_id=run_id, steps_to=writer)
            _note(stage, collected, path, run_id)
            parts.append(collected)
    candidates = pl.concat([p.candidates for p in parts], how="vertical_relaxed")
    rejects = pl.concat([p.rejects for p in parts], how="vertical_relaxed")
    return Gathered(
        parts,
        schema.conform(candidates, schema.CANDIDATES, "candidates"),
        schema.conform(rejects, schema.REJECTS, "rejects"),
        steps_to if writer is not None else None,
        steps_files,
    )


def _note(stage: Stage, collected: Collected, path: Path, run_id: str) -> None:
    held = f"{collected.steps:,} steps, " if collected.steps is not None else ""
    stage.note(
        f"{path.name}: {held}{collected.candidates.height:,} candidates, {collected.rejects.height:,} rejects"
        + where_rejected(collected.rejects, run_id, lines=path.suffix.lower() == ".jsonl")
    )
