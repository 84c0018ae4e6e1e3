"""In-memory NAT steps -> candidates and rejects in one Python pass, no JSON in between.

:func:`dpo_frames.extract_candidates` uses this for Python step objects (a NAT
``EvaluationRunOutput`` or an iterable of ``IntermediateStep`` objects or dicts): going
through the steps frame would serialize every step's data to JSON text only to parse
it again. The rules are those of the SQL path in :mod:`dpo_frames.candidates`, one
candidate at a time; a property test holds the two paths to the same output.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import polars as pl
import pyarrow as pa
from pydantic import BaseModel

from dpo_frames import schema
from dpo_frames._gc import collector_paused
from dpo_frames._json import _finite, to_json
from dpo_frames.candidates import RejectReason as R

_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True)
_NUMBER = (int, float)
_ROW_COLUMNS = ("run_id", "example_id", "turn_id", "turn_index", "candidate_index", "response", "score",
                "step_uuid", "metadata")


def _groups(source: Any, run_id: str | None) -> Iterator[tuple[str | None, str | None, Iterable[Any]]]:
    """(run_id, example_id, steps) per example of an ``EvaluationRunOutput``, or one group
    for a plain iterable of steps (whose dicts may carry their own ids)."""
    items = getattr(getattr(source, "eval_input", source), "eval_input_items", None)
    if items is None:
        yield run_id, None, source
        return
    for item in items:
        yield run_id, None if item.id is None else str(item.id), item.trajectory or ()


class _Columns:
    """Typed column lists for candidates and reject rows; prompts are kept once each.

    The candidates of a turn usually share one prompt object (a message list a workflow
    passes to every candidate); each distinct prompt's text and messages are stored once
    and gathered per candidate, which in Polars shares the text buffers instead of copying
    a turn's prompt for every candidate.
    """

    def __init__(self) -> None:
        # per candidate: the values of _ROW_COLUMNS, then the index of its distinct prompt
        self.columns: tuple[list[Any], ...] = tuple([] for _ in range(len(_ROW_COLUMNS) + 1))
        self.appends = tuple(column.append for column in self.columns)
        self.prompt_text: list[str] = []
        self.offsets: list[int] = [0]
        self.has_messages: list[bool] = []
        self.roles: list[str] = []
        self.contents: list[str] = []
        self.rejects: dict[str, list[Any]] = {c: [] for c in schema.REJECTS}
        self.prompt_cache: list[Any] = [None, None]  # (message list object, its checked form)
        self.last_prompt: Any = None  # the prompt object of the last candidate added

    def reject(self, source: str, reason: str, raw: str | None) -> None:
        self.rejects["source"].append(source)
        self.rejects["reason"].append(reason)
        self.rejects["raw"].append(raw)

    def prompt_index(self, prompt: str | list[Mapping[str, Any]]) -> int:
        """The index of the candidate's prompt: the last one's again if it is the same object."""
        if prompt is not self.last_prompt:
            self.last_prompt = prompt
            if type(prompt) is str:  # noqa: E721
                self.prompt_text.append(prompt)
                self.has_messages.append(False)
            else:
                self.prompt_text.append(prompt[-1]["content"])
                self.has_messages.append(True)
                self.roles.extend([m["role"] for m in prompt])
                self.contents.extend([m["content"] for m in prompt])
            self.offsets.append(len(self.roles))
        return len(self.prompt_text) - 1

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        messages = pa.ListArray.from_arrays(
            pa.array(self.offsets, pa.int32()),
            pa.StructArray.from_arrays([pa.array(self.roles, pa.string_view()),
                                        pa.array(self.contents, pa.string_view())], names=["role", "content"]),
            mask=pa.array([not m for m in self.has_messages], pa.bool_()))
        prompts = pl.DataFrame({"prompt_text": pl.Series(self.prompt_text, dtype=pl.String),
                                "prompt_messages": pl.Series(pl.from_arrow(messages)).cast(schema.MESSAGES)})
        candidates = pl.DataFrame(dict(zip(_ROW_COLUMNS, self.columns)),
                                  schema={c: schema.CANDIDATES[c] for c in _ROW_COLUMNS}, strict=False)
        candidates = candidates.with_columns(prompts.gather(pl.Series(self.columns[-1], dtype=pl.UInt32)))
        rejects = pl.DataFrame(self.rejects, schema=dict(schema.REJECTS))
        return candidates.select(list(schema.CANDIDATES)), rejects


def _payload_parts(step: Any) -> tuple[Any, Any, Any, Any, Any] | None:
    """(event_type, name, uuid, data, metadata) of a step object or dict; None if not a step."""
    if type(step) is dict or isinstance(step, Mapping):  # noqa: E721
        payload = step.get("payload", step)
        if not isinstance(payload, Mapping):
            return None
        uuid = payload.get("UUID")
        return (payload.get("event_type"), payload.get("name"), None if uuid is None else str(uuid),
                payload.get("data"), payload.get("metadata"))
    p = getattr(step, "payload", None)
    if getattr(p, "event_type", None) is None:
        return None
    return p.event_type, p.name, p.UUID, p.data, p.metadata


_MODEL_TYPES: set[type] = set()
"""Pydantic model classes seen (not mappings): their fields are in ``__dict__``, extras apart."""


def _fields(data: Any) -> Mapping[str, Any] | None:
    """The data's fields as a mapping (pydantic fields and extras), None if not an object."""
    kind = type(data)
    if kind is dict:
        return data
    if kind in _MODEL_TYPES or _is_model_type(kind):
        values = data.__dict__
        extra = data.__pydantic_extra__
        return {**values, **extra} if extra else values
    if isinstance(data, Mapping):
        return data
    values = getattr(data, "__dict__", None)
    if values is None or not hasattr(data, "model_dump"):
        return None
    extra = getattr(data, "__pydantic_extra__", None)
    return {**values, **extra} if extra else values


