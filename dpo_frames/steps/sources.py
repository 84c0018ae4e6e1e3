"""What a file holds, told by its content, not its name.

NAT runs reach dpo_frames as files of several shapes; :func:`source_kind` looks inside a file
(the first line of a JSONL file, the top of a JSON document, the columns of a Parquet file)
and names its :class:`SourceKind`, so every command takes every artefact it can use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

from dpo_frames.errors import SourceError

__all__ = ["SourceKind", "eval_items_of", "source_kind"]


class SourceKind(StrEnum):
    """The kinds of file dpo_frames reads."""

    WORKFLOW_OUTPUT = "workflow_output"
    """NAT's ``workflow_output.json``: a list of ``{id, ..., intermediate_steps}``."""
    EVAL_ITEMS = "eval_items"
    """Serialized NAT eval items ``{id, ..., trajectory}``: a JSONL file of them, or a JSON list,
    an ``EvalInput`` (``{eval_input_items}``) or an ``EvaluationRunOutput`` (``{eval_input: ...}``)."""
    STEPS_JSONL = "steps_jsonl"
    """One serialized ``IntermediateStep`` a line (each may carry ``example_id`` and ``run_id``)."""
    STEPS_JSON = "steps_json"
    """A JSON list of serialized steps."""
    STEPS_PARQUET = "steps_parquet"
    """The steps frame, as ``dpo-frames pairs`` writes it."""
    CANDIDATES_PARQUET = "candidates_parquet"
    """The candidates frame (collect once, pair many)."""


def _first_json_line(path: Path) -> Any:
    with path.open("rb") as f:
        for raw in f:
            line = raw.decode("utf-8-sig", errors="replace").strip()
            if line:
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    return None
    return None


def _kind_of_json(document: Any, path: Path) -> SourceKind:
    if isinstance(document, Mapping) and ("eval_input" in document or "eval_input_items" in document):
        return SourceKind.EVAL_ITEMS
    if not isinstance(document, list):
        raise SourceError(
            f"{path} is not a NAT output: expected a JSON list of items (workflow_output.json), "
            "of eval items, or of steps"
        )
    first = next((item for item in document if isinstance(item, Mapping)), None)
    if first is None:
        return SourceKind.WORKFLOW_OUTPUT  # an empty list: nothing in it either way
    if "trajectory" in first:
        return SourceKind.EVAL_ITEMS
    if "payload" in first:
        return SourceKind.STEPS_JSON
    return SourceKind.WORKFLOW_OUTPUT


def source_kind(path: str | os.PathLike[str]) -> SourceKind:
    """The :class:`SourceKind` of a file, from its content (its suffix only picks the parser).

    Example:
        >>> source_kind("examples/tictactoe/data/workflow_output.json")
        <SourceKind.WORKFLOW_OUTPUT: 'workflow_output'>
    """
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"steps source {p} does not exist or is not a file")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        try:
            columns = set(pl.read_parquet_schema(p))
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise SourceError(f"{p} is not a readable Parquet file: {exc}") from None
        if {"candidate_index", "score", "response", "turn_id"} <= columns:
            return SourceKind.CANDIDATES_PARQUET
        return SourceKind.STEPS_PARQUET
    if suffix == ".jsonl":
        first = _first_json_line(p)
        return SourceKind.EVAL_ITEMS if isinstance(first, Mapping) and "trajectory" in first else SourceKind.STEPS_JSONL
    if suffix == ".json":
        return _kind_of_json(_load_json(p), p)
    raise SourceError(f"unknown steps file type {suffix!r} for {p}: expected .json, .jsonl or .parquet")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


def eval_items_of(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """(line or position, item) of a file of serialized eval items (see :attr:`SourceKind.EVAL_ITEMS`).

    A JSONL line that is not JSON, or not an object, comes as its text, to be rejected visibly.
    """
    p = Path(path)
    if p.suffix.lower() == ".jsonl":
        with p.open("rb") as f:
            for line_no, raw in enumerate(f, start=1):
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8", errors="replace").strip()
                if not text:
                    continue
                try:
                    yield line_no, json.loads(text)
                except json.JSONDecodeError:
                    yield line_no, text
        return
    document = _load_json(p)
    if isinstance(document, Mapping):
        document = (document.get("eval_input") or document).get("eval_input_items", [])
    yield from enumerate(document)
