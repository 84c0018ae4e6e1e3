"""Read NAT intermediate steps from any source into the steps frame.

This is the only place that iterates over Python step objects, once; everything after
it works on frames.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from os import PathLike
from pathlib import Path
from typing import Any

import polars as pl

from dpo_frames import schema
from dpo_frames._gc import collector_paused
from dpo_frames._json import parsed_to_json, to_json, valid_text
from dpo_frames._parquet import parquet_batches
from dpo_frames.errors import SourceError
from dpo_frames.steps.sources import (
    NOT_JSON,
    SourceKind,
    _load_document,
    fast_json_value,
    holds_half_characters,
    parse_json_text,
    read_eval_items,
    source_kind,
)
from dpo_frames.steps.stream import array_items, starts_an_array

logger = logging.getLogger("dpo_frames")

StepsSource = Any  # EvaluationRunOutput | Iterable[IntermediateStep | dict] | str | PathLike | pl.DataFrame

_COLUMNS = (
    "run_id",
    "example_id",
    "step_index",
    "event_type",
    "name",
    "step_uuid",
    "event_timestamp",
    "data",
    "metadata",
)


Encoder = Callable[[Any], "str | None"]
"""What writes a step's data or metadata as strict JSON text: :func:`~dpo_frames._json.to_json`, or,
for values orjson read, :func:`~dpo_frames._json.parsed_to_json`."""


class _Rows:
    """Column-wise accumulator for step rows (cheaper than a list of dicts)."""

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {c: [] for c in _COLUMNS}

    def __len__(self) -> int:
        return len(self.cols["step_index"])

    def add(self, run_id, example_id, index, event_type, name, uuid, timestamp, data, metadata) -> None:
        c = self.cols
        c["run_id"].append(run_id)
        c["example_id"].append(example_id)
        c["step_index"].append(index)
        c["event_type"].append(event_type)
        c["name"].append(name)
        c["step_uuid"].append(uuid)
        c["event_timestamp"].append(timestamp)
        c["data"].append(data)
        c["metadata"].append(metadata)

    def add_step(
        self, step: Any, run_id: str | None, example_id: str | None, index: int, encode: Encoder = to_json
    ) -> None:
        """Add one NAT ``IntermediateStep`` (object, or its serialized dict, whose data and metadata
        ``encode`` writes as JSON text)."""
        if isinstance(step, Mapping):
            self.add_dict(step, run_id, example_id, index, encode)
            return
        payload: Any = getattr(step, "payload", None)  # an object of any class; None: not a step
        event_type = getattr(payload, "event_type", None)
        if event_type is None:  # None, a number, a string...: not a step
            self.add_unparsable(run_id, example_id, index, to_json(step))
            return
        self.add(
            run_id,
            example_id,
            index,
            str(event_type),
            payload.name,
            payload.UUID,
            _timestamp(payload.event_timestamp),
            to_json(payload.data),
            to_json(payload.metadata),
        )

    def add_dict(
        self,
        step: Mapping[str, Any],
        run_id: str | None,
        example_id: str | None,
        index: int,
        encode: Encoder = to_json,
    ) -> None:
        run_id = _str_or_none(_first(step.get("run_id"), run_id))
        example_id = _str_or_none(_first(step.get("example_id"), example_id))
        payload = step.get("payload", step)
        event_type = payload.get("event_type") if isinstance(payload, Mapping) else None
        if event_type is None:
            self.add_unparsable(run_id, example_id, index, to_json(step))
            return
        self.add(
            run_id,
            example_id,
            index,
            str(event_type),
            payload.get("name"),
            _str_or_none(payload.get("UUID")),
            _timestamp(payload.get("event_timestamp")),
            encode(payload.get("data")),
            encode(payload.get("metadata")),
        )

    def add_unparsable(self, run_id: str | None, example_id: str | None, index: int, raw: str | None) -> None:
        """Keep something that is not a step as a row with no event type, so it can be rejected visibly."""
        self.add(run_id, example_id, index, None, None, None, None, raw, None)

    def frame(self) -> pl.DataFrame:
        try:
            df = pl.DataFrame(self.cols, schema={c: schema.STEPS[c] for c in _COLUMNS}, strict=False)
        except UnicodeEncodeError:  # a string of an in-memory step holds half a character
            df = pl.DataFrame(_valid_texts(self.cols), schema={c: schema.STEPS[c] for c in _COLUMNS}, strict=False)
        return df.with_columns(event_category=_category(pl.col("event_type"))).select(list(schema.STEPS))

    def take(self) -> pl.DataFrame:
        """The frame of the rows added so far, which are then forgotten (the next batch starts empty)."""
        frame = self.frame()
        self.cols = {c: [] for c in _COLUMNS}
        return frame


def _valid_texts(columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The columns with every half character (lone surrogate) of their strings as U+FFFD, the
    count logged (:func:`~dpo_frames._json.to_json` does the same in the JSON texts)."""
    fixed = {c: [valid_text(v) if type(v) is str else v for v in values] for c, values in columns.items()}
    changed = sum(a != b for c in columns for a, b in zip(columns[c], fixed[c]))
    logger.warning("%d step field(s) held half a character (a lone surrogate): read as U+FFFD", changed)
    return fixed


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond any double
            return math.inf if value > 0 else -math.inf
    return None


