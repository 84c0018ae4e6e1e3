"""JSONL lines read by orjson give what Python's reader gives, and their step data the same JSON
text (issue 18: the per-line parse is most of a step file's read)."""

from __future__ import annotations

import json
import math
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import dpo_frames
from dpo_frames._json import parsed_to_json, to_json
from dpo_frames.steps import read as read_module
from dpo_frames.steps import sources as sources_module
from dpo_frames.steps.sources import NO_FAST_VALUE, NOT_JSON, fast_json_value, parse_json_text
from tests.hypothesis_profiles import examples

NUMBERS = (
    st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.sampled_from([1e-05, 1e-07, 0.0001, 1e16, 1.5e16, 1e22, 5e-324, -0.0, 1e15, 123456789012345.6])
)
VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


def typed(value: Any) -> Any:
    """The value with every number's type beside it (1 == 1.0 == True for ==), float signs and NaN told apart."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def line_of(value: Any, ensure_ascii: bool, spaced: bool) -> bytes:
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(value, ensure_ascii=ensure_ascii, separators=separators).encode() + b"\n"


@settings(max_examples=examples(500), deadline=None)
@given(value=VALUES, ensure_ascii=st.booleans(), spaced=st.booleans())
def test_a_fast_value_is_python_s_and_so_is_its_text(value, ensure_ascii, spaced):
    raw = line_of(value, ensure_ascii, spaced)
    fast = fast_json_value(raw)
    if fast is NO_FAST_VALUE:
        return
    slow = parse_json_text(raw.decode())
    assert slow is not NOT_JSON
    assert typed(fast) == typed(slow)
    assert parsed_to_json(fast) == to_json(slow)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 18446744073709551616}',  # beyond 64 bits: orjson reads a float
        b'{"a": -9223372036854775809}',
        b'{"a": 123456789012345678901234567890}',
        b'{"a": NaN}',
        b'{"a": 1e400}',  # a double's infinity
        b'{"a": "\\ud83d"}',  # half a character
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark
        b'{"a": "\xff"}',  # not UTF-8
        b"",
        b"   \n",
        b'{"a": 1} x',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_what_orjson_would_read_otherwise_is_left_to_python(raw):
    assert fast_json_value(raw) is NO_FAST_VALUE


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"tiny": 1e-05}, '{"tiny":1e-05}'),  # orjson writes 0.00001
        ({"t": 1e-07, "u": 0.0001}, '{"t":1e-07,"u":0.0001}'),
        ({"big": 1e16}, '{"big":1e+16}'),
        ({"c": "\x1f\n\u2028é"}, '{"c":"\\u001f\\n\u2028é"}'),
        ({"a": 1, "b": [True, None, 2.5]}, '{"a":1,"b":[true,null,2.5]}'),
    ],
)
def test_the_text_is_python_s(value, text):
    assert parsed_to_json(value) == text == to_json(value)


def test_duplicate_keys_keep_the_last_value_where_python_keeps_it():
    raw = b'{"a": 1, "b": 2, "a": 3}'
    assert typed(fast_json_value(raw)) == typed(json.loads(raw))


STEP_DATA = st.dictionaries(st.sampled_from(["turn_id", "score", "input", "output", "x"]), VALUES, max_size=5)


@settings(max_examples=examples(100), deadline=None)
@given(datas=st.lists(st.tuples(STEP_DATA, VALUES, st.booleans()), min_size=1, max_size=8))
def test_a_jsonl_file_reads_the_same_as_python_reads_it(tmp_path_factory, datas):
    path = tmp_path_factory.mktemp("fast") / "steps.jsonl"
    lines = []
    for data, metadata, ensure_ascii in datas:
        step = {
            "example_id": "e",
            "payload": {"event_type": "TTC_END", "name": "n", "data": data, "metadata": metadata},
        }
        lines.append(line_of(step, ensure_ascii, spaced=True))
    path.write_bytes(b"".join(lines) + b"not json\n[1]\n")
    fast = dpo_frames.read_steps(path, run_id="r")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(read_module, "fast_json_value", lambda raw: NO_FAST_VALUE)
        slow = dpo_frames.read_steps(path, run_id="r")
    assert_frame_equal(fast, slow)
    assert fast.height == len(datas) + 2
    assert fast.filter(pl.col("event_type").is_null()).height == 2


@settings(max_examples=examples(100), deadline=None)
@given(datas=st.lists(st.tuples(STEP_DATA, VALUES, st.booleans()), min_size=1, max_size=8))
def test_an_eval_item_file_reads_the_same_as_python_reads_it(tmp_path_factory, datas):
    path = tmp_path_factory.mktemp("fast") / "items.jsonl"
    lines = []
    for i, (data, metadata, ensure_ascii) in enumerate(datas):
        step = {"payload": {"event_type": "TTC_END", "name": "n", "data": data, "metadata": metadata}}
        lines.append(line_of({"id": f"q{i}", "trajectory": [step, step]}, ensure_ascii, spaced=False))
    path.write_bytes(b"".join(lines) + b'"a text"\n{"id": NaN, "trajectory": []}\n')
    fast = dpo_frames.read_steps(path, run_id="r")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sources_module, "fast_json_value", lambda raw: NO_FAST_VALUE)
        slow = dpo_frames.read_steps(path, run_id="r")
    assert_frame_equal(fast, slow)
    assert fast.height == 2 * len(datas) + 1
