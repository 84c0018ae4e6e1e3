"""Terminal output of the command line tool: tables (rich) and progress on stderr."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["err_console", "frame_table", "mapping_table", "out_console", "percent_progress", "stages"]


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


@contextmanager
def stages(console: Console, seconds: dict[str, float] | None = None) -> Iterator[Callable[[str], Any]]:
    """Progress for a sequence of named stages: ``with stages(c) as stage: with stage("reading"): ...``.

    A spinner and the elapsed time show while a stage runs (on a terminal only); the
    wall time of each stage is recorded in ``seconds`` when given.
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
    def stage(name: str) -> Iterator[None]:
        task = progress.add_task(name, total=None)
        start = time.perf_counter()
        try:
            yield
        finally:
            progress.remove_task(task)
            if seconds is not None:
                seconds[name] = round(time.perf_counter() - start, 4)

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