def _is_model_type(kind: type) -> bool:
    """A pydantic model class that is not a mapping (remembered: the answer is the class's)."""
    if not issubclass(kind, BaseModel) or issubclass(kind, Mapping):
        return False
    if len(_MODEL_TYPES) < 1024:  # classes made on the fly must not grow it without end
        _MODEL_TYPES.add(kind)
    return True


def _score(value: Any) -> tuple[float | None, str | None]:
    if type(value) is float:  # noqa: E721  (the common case first)
        return value, None if math.isfinite(value) else R.NON_FINITE_SCORE
    if value is None:
        return None, R.MISSING_SCORE
    if isinstance(value, bool):
        return None, R.NON_NUMERIC_SCORE
    if isinstance(value, _NUMBER):
        try:
            score = float(value)
        except OverflowError:  # an int beyond any double is infinite to DuckDB too
            return None, R.NON_FINITE_SCORE
    elif isinstance(value, str):
        try:
            # DuckDB's cast takes ASCII numbers only (no "_", no other digits or spaces).
            score = float(value.strip()) if value.isascii() and "_" not in value else None
        except ValueError:
            score = None
        if score is None:
            return None, R.NON_NUMERIC_SCORE
    else:
        return None, R.NON_NUMERIC_SCORE
    return score, None if math.isfinite(score) else R.NON_FINITE_SCORE


def _int64(value: Any) -> int | None:
    """The value as a JSON integer that fits a signed 64-bit column (bools are not, subclasses
    of int are, as JSON writes them), else None."""
    if type(value) is not int:  # noqa: E721
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        value = int(value)
    return value if -(2**63) <= value < 2**63 else None


def _turn_id(value: Any) -> str | None:
    if type(value) is str:  # noqa: E721
        return value or None
    if value is None or isinstance(value, (Mapping, list, tuple)):
        return None
    if isinstance(value, str):
        return value or None
    return _COMPACT.encode(value)


def _named(value: Any) -> Any:
    """A non-finite float as the string the steps frame's JSON gives it ("NaN", ...)."""
    return _finite(value) if type(value) is float and not math.isfinite(value) else value  # noqa: E721


