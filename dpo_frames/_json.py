"""Strict JSON text for arbitrary step data (the one place Python objects become JSON)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import orjson


def _default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return dump()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=_default)
# The C encoder called directly skips JSONEncoder.encode's Python layers (about 40% faster
# per small object); same output. Falls back to the encoder where the C accelerator is missing.
_c_make_encoder = json.encoder.c_make_encoder  # type: ignore[attr-defined]  # private: not in typeshed
_C_ENCODE = (
    _c_make_encoder(None, _default, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    if _c_make_encoder is not None
    else None
)


def _encode(obj: Any) -> str:
    if _C_ENCODE is None or isinstance(obj, str):
        text = _ENCODER.encode(obj)
    else:
        text = "".join(_C_ENCODE(obj, 0))
    return text if text.isascii() else valid_text(text)


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (half of a character, what JavaScript writes
    when it cuts an emoji in two) becomes U+FFFD, as a UTF-8 decoder reads an invalid sequence;
    a split pair written as two halves is joined."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if has_lone_surrogate(text) else text


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds half of a character (see :func:`valid_text`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _too_long(value: int) -> bool:
    """Whether an int has more digits than Python writes as text (``sys.get_int_max_str_digits``)."""
    if value.bit_length() < 3 * sys.get_int_max_str_digits():  # fewer digits than the limit
        return False
    try:
        int.__repr__(value)
    except ValueError:
        return True
    return False


def named_number(value: Any) -> Any:
    """A number JSON text cannot carry as a number, by its name: a non-finite float is
    ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``; an integer too long to write as text (more
    than 4300 digits, whose value as a double is infinite anyway) is ``"Infinity"`` or ``"-Infinity"``.
    Anything else is returned as it is."""
    kind = type(value)
    if kind is float or (kind is not bool and isinstance(value, float)):
        if not math.isfinite(value):
            return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    elif isinstance(value, int) and not isinstance(value, bool) and _too_long(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _finite(obj: Any) -> Any:
    """Replace the numbers JSON text cannot carry by their names (:func:`named_number`)."""
    if isinstance(obj, (float, int)):
        return named_number(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    dump = getattr(obj, "model_dump", None)
    if dump is not None:
        return _finite(dump())
    return obj


def to_json(obj: Any) -> str | None:
    """Strict JSON text of ``obj`` (None stays None).

    Pydantic models are dumped with their extra fields; non-finite floats (and integers
    too long to write, more than 4300 digits) become the strings ``"NaN"``, ``"Infinity"``,
    ``"-Infinity"`` (:func:`named_number`), so a NaN score survives as a value that is
    later rejected as non-finite instead of making the record unreadable. A lone surrogate
    in a string becomes U+FFFD (:func:`valid_text`): the text is always valid UTF-8. A
    value nested deeper than the encoder goes (about 1000 levels) has no text: None.

    Example:
        >>> to_json({"score": float("nan"), "big": 10**5000, "text": "cut \\ud83d"})
        '{"score":"NaN","big":"Infinity","text":"cut \ufffd"}'
    """
    if obj is None:
        return None
    try:
        try:
            return _encode(obj)
        except ValueError:
            return _encode(_finite(obj))
    except RecursionError:
        return None


DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")
"""For bytes.translate: every digit a 0 (and E an e), so that a number's shape is found by plain,
fast substring search (Python's regular expressions scan a line of text ten times slower)."""


def _may_not_be_python_s(text: bytes) -> bool:
    """Whether orjson's text may write a float other than Python does (``1e-05`` as ``0.00001``):
    it holds a number with an exponent, or with four zeros after its point (or a string that looks so)."""
    shape = text.translate(DIGITS_AS_ZERO)
    return b"0e" in shape or b"0.0000" in shape


def parsed_to_json(value: Any) -> str | None:
    """:func:`to_json` of a value :func:`~dpo_frames.steps.sources.fast_json_value` parsed (dicts,
    lists, strings, 64-bit integers, finite floats), the same text, written by orjson (faster, the check
    included). Where orjson's text of a float could differ from Python's, or it refuses the value (nesting
    deeper than it writes), :func:`to_json` writes it.

    Example:
        >>> parsed_to_json({"score": 0.5, "tiny": 1e-05, "text": "é"})
        '{"score":0.5,"tiny":1e-05,"text":"é"}'
    """
    if value is None:
        return None
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return to_json(value)
    return to_json(value) if _may_not_be_python_s(text) else text.decode()