def _category(event_type: pl.Expr) -> pl.Expr:
    """NAT's event category: the event type's prefix (``LLM_NEW_TOKEN`` -> ``LLM``)."""
    return event_type.str.extract(r"^([A-Z]+)_", 1)


def read_steps(source: StepsSource, *, run_id: str | None = None) -> pl.DataFrame:
    """Read intermediate steps into the steps frame (one row per step, any type).

    ``source`` may be a NAT ``EvaluationRunOutput`` (or its ``eval_input``), an iterable
    of NAT ``IntermediateStep`` objects or their serialized dicts, the path of a NAT
    ``workflow_output.json``, of a JSONL file of serialized steps (one per line, each
    optionally carrying ``example_id`` and ``run_id``), of a Parquet steps file, or a
    steps frame. ``run_id`` fills the run id where the source has none.

    Step ``data`` and ``metadata`` become strict JSON text. A JSONL line that is not a
    step is kept as a row with a null ``event_type`` (and its text in ``data``) so that
    :func:`~dpo_frames.extract_candidates` can reject it visibly; for JSONL sources
    ``step_index`` is the 1-based line number.

    Example:
        >>> import dpo_frames
        >>> steps = dpo_frames.read_steps([{"example_id": "q1", "payload": {
        ...     "event_type": "TTC_END", "name": "dpo_candidate_move", "UUID": "u1",
        ...     "data": {"turn_id": "t0", "score": 0.5, "input": "hi", "output": "yo"}}}])
        >>> steps.select("example_id", "event_type", "event_category").row(0)
        ('q1', 'TTC_END', 'TTC')
    """
    if schema.is_frame(source):  # a steps frame: Polars, pandas or Arrow
        return schema.conform(schema.collect_frame(source, "steps"), schema.STEPS, "steps")
    batches = list(iter_steps(source, run_id=run_id, batch_size=None))
    return batches[0] if len(batches) == 1 else pl.concat(batches)


DEFAULT_BATCH_SIZE = 100_000
"""Steps per batch of :func:`iter_steps`: about 100 MB of steps frame for typical TTC steps."""


def iter_steps(
    source: StepsSource, *, run_id: str | None = None, batch_size: int | None = DEFAULT_BATCH_SIZE
) -> Iterator[pl.DataFrame]:
    """The steps of ``source`` (anything :func:`read_steps` takes) as steps frames of at most
    ``batch_size`` rows (``None``: one frame), read as they are needed: a JSONL or Parquet file of
    any size is read in bounded memory. The batches put together are :func:`read_steps`' frame;
    there is always at least one (empty for a source without steps).

    Example:
        >>> from dpo_frames.steps import iter_steps
        >>> [b.height for b in iter_steps([{"payload": {"event_type": "LLM_END"}}] * 5, batch_size=2)]
        [2, 2, 1]
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive number of steps, not {batch_size}")
    if schema.is_frame(source):
        frame = schema.conform(schema.collect_frame(source, "steps"), schema.STEPS, "steps")
        yield from (frame.iter_slices(batch_size) if batch_size and frame.height else [frame])
        return
    if isinstance(source, (str, PathLike)):
        path = Path(source)
        kind = source_kind(path)
        if kind is SourceKind.STEPS_PARQUET:
            yield from _parquet_batches(path, run_id, batch_size)
            return
        fill = _path_filler(path, kind, run_id)
    else:
        fill = _object_filler(source, run_id)
    yield from _batches(fill, batch_size)


Filler = Callable[["_Rows"], Iterator[None]]
"""Adds a source's steps to the rows, yielding after each item (so that full batches can be taken)."""


def _batches(fill: Filler, batch_size: int | None) -> Iterator[pl.DataFrame]:
    rows = _Rows()
    taken = 0
    # Read whole, millions of small objects are made: the collector would walk them all, for nothing.
    # Read in batches, the caller's code runs between them, with the collector as it found it.
    with collector_paused() if batch_size is None else nullcontext():
        for _ in fill(rows):
            if batch_size is not None and len(rows) >= batch_size:
                taken += 1
                yield rows.take()
    if len(rows) or not taken:
        yield rows.take()


def _object_filler(source: Any, run_id: str | None) -> Filler:
    items = getattr(getattr(source, "eval_input", source), "eval_input_items", None)
    if items is not None:
        return lambda rows: _eval_items(items, run_id, rows)
    if isinstance(source, Iterable) and not isinstance(source, (bytes, Mapping)):
        return lambda rows: _step_objects(source, run_id, rows)
    raise SourceError(
        f"cannot read steps from {type(source).__name__}: expected an EvaluationRunOutput, an iterable of "
        "IntermediateStep objects or dicts, a path to workflow_output.json / .jsonl / .parquet, or a steps frame"
    )


