"""The candidate rules: which steps are candidates, why a candidate step is rejected.

One rule set for both extraction paths. :mod:`~dpo_frames.candidates.objects` applies
these functions to Python values one candidate at a time; :mod:`~dpo_frames.candidates.sql`
states the same rules in DuckDB SQL over the steps frame's JSON text. A property test
holds the two paths to the same output, reject for reject.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from dpo_frames._json import named_number, to_json

DEFAULT_STEP_NAME = "dpo_candidate_move"


class RejectReason(StrEnum):
    """Why a step that should have been a candidate is not one (the closed set)."""

    UNPARSABLE_STEP = "unparsable step"
    UNPARSABLE_DATA = "unparsable data"
    MISSING_TURN_ID = "missing turn_id"
    MISSING_SCORE = "missing score"
    NON_NUMERIC_SCORE = "non-numeric score"
    NON_FINITE_SCORE = "non-finite score"
    INVALID_CANDIDATE_INDEX = "invalid candidate_index"
    MISSING_INPUT = "missing input"
    INVALID_INPUT = "invalid input"
    MISSING_OUTPUT = "missing output"
    DUPLICATE_STEP = "duplicate step"


R = RejectReason


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True)


_NUMBER = (int, float)


def parse_score(value: Any) -> tuple[float | None, str | None]:
    if type(value) is float:  # the common case first
        return value, None if math.isfinite(value) else R.NON_FINITE_SCORE
    if value is None:
        return None, R.MISSING_SCORE
    if isinstance(value, bool):
        return None, R.NON_NUMERIC_SCORE
    score: float | None
    if isinstance(value, _NUMBER):
        try:
            score = float(value)
        except OverflowError:  # an int beyond any double is infinite to DuckDB too
            return None, R.NON_FINITE_SCORE
    elif isinstance(value, str):
        try:
            # One rule on both paths: ASCII numbers only, no "_" digit separators (DuckDB's cast takes
            # "1_000", Python's float too; neither other digits nor other spaces).
            score = float(value.strip()) if value.isascii() and "_" not in value else None
        except ValueError:
            score = None
        if score is None:
            return None, R.NON_NUMERIC_SCORE
    else:
        return None, R.NON_NUMERIC_SCORE
    return score, None if math.isfinite(score) else R.NON_FINITE_SCORE


def as_int64(value: Any) -> int | None:
    """The value as a JSON integer that fits a signed 64-bit column (bools are not, subclasses
    of int are, as JSON writes them), else None."""
    if type(value) is not int:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        value = int(value)
    return value if -(2**63) <= value < 2**63 else None


def as_turn_id(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if value is None or isinstance(value, (Mapping, list, tuple)):
        return None
    if isinstance(value, str):
        return value or None
    return _COMPACT.encode(value)


def named_non_finite(value: Any) -> Any:
    """A number JSON text cannot carry (a non-finite float, an integer of more than 4300 digits)
    as the string the steps frame's JSON gives it ("NaN", "Infinity", ...)."""
    if type(value) is str or value is None:  # the common cases first
        return value
    return named_number(value)


def checked_messages(value: list) -> list[Mapping[str, Any]] | None:
    """The messages as mappings with string role and content; None if any is not."""
    if all(type(m) is dict and type(m.get("role")) is str and type(m.get("content")) is str for m in value):
        return value  # the common case: plain dicts, nothing to copy
    out: list[Mapping[str, Any]] = []
    for m in value:
        if not isinstance(m, Mapping):
            dump = getattr(m, "model_dump", None)
            if dump is None:
                return None
            m = dump()
        role, content = named_non_finite(m.get("role")), named_non_finite(m.get("content"))
        if not isinstance(role, str) or not isinstance(content, str):
            return None
        out.append({"role": role, "content": content})
    return out


_INF = math.inf


def plain_values(fields: Mapping[str, Any] | None, cache: list) -> tuple | None:
    """The typed values of a candidate whose fields all have their common form (a string
    turn id, a finite float score, string texts, the message list of the last candidate),
    which no rule rejects; None for anything else, which :func:`check_candidate` then decides."""
    if fields is None:
        return None
    get = fields.get
    turn_id, score, response = get("turn_id"), get("score"), get("output")
    if (
        type(turn_id) is not str
        or not turn_id
        or type(score) is not float
        or not -_INF < score < _INF
        or type(response) is not str
        or not response
    ):
        return None
    candidate_index = get("candidate_index")
    candidate_index = 0 if candidate_index is None else as_int64(candidate_index)
    if candidate_index is None:
        return None
    prompt = get("input")
    if type(prompt) is str:
        if not prompt:
            return None
    elif prompt is cache[0] and prompt:
        prompt = cache[1]
        if prompt is None or prompt[-1]["content"] == "":
            return None
    else:
        return None
    return turn_id, as_int64(get("turn_index")), candidate_index, prompt, response, score


def check_candidate(fields: Mapping[str, Any] | None, duplicate: bool, cache: list) -> tuple[str | None, tuple]:
    """The first failing rule's reason, or None and the typed values (SQL path order)."""
    if fields is None:
        return R.UNPARSABLE_DATA, ()
    get = fields.get
    turn_id = as_turn_id(named_non_finite(get("turn_id")))
    if turn_id is None:
        return R.MISSING_TURN_ID, ()
    score, reason = parse_score(get("score"))
    if reason is not None:
        return reason, ()
    candidate_index = get("candidate_index")
    if candidate_index is None:
        candidate_index = 0
    else:
        candidate_index = as_int64(candidate_index)
        if candidate_index is None:
            return R.INVALID_CANDIDATE_INDEX, ()
    prompt = named_non_finite(get("input"))
    is_list = isinstance(prompt, (list, tuple))
    if prompt is None or prompt == "" or (is_list and not prompt):
        return R.MISSING_INPUT, ()
    if is_list:
        if prompt is not cache[0]:  # the same list object as the last candidate's: checked already
            cache[0], cache[1] = prompt, checked_messages(prompt)
        prompt = cache[1]
        if prompt is None:
            return R.INVALID_INPUT, ()
        if prompt[-1]["content"] == "":
            return R.MISSING_INPUT, ()
    elif isinstance(prompt, str):
        prompt = str.__str__(prompt)  # a str subclass's own text, as JSON writes it
    else:
        return R.INVALID_INPUT, ()
    response = named_non_finite(get("output"))
    if response is None or response == "":
        return R.MISSING_OUTPUT, ()
    response = str.__str__(response) if isinstance(response, str) else to_json(response)
    if response is None:  # nested deeper than JSON text goes: the steps frame has no data text for it
        return R.UNPARSABLE_DATA, ()
    if duplicate:
        return R.DUPLICATE_STEP, ()
    turn_index = as_int64(get("turn_index"))  # any other type or a bool: no turn index
    return None, (turn_id, turn_index, candidate_index, prompt, response, score)
