"""Terminal output of the command line tool: tables (rich) and progress on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click
import polars as pl
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

__all__ = ["Stage", "err_console", "frame_table", "mapping_table", "out_console", "percent_progress", "stages"]


def out_console() -> Console:
    """Results: stdout (no colour codes when it is not a terminal)."""
    return Console(soft_wrap=False)


def err_console() -> Console:
    """Progress and notes: stderr, so stdout stays clean for scripts."""
    return Console(stderr=True)


def _cell(value: Any, max_chars: int) -> str:
    if value is None:
        return "∅"
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def frame_table(frame: pl.DataFrame, *, title: str | None = None, max_rows: int = 50, max_chars: int = 60) -> Table:
    """A rich table of the first ``max_rows`` rows; long texts cut to ``max_chars``."""
    table = Table(title=title, title_justify="left")
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left", overflow="fold")
    for row in frame.head(max_rows).iter_rows():
        table.add_row(*(_cell(v, max_chars) for v in row))
    if frame.height > max_rows:
        table.caption = f"{max_rows} of {frame.height} rows shown"
    elif frame.height == 0:
        table.caption = "no rows"
    return table


def mapping_table(values: Mapping[str, Any], *, title: str, key: str = "what", value: str = "value") -> Table:
    """A two-column table of ``values``."""
    table = Table(title=title, title_justify="left")
    table.add_column(key)
    table.add_column(value, justify="right")
    for k, v in values.items():
        table.add_row(k, _cell(v, 200))
    return table


def quiet() -> bool:
    """Whether ``dpo-frames --quiet`` asked for no progress (errors and results still show)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("quiet"))


class Stage:
    """One running stage: :meth:`note` what it counted (shown live on a terminal, logged otherwise)."""

    def __init__(self, progress: Progress, task: TaskID, name: str) -> None:
        self._progress, self._task, self.name = progress, task, name
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._progress.update(self._task, description=f"{self.name}: {text}")


@contextmanager
def stages(console: Console, seconds: dict[str, float] | None = None) -> Iterator[Callable[[str], Any]]:
    """Progress for a sequence of named stages: ``with stages(c) as stage: with stage("reading") as s: ...``.

    On a terminal a spinner shows the running stage, what it counted so far (``s.note("286
    steps")``) and the elapsed time. Anywhere else (a CI log, nohup) each stage ends with one
    line on the console, ``dpo-frames: reading: 286 steps (0.12 s)``, so a long run is never
    silent. The wall time of each stage is recorded in ``seconds`` when given.
    """
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )

    @contextmanager
    def stage(name: str) -> Iterator[Stage]:
        current = Stage(progress, progress.add_task(name, total=None), name)
        start = time.perf_counter()
        try:
            yield current
        finally:
            progress.remove_task(current._task)
        elapsed = time.perf_counter() - start  # from here on, only a stage that finished: it is logged
        if seconds is not None:
            seconds[name] = round(elapsed, 4)
        if not console.is_terminal and not quiet():
            counted = f": {'; '.join(current.notes)}" if current.notes else ""
            console.print(
                f"dpo-frames: {name}{counted} ({elapsed:.2f} s)", highlight=False, markup=False, soft_wrap=True
            )

    with progress:
        yield stage


def percent_progress(console: Console) -> Progress:
    """A 0-100 % progress bar (use as a context manager; ``add_task(description, total=100)``)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