def _step_objects(source: Iterable[Any], run_id: str | None, rows: _Rows) -> Iterator[None]:
    for index, step in enumerate(source):
        rows.add_step(step, run_id, None, index)
        yield


def _eval_items(items: Iterable[Any], run_id: str | None, rows: _Rows) -> Iterator[None]:
    for item in items:
        example_id = _str_or_none(item.id)
        for index, step in enumerate(item.trajectory or ()):
            rows.add_step(step, run_id, example_id, index)
            yield


def _parquet_batches(path: Path, run_id: str | None, batch_size: int | None) -> Iterator[pl.DataFrame]:
    """A steps Parquet file, ``batch_size`` rows at a time."""

    def conformed(frame: pl.DataFrame) -> pl.DataFrame:
        if run_id is not None and "run_id" in frame.columns:
            frame = frame.with_columns(pl.col("run_id").fill_null(run_id))
        return schema.conform(frame, schema.STEPS, f"steps ({path})")

    if batch_size is None:
        yield conformed(pl.read_parquet(path))
        return
    for batch in parquet_batches(path, batch_size):
        yield conformed(batch)


def _path_filler(path: Path, kind: SourceKind, run_id: str | None) -> Filler:
    if kind is SourceKind.CANDIDATES_PARQUET:
        raise SourceError(
            f"{path} holds candidates, not steps: pair them directly (extract_candidates and dpo-frames pairs take it)"
        )
    if kind is SourceKind.STEPS_JSONL:
        return lambda rows: _jsonl_steps(path, run_id, rows)
    if kind is SourceKind.EVAL_ITEMS:
        return lambda rows: _eval_item_file(path, run_id, rows)
    return lambda rows: _workflow_output(path, run_id, rows)


def _eval_item_file(path: Path, run_id: str | None, rows: _Rows) -> Iterator[None]:
    """Serialized eval items: each item's trajectory, its id the example id."""
    for position, item, fast in read_eval_items(path):
        encode = parsed_to_json if fast else to_json
        if not isinstance(item, Mapping) or not isinstance(item.get("trajectory", []), list):
            rows.add_unparsable(run_id, None, position, item if isinstance(item, str) else to_json(item))
            yield
            continue
        example_id = _str_or_none(item.get("id"))
        for index, step in enumerate(item.get("trajectory") or []):
            rows.add_step(step, _str_or_none(item.get("run_id")) or run_id, example_id, index, encode)
            yield


def _jsonl_steps(path: Path, run_id: str | None, rows: _Rows) -> Iterator[None]:
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            value = fast_json_value(raw)
            if type(value) is dict:  # the common case, at orjson's speed; the rest as Python reads it
                rows.add_dict(value, run_id, None, line_no, parsed_to_json)
                yield
                continue
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                rows.add_unparsable(run_id, None, line_no, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                continue
            if not line.strip():
                continue
            step = parse_json_text(line)
            if step is NOT_JSON:
                rows.add_unparsable(run_id, None, line_no, line.rstrip("\r\n"))
                continue
            if isinstance(step, Mapping):
                rows.add_step(step, run_id, None, line_no)
            else:
                rows.add_unparsable(run_id, None, line_no, line.rstrip("\n"))
            yield


def _workflow_output(path: Path, run_id: str | None, rows: _Rows) -> Iterator[None]:
    if not starts_an_array(path):
        _load_document(path)  # not JSON: the error says where; JSON but not a list:
        raise SourceError(f"{path} is not a NAT workflow_output.json: expected a JSON list of items")
    for position, (item, escapes) in enumerate(array_items(path)):  # one item at a time, not the whole document
        if not isinstance(item, Mapping) or "intermediate_steps" not in item:
            if isinstance(item, Mapping) and "payload" in item:  # a plain JSON list of steps
                if escapes and holds_half_characters(item):
                    rows.add_unparsable(run_id, None, position, json.dumps(item))
                else:
                    rows.add_step(item, run_id, None, position)
                yield
                continue
            raise SourceError(
                f"{path}: item {position} has no 'intermediate_steps'; is this a NAT "
                "workflow_output.json? (set eval.general.output.workflow_output_step_filter: "
                "[TTC_END] to keep TTC steps)"
            )
        example_id = _str_or_none(item.get("id"))
        steps = item.get("intermediate_steps")
        if steps is None:  # an item without its steps: nothing of it to read
            steps = []
        if not isinstance(steps, list):
            raise SourceError(f"{path}: item {position} ('{example_id}') has intermediate_steps that are not a list")
        for index, step in enumerate(steps):
            if escapes and holds_half_characters(step):
                rows.add_unparsable(run_id, example_id, index, json.dumps(step))
            else:
                rows.add_step(step, run_id, example_id, index)
            yield
