"""SQL over dpo_frames frames with DuckDB: views ``steps``, ``candidates``, ``rejects``, ``pairs``, ``dataset``.

Two kinds of input, mixed freely:

- in-memory frames (Polars ``DataFrame``/``LazyFrame`` or a PyArrow table), registered
  through Arrow without copying the data;
- directories dpo_frames wrote (a run, a dataset export, a scaled build; see
  :func:`dpo_frames.open_dir`): each frame's files become a view over ``read_parquet(...)``,
  so DuckDB scans the files when a query runs and never loads them whole. Several
  directories give one view per frame over all of their files (columns matched by name).

A frame that is in neither has no view; :func:`query` names the views that exist when a
query asks for a missing one.

Example:
    >>> import polars as pl
    >>> from dpo_frames import sql
    >>> pairs = pl.DataFrame({"run_id": ["r1", "r1", "r2"], "score_diff": [0.5, 0.25, 1.0]})
    >>> sql.query("SELECT run_id, count(*) AS pairs FROM pairs GROUP BY run_id ORDER BY run_id",
    ...           pairs=pairs).rows()
    [('r1', 2), ('r2', 1)]
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import polars as pl
import pyarrow as pa

from dpo_frames import schema
from dpo_frames.errors import RunDirError, SqlError
from dpo_frames.rundir import RunDir, open_dir

if TYPE_CHECKING:
    import duckdb

__all__ = ["EXAMPLES", "FRAME_NAMES", "Example", "SqlError", "connect", "describe", "query", "views"]

FRAME_NAMES: tuple[str, ...] = tuple(schema.FRAMES)
"""The view names, in pipeline order: steps, candidates, rejects, pairs, dataset."""

RunDirs: TypeAlias = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
Frame: TypeAlias = pl.DataFrame | pl.LazyFrame | pa.Table


def _run_dirs(run_dir: RunDirs | None) -> list[RunDir]:
    if run_dir is None:
        return []
    dirs = [Path(run_dir)] if isinstance(run_dir, (str, os.PathLike)) else [Path(d) for d in run_dir]
    try:
        return [open_dir(d) for d in dirs]
    except RunDirError as exc:
        raise SqlError(str(exc)) from None


def _literal(text: str) -> str:
    """A SQL string literal (views cannot take bound parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _arrow(name: str, frame: Frame) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if not schema.is_frame(frame):
        raise SqlError(
            f"frame {name!r} is a {type(frame).__name__}; expected a Polars DataFrame/LazyFrame, a pandas "
            "DataFrame or a pyarrow Table"
        )
    return schema.collect_frame(frame, name).to_arrow()


def connect(run_dir: RunDirs | None = None, **frames: Frame) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory) with a view for each frame found.

    ``run_dir``: a directory dpo_frames wrote, or several; each frame present in at
    least one gets a view over ``read_parquet`` of all of their files.
    ``frames``: in-memory frames by view name (``steps=..., pairs=...``); they take the
    place of files of the same name. Close the connection when done (it is a context
    manager).

    Raises :class:`~dpo_frames.errors.SqlError` for an unknown frame name or a directory that is
    not one dpo_frames wrote.
    """
    unknown = sorted(set(frames) - set(FRAME_NAMES))
    if unknown:
        raise SqlError(f"unknown frame name(s) {unknown}; expected some of {list(FRAME_NAMES)}")
    import duckdb  # imported when used: ``import dpo_frames`` stays light

    dirs = _run_dirs(run_dir)
    con = duckdb.connect()
    try:
        for name in FRAME_NAMES:
            if name in frames:
                con.register(name, _arrow(name, frames[name]))
                continue
            files = [str(f) for d in dirs for f in d.files(name)]
            if files:
                listed = ", ".join(_literal(f) for f in files)
                con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}], union_by_name = true)')
    except Exception:
        con.close()
        raise
    return con


def views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The frame views a connection made by :func:`connect` has, in pipeline order."""
    names = {row[0] for row in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    names |= {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    # Arrow tables registered with con.register() are listed among the views by information_schema.
    names |= {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    return [n for n in FRAME_NAMES if n in names]


_MISSING = re.compile(r"Table with name (\S+) does not exist", re.IGNORECASE)


def query(
    sql: str, run_dir: RunDirs | None = None, *, con: duckdb.DuckDBPyConnection | None = None, **frames: Frame
) -> pl.DataFrame:
    """Run one SQL query over the frame views and return the result as a Polars frame.

    Uses ``con`` when given (a connection from :func:`connect`), else a connection made
    from ``run_dir`` and ``frames`` for this query. ``sql`` may also be the name of one of
    :data:`EXAMPLES`.

    Raises :class:`SqlError` with DuckDB's message; when the query names a view that does
    not exist, the message lists those that do.
    """
    import duckdb

    text = EXAMPLES[sql].sql if sql in EXAMPLES else sql
    own = con is None
    connection = connect(run_dir, **frames) if con is None else con
    try:
        relation = connection.sql(text)
        return relation.pl() if relation is not None else pl.DataFrame()
    except duckdb.CatalogException as exc:
        raise SqlError(_catalog_message(exc, connection)) from None
    except duckdb.Error as exc:
        raise SqlError(f"query failed: {_first_line(exc)}") from None
    finally:
        if own:
            connection.close()


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split("\n")[0].split())


def _catalog_message(exc: Exception, con: duckdb.DuckDBPyConnection) -> str:
    available = views(con)
    found = _MISSING.search(str(exc))
    have = ", ".join(available) if available else "none"
    if found:
        return f"no view {found.group(1)!r} here; available views: {have}"
    return f"query failed: {_first_line(exc)} (available views: {have})"


@dataclass(frozen=True)
class Example:
    """A documented example query: what it answers, the views it reads, the SQL."""

    name: str
    description: str
    needs: tuple[str, ...]
    sql: str


def _examples(*examples: Example) -> Mapping[str, Example]:
    return {e.name: e for e in examples}


EXAMPLES: Mapping[str, Example] = _examples(
    Example(
        "pairs_per_turn",
        "Per turn index: turns with candidates, turns that gave at least one pair, pairs, and pairs per turn.",
        ("candidates", "pairs"),
        """
WITH turns AS (
    SELECT DISTINCT run_id, example_id, turn_id, turn_index FROM candidates
),
per_turn AS (
    SELECT run_id, example_id, turn_id, count(*) AS pairs FROM pairs GROUP BY ALL
)
SELECT t.turn_index,
       count(*) AS turns,
       count(p.pairs) AS turns_with_pairs,
       coalesce(sum(p.pairs), 0)::BIGINT AS pairs,
       round(coalesce(sum(p.pairs), 0) / count(*), 3) AS pairs_per_turn
FROM turns t LEFT JOIN per_turn p USING (run_id, example_id, turn_id)
GROUP BY t.turn_index ORDER BY t.turn_index NULLS LAST
""".strip(),
    ),
    Example(
        "margin_histogram",
        "Pairs by score margin (score_diff) in buckets of 0.1: [bucket_start, bucket_end).",
        ("pairs",),
        """
WITH b AS (SELECT floor(round(score_diff, 9) * 10)::BIGINT AS bucket FROM pairs)
SELECT round(bucket / 10, 1) AS bucket_start, round((bucket + 1) / 10, 1) AS bucket_end, count(*) AS pairs
FROM b GROUP BY bucket ORDER BY bucket
""".strip(),
    ),
    Example(
        "top_prompts",
        "The 10 prompt texts with the most pairs (a prompt that dominates the data set), with examples and "
        "mean margin.",
        ("pairs",),
        """
SELECT prompt_text, count(*) AS pairs, count(DISTINCT example_id) AS examples,
       round(avg(score_diff), 4) AS mean_score_diff
FROM pairs GROUP BY prompt_text ORDER BY pairs DESC, prompt_text LIMIT 10
""".strip(),
    ),
    Example(
        "duplicate_pairs",
        "The same (prompt text, chosen, rejected) in more than one run: what dataset deduplication removes "
        "across runs.",
        ("pairs",),
        """
SELECT prompt_text, chosen_response, rejected_response,
       count(DISTINCT run_id) AS runs, count(*) AS copies, list(DISTINCT run_id ORDER BY run_id) AS run_ids
FROM pairs GROUP BY prompt_text, chosen_response, rejected_response
HAVING count(DISTINCT run_id) > 1
ORDER BY copies DESC, prompt_text, chosen_response, rejected_response
""".strip(),
    ),
    Example(
        "rejects_by_reason",
        "Rejected candidate steps by reason, with one source (step UUID or position) of each as an example.",
        ("rejects",),
        """
SELECT reason, count(*) AS rejects, min(source) AS example_source
FROM rejects GROUP BY reason ORDER BY rejects DESC, reason
""".strip(),
    ),
)
"""Example queries by name (``sql.query("pairs_per_turn", run_dir)``; ``dpo-frames sql RUN_DIR pairs_per_turn``)."""


def describe(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Rows per view of a connection (for a quick look)."""
    return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name in views(con)}