def _messages(value: list) -> list[Mapping[str, Any]] | None:
    """The messages as mappings with string role and content; None if any is not."""
    if all(type(m) is dict and type(m.get("role")) is str and type(m.get("content")) is str  # noqa: E721
           for m in value):
        return value  # the common case: plain dicts, nothing to copy
    out = []
    for m in value:
        if not isinstance(m, Mapping):
            dump = getattr(m, "model_dump", None)
            if dump is None:
                return None
            m = dump()
        role, content = _named(m.get("role")), _named(m.get("content"))
        if not isinstance(role, str) or not isinstance(content, str):
            return None
        out.append({"role": role, "content": content})
    return out


def candidates_from_objects(source: Any, step_name: str, run_id: str | None = None, *,
                            counts: Counter | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates and rejects straight from in-memory steps (see the module docstring).

    With ``counts``, NAT step objects are also counted there by (event_type, name).
    """
    with collector_paused():
        return _collect(source, step_name, run_id, counts)


def _collect(source: Any, step_name: str, run_id: str | None, counts: Counter | None
             ) -> tuple[pl.DataFrame, pl.DataFrame]:
    cols = _Columns()
    seen: set[tuple] = set()
    for rid, eid, steps in _groups(source, run_id):
        for index, step in enumerate(steps):
            payload = getattr(step, "payload", None)
            if payload is not None and type(payload) is not dict:  # noqa: E721  (a NAT object: the hot path)
                if counts is not None:
                    counts[(payload.event_type, payload.name)] += 1
                if payload.event_type != "TTC_END" or payload.name != step_name:
                    continue
                _add(cols, seen, rid, eid, index, payload.UUID, payload.data, payload.metadata)
                continue
            step_rid, step_eid = rid, eid
            if isinstance(step, Mapping):
                step_rid, step_eid = _str_or(step.get("run_id"), rid), _str_or(step.get("example_id"), eid)
            parts = _payload_parts(step)
            if parts is None or parts[0] is None:
                cols.reject(_source(step_rid, step_eid, index, None), R.UNPARSABLE_STEP, to_json(step))
                continue
            event_type, name, uuid, data, metadata = parts
            if event_type == "TTC_END" and name == step_name:
                _add(cols, seen, step_rid, step_eid, index, uuid, data, metadata)
    return cols.frames()


def extract_with_summary(source: Any, step_name: str, run_id: str | None = None
                         ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Candidates, rejects and the step summary of :func:`~dpo_frames.summarize_steps` in one
    pass over in-memory NAT step objects (a NAT ``EvaluationRunOutput``)."""
    counts: Counter = Counter()
    candidates, rejects = candidates_from_objects(source, step_name, run_id, counts=counts)
    summary = pl.DataFrame(
        {"event_type": [None if t is None else str(t) for t, _ in counts], "name": [n for _, n in counts],
         "steps": list(counts.values())}, schema={"event_type": pl.String, "name": pl.String, "steps": pl.UInt32})
    return candidates, rejects, summary_of_counts(summary, step_name)


def summary_of_counts(counts: pl.DataFrame, step_name: str) -> pl.DataFrame:
    """Mark candidate steps and order a (event_type, name, steps) count frame."""
    return (counts.with_columns(candidate_step=(pl.col("event_type") == "TTC_END") & (pl.col("name") == step_name))
            .sort("steps", "event_type", "name", descending=[True, False, False], nulls_last=True))


def _str_or(value: Any, default: str | None) -> str | None:
    return default if value is None else str(value)


def _add(cols: _Columns, seen: set, rid, eid, index: int, uuid, data, metadata) -> None:
    """Check one candidate step and add it as a candidate or a reject."""
    duplicate = False
    if uuid is not None:  # every candidate step counts, valid or not, as in the SQL path
        key = (rid, eid, uuid)
        duplicate = key in seen
        seen.add(key)
    fields = _fields(data)
    values = None if duplicate else _plain(fields, cols.prompt_cache)
    if values is None:
        reason, values = _check(fields, duplicate, cols.prompt_cache)
        if reason is not None:
            cols.reject(_source(rid, eid, index, uuid), reason, to_json(data))
            return
    turn_id, turn_index, candidate_index, prompt, response, score = values
    a_rid, a_eid, a_turn, a_turn_index, a_index, a_response, a_score, a_uuid, a_metadata, a_prompt = cols.appends
    a_rid(rid)
    a_eid(eid)
    a_turn(turn_id)
    a_turn_index(turn_index)
    a_index(candidate_index)
    a_response(response)
    a_score(score)
    a_uuid(uuid)
    a_metadata(to_json(metadata))
    a_prompt(cols.prompt_index(prompt))


_INF = math.inf


def _plain(fields: Mapping[str, Any] | None, cache: list) -> tuple | None:
    """The typed values of a candidate whose fields all have their common form (a string
    turn id, a finite float score, string texts, the message list of the last candidate),
    which no rule rejects; None for anything else, which :func:`_check` then decides."""
    if fields is None:
        return None
    get = fields.get
    turn_id, score, response = get("turn_id"), get("score"), get("output")
    if (type(turn_id) is not str or not turn_id or type(score) is not float  # noqa: E721
            or not -_INF < score < _INF or type(response) is not str or not response):  # noqa: E721
        return None
    candidate_index = get("candidate_index")
    candidate_index = 0 if candidate_index is None else _int64(candidate_index)
    if candidate_index is None:
        return None
    prompt = get("input")
    if type(prompt) is str:  # noqa: E721
        if not prompt:
            return None
    elif prompt is cache[0] and prompt:
        prompt = cache[1]
        if prompt is None or prompt[-1]["content"] == "":
            return None
    else:
        return None
    return turn_id, _int64(get("turn_index")), candidate_index, prompt, response, score


def _check(fields: Mapping[str, Any] | None, duplicate: bool, cache: list) -> tuple[str | None, tuple]:
    """The first failing rule's reason, or None and the typed values (SQL path order)."""
    if fields is None:
        return R.UNPARSABLE_DATA, ()
    get = fields.get
    turn_id = _turn_id(_named(get("turn_id")))
    if turn_id is None:
        return R.MISSING_TURN_ID, ()
    score, reason = _score(get("score"))
    if reason is not None:
        return reason, ()
    candidate_index = get("candidate_index")
    if candidate_index is None:
        candidate_index = 0
    else:
        candidate_index = _int64(candidate_index)
        if candidate_index is None:
            return R.INVALID_CANDIDATE_INDEX, ()
    prompt = _named(get("input"))
    is_list = isinstance(prompt, (list, tuple))
    if prompt is None or prompt == "" or (is_list and not prompt):
        return R.MISSING_INPUT, ()
    if is_list:
        if prompt is not cache[0]:  # the same list object as the last candidate's: checked already
            cache[0], cache[1] = prompt, _messages(prompt)
        prompt = cache[1]
        if prompt is None:
            return R.INVALID_INPUT, ()
        if prompt[-1]["content"] == "":
            return R.MISSING_INPUT, ()
    elif isinstance(prompt, str):
        prompt = str.__str__(prompt)  # a str subclass's own text, as JSON writes it
    else:
        return R.INVALID_INPUT, ()
    response = _named(get("output"))
    if response is None or response == "":
        return R.MISSING_OUTPUT, ()
    response = str.__str__(response) if isinstance(response, str) else to_json(response)
    if duplicate:
        return R.DUPLICATE_STEP, ()
    turn_index = _int64(get("turn_index"))  # any other type or a bool: no turn index
    return None, (turn_id, turn_index, candidate_index, prompt, response, score)


def _source(rid, eid, index, uuid) -> str:
    if uuid is not None:
        return uuid
    parts = [f"run {rid}" if rid is not None else None, f"example {eid}" if eid is not None else None,
             f"step {index}"]
    return " ".join(p for p in parts if p)
