"""A JSON array read one item at a time gives json.loads' items and errors (issue 18: workflow_output.json
in bounded memory), wherever the chunks cut the text."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames.errors import SourceError
from dpo_frames.steps import stream
from dpo_frames.steps.stream import array_items
from tests.hypothesis_profiles import examples

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(stream, "_CHUNK_CHARS", 5)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(VALUES, max_size=6), indent=st.sampled_from([None, 0, 2]), bom=st.booleans())
def test_the_items_are_json_loads_items(tmp_path, small_chunks, items, indent, bom):
    path = tmp_path / "doc.json"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (json.dumps(items, indent=indent) + "\n").encode())
    assert [item for item, _ in array_items(path)] == json.loads(path.read_text(encoding="utf-8-sig"))


@pytest.mark.parametrize(
    "text",
    ["[1, 2", "[1 2]", '[{"a": 1},\n {"a": }]', "[1, 2]\n  x", "\n\n  [1,\n  2,,]", "[123", "[]]", ""],
)
def test_an_error_says_where_as_json_loads_does(tmp_path, small_chunks, text):
    path = tmp_path / "doc.json"
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(SourceError) as got:
        list(array_items(path))
    where = f"at line {expected.value.lineno}, column {expected.value.colno})"
    assert str(got.value).endswith(where), (str(got.value), where)


def test_a_number_cut_by_the_end_of_a_chunk_is_read_whole(tmp_path, small_chunks):
    path = tmp_path / "doc.json"
    path.write_text("[1234, 56789012]")
    assert [item for item, _ in array_items(path)] == [1234, 56789012]


def test_surrogate_escapes_are_told_per_item(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('[{"a": "x"}, {"a": "cut \\ud83d"}]')
    assert [escapes for _, escapes in array_items(path)] == [False, True]


def test_workflow_output_read_in_small_chunks_is_the_whole_read(tmp_path, example_output, small_chunks, monkeypatch):
    whole = json.loads(example_output.read_text())
    assert [item for item, _ in array_items(example_output)] == whole
    steps = dpo_frames.read_steps(example_output, run_id="r")
    monkeypatch.setattr(stream, "_CHUNK_CHARS", 1 << 20)
    assert steps.equals(dpo_frames.read_steps(example_output, run_id="r")) and steps.height == 119
