"""What a file holds, told by its content, not its name.

NAT runs reach dpo_frames as files of several shapes; :func:`source_kind` looks inside a file
(the first line of a JSONL file, the top of a JSON document, the columns of a Parquet file)
and names its :class:`SourceKind`, so every command takes every artefact it can use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import closing
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from dpo_frames._json import DIGITS_AS_ZERO, has_lone_surrogate
from dpo_frames.errors import SourceError
from dpo_frames.steps.stream import SURROGATE_ESCAPE, array_items, json_too_deep, starts_an_array

__all__ = [
    "NOT_JSON",
    "NO_FAST_VALUE",
    "SourceKind",
    "eval_items_of",
    "fast_json_value",
    "parse_json_text",
    "source_kind",
]

NOT_JSON: Any = object()
"""What :func:`parse_json_text` gives for a text that is not JSON dpo_frames reads."""


def parse_json_text(text: str) -> Any:
    """The JSON value of ``text``, or :data:`NOT_JSON` where it is not one dpo_frames reads:
    not JSON; an integer of more than 4300 digits or nesting deeper than the parser goes
    (which Python's reader refuses); a string holding half of a character (a lone surrogate
    escape such as ``"\\ud83d"``, what JavaScript writes when it cuts an emoji in two).

    Example:
        >>> parse_json_text('{"a": 1}'), parse_json_text('{"a": "\\\\ud83d"}') is NOT_JSON
        ({'a': 1}, True)
    """
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is the digit limit
        return NOT_JSON
    if SURROGATE_ESCAPE.search(text) and holds_half_characters(value):
        return NOT_JSON
    return value


NO_FAST_VALUE: Any = object()
"""What :func:`fast_json_value` gives where it cannot vouch for its value: read the text with
:func:`parse_json_text`."""

_LONG_DIGITS = b"0" * 19
"""Digits (as :data:`~dpo_frames._json.DIGITS_AS_ZERO` writes them) of an integer that may not fit 64 bits,
which orjson would read as a float (Python keeps it exact)."""


def fast_json_value(raw: bytes) -> Any:
    """The JSON value of UTF-8 ``raw`` (a JSONL line), read by orjson (about twice as fast as
    Python's reader), or :data:`NO_FAST_VALUE` where that value might not be what
    :func:`parse_json_text` gives: text orjson refuses (not JSON, not UTF-8, a byte order mark, NaN,
    a number beyond any double, half a character, nesting deeper than it goes) and any run of 19
    digits (an integer beyond 64 bits, which orjson reads as a float). Duplicate keys keep their
    last value, as in Python.

    Example:
        >>> fast_json_value(b'{"a": [1, 2.5]}\\n'), fast_json_value(b'{"a": NaN}') is NO_FAST_VALUE
        ({'a': [1, 2.5]}, True)
    """
    if _LONG_DIGITS in raw.translate(DIGITS_AS_ZERO):
        return NO_FAST_VALUE
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return NO_FAST_VALUE


def holds_half_characters(value: Any) -> bool:
    """Whether a parsed JSON value has a string (or key) holding a lone surrogate."""
    try:
        return has_lone_surrogate(json.dumps(value, ensure_ascii=False))
    except (ValueError, RecursionError):
        return True


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
                value = parse_json_text(line)
                return None if value is NOT_JSON else value
    return None


def _kind_of_json(document: Any, path: Path) -> SourceKind:
    if isinstance(document, Mapping) and ("eval_input" in document or "eval_input_items" in document):
        return SourceKind.EVAL_ITEMS
    if not isinstance(document, list):
        raise SourceError(
            f"{path} is not a NAT output: expected a JSON list of items (workflow_output.json), "
            "of eval items, or of steps"
        )
    return _kind_of_first(next((item for item in document if isinstance(item, Mapping)), None))


def _kind_of_first(first: Mapping[str, Any] | None) -> SourceKind:
    """The kind of a JSON list from its first object."""
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
        if starts_an_array(p):  # read up to its first object, not whole
            with closing(array_items(p)) as items:
                return _kind_of_first(next((item for item, _ in items if isinstance(item, Mapping)), None))
        return _kind_of_json(_load_json(p), p)
    raise SourceError(f"unknown steps file type {suffix!r} for {p}: expected .json, .jsonl or .parquet")


def _load_json(path: Path) -> Any:
    return _load_document(path)[0]


def _load_document(path: Path) -> tuple[Any, bool]:
    """A JSON document, and whether its text has surrogate escapes (its strings may hold half characters)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path} is not UTF-8 text: can't decode byte {exc.start} ({exc.reason})") from None
    try:
        return json.loads(text), SURROGATE_ESCAPE.search(text) is not None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # the digit limit, or nesting deeper than the parser goes
        raise json_too_deep(path, exc) from None


def eval_items_of(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """(line or position, item) of a file of serialized eval items (see :attr:`SourceKind.EVAL_ITEMS`).

    A JSONL line that is not JSON, or not an object, comes as its text, to be rejected visibly.
    """
    for position, item, _ in read_eval_items(path):
        yield position, item


def read_eval_items(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any, bool]]:
    """:func:`eval_items_of`'s items, each with whether orjson read it (:func:`fast_json_value`: its
    values then write as JSON text with :func:`~dpo_frames._json.parsed_to_json`)."""
    p = Path(path)
    if p.suffix.lower() == ".jsonl":
        with p.open("rb") as f:
            for line_no, raw in enumerate(f, start=1):
                value = fast_json_value(raw)
                if value is not NO_FAST_VALUE:
                    yield line_no, value, True
                    continue
                text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8", errors="replace").strip()
                if not text:
                    continue
                value = parse_json_text(text)
                yield line_no, text if value is NOT_JSON else value, False
        return
    if starts_an_array(p):  # a JSON list of items, read one at a time
        for position, (item, escapes) in enumerate(array_items(p)):
            yield position, to_text_if_half(item) if escapes else item, False
        return
    document, escapes = _load_document(p)
    if isinstance(document, Mapping):
        document = (document.get("eval_input") or document).get("eval_input_items", [])
    for position, item in enumerate(document):
        yield position, to_text_if_half(item) if escapes else item, False


def to_text_if_half(item: Any) -> Any:
    """The item, or its JSON text (to be rejected visibly) if a string of it holds half a character."""
    return json.dumps(item) if holds_half_characters(item) else item
