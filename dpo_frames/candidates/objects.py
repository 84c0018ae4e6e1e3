"""In-memory NAT steps -> candidates and rejects in one Python pass, no JSON in between.

:func:`dpo_frames.extract_candidates` uses this for Python step objects (a NAT
``EvaluationRunOutput`` or an iterable of ``IntermediateStep`` objects or dicts): going
through the steps frame would serialize every step's data to JSON text only to parse
it again. The rules are :mod:`dpo_frames.candidates.rules`, applied one candidate at
a time (the SQL path states them in SQL); a property test holds the two paths to the
same output.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import polars as pl
import pyarrow as pa
from pydantic import BaseModel

from dpo_frames import schema
from dpo_frames._gc import collector_paused
from dpo_frames._json import has_lone_surrogate, to_json, valid_text
from dpo_frames.candidates.rules import RejectReason as R
from dpo_frames.candidates.rules import check_candidate, plain_values
from dpo_frames.candidates.summary import summary_of_counts

logger = logging.getLogger("dpo_frames")

_ROW_COLUMNS = (
    "run_id",
    "example_id",
    "turn_id",
    "turn_index",
    "candidate_index",
    "response",
    "score",
    "step_uuid",
    "metadata",
)


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
            if isinstance(prompt, str):  # the rules give a plain str (never a subclass) or a message list
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
        try:
            return self._frames()
        except UnicodeEncodeError:  # a string of an in-memory step holds half a character
            self._valid_texts()
            return self._frames()

    def _valid_texts(self) -> None:
        """Every half character (lone surrogate) of the collected strings as U+FFFD, as the steps
        frame reads them (:func:`~dpo_frames._json.valid_text`), the count logged."""
        lists = [*self.columns, self.prompt_text, self.roles, self.contents, *self.rejects.values()]
        changed = 0
        for values in lists:
            for i, v in enumerate(values):
                if type(v) is str and has_lone_surrogate(v):
                    values[i] = valid_text(v)
                    changed += 1
        logger.warning("%d candidate field(s) held half a character (a lone surrogate): read as U+FFFD", changed)

    def _frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        messages = pa.ListArray.from_arrays(
            pa.array(self.offsets, pa.int32()),
            pa.StructArray.from_arrays(
                [pa.array(self.roles, pa.string_view()), pa.array(self.contents, pa.string_view())],
                names=["role", "content"],
            ),
            mask=pa.array([not m for m in self.has_messages], pa.bool_()),
        )
        prompts = pl.DataFrame(
            {
                "prompt_text": pl.Series(self.prompt_text, dtype=pl.String),
                "prompt_messages": pl.Series(pl.from_arrow(messages)).cast(schema.MESSAGES),
            }
        )
        candidates = pl.DataFrame(
            dict(zip(_ROW_COLUMNS, self.columns)), schema={c: schema.CANDIDATES[c] for c in _ROW_COLUMNS}, strict=False
        )
        candidates = candidates.with_columns(prompts.gather(pl.Series(self.columns[-1], dtype=pl.UInt32)))
        rejects = pl.DataFrame(self.rejects, schema=dict(schema.REJECTS))
        return candidates.select(list(schema.CANDIDATES)), rejects


def _payload_parts(step: Any) -> tuple[Any, Any, Any, Any, Any] | None:
    """(event_type, name, uuid, data, metadata) of a step object or dict; None if not a step."""
    if type(step) is dict or isinstance(step, Mapping):
        payload = step.get("payload", step)
        if not isinstance(payload, Mapping):
            return None
        uuid = payload.get("UUID")
        return (
            payload.get("event_type"),
            payload.get("name"),
            None if uuid is None else str(uuid),
            payload.get("data"),
            payload.get("metadata"),
        )
    p: Any = getattr(step, "payload", None)
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


def candidates_from_objects(
    source: Any, step_name: str, run_id: str | None = None, *, counts: Counter | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates and rejects straight from in-memory steps (see the module docstring).

    With ``counts``, NAT step objects are also counted there by (event_type, name).
    """
    with collector_paused():
        return _collect(source, step_name, run_id, counts)


def _collect(
    source: Any, step_name: str, run_id: str | None, counts: Counter | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    cols = _Columns()
    seen: dict[tuple, Any] = {}
    for rid, eid, steps in _groups(source, run_id):
        for index, step in enumerate(steps):
            payload = getattr(step, "payload", None)
            if payload is not None and type(payload) is not dict:  # a NAT object: the hot path
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


def extract_with_summary(
    source: Any, step_name: str, run_id: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Candidates, rejects and the step summary of :func:`~dpo_frames.summarize_steps` in one
    pass over in-memory NAT step objects (a NAT ``EvaluationRunOutput``)."""
    counts: Counter = Counter()
    candidates, rejects = candidates_from_objects(source, step_name, run_id, counts=counts)
    summary = pl.DataFrame(
        {
            "event_type": [None if t is None else str(t) for t, _ in counts],
            "name": [n for _, n in counts],
            "steps": list(counts.values()),
        },
        schema={"event_type": pl.String, "name": pl.String, "steps": pl.UInt32},
    )
    return candidates, rejects, summary_of_counts(summary, step_name)


def _str_or(value: Any, default: str | None) -> str | None:
    return default if value is None else str(value)


class _Contents(set):
    """The JSON texts of the data seen under one reused step UUID."""


def _repeats(seen: dict, key: tuple, data: Any) -> bool:
    """Whether a step under ``key`` (run, example, UUID) repeats an earlier one: same UUID *and* same
    data. The first data of a key is kept as it is; JSON texts are made only when a UUID comes back."""
    prior = seen.get(key, _Contents)
    if prior is _Contents:
        seen[key] = data
        return False
    if type(prior) is not _Contents:
        prior = seen[key] = _Contents({to_json(prior)})
    text = to_json(data)
    if text in prior:
        return True
    prior.add(text)
    return False


def _add(cols: _Columns, seen: dict, rid, eid, index: int, uuid, data, metadata) -> None:
    """Check one candidate step and add it as a candidate or a reject."""
    # every candidate step counts, valid or not, as in the SQL path
    duplicate = uuid is not None and _repeats(seen, (rid, eid, uuid), data)
    fields = _fields(data)
    values = None if duplicate else plain_values(fields, cols.prompt_cache)
    if values is None:
        reason, values = check_candidate(fields, duplicate, cols.prompt_cache)
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


def _source(rid, eid, index, uuid) -> str:
    if uuid is not None:
        return uuid
    parts = [f"run {rid}" if rid is not None else None, f"example {eid}" if eid is not None else None, f"step {index}"]
    return " ".join(p for p in parts if p)
