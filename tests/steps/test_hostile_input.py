"""Hostile input (issue 15, items 9-11): one bad line is one counted reject naming its line, never an
exception that aborts the file; an extra column never clashes; one number rule on both paths."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames.cli import cli
from dpo_frames.errors import SourceError
from dpo_frames.scale import build_dataset
from tests.candidates.test_paths_agree import assert_same_paths
from tests.hypothesis_profiles import examples


def step_line(uuid="u", *, score="1.0", output='"a"', timestamp=None, turn="t") -> str:
    stamp = "" if timestamp is None else f',"event_timestamp":{timestamp}'
    return (
        f'{{"example_id":"e","payload":{{"event_type":"TTC_END","name":"dpo_candidate_move","UUID":"{uuid}"{stamp},'
        f'"data":{{"turn_id":"{turn}","score":{score},"input":"p","output":{output}}}}}}}'
    )


HOSTILE = {
    "integer of 5000 digits": step_line("h", score="9" * 5000),
    "nesting 5000 deep": step_line("h", output="[" * 5000 + "]" * 5000),
    "lone high surrogate": step_line("h", output='"cut \\ud83d"'),
    "lone low surrogate": step_line("h", output='"\\udc00 cut"'),
}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_a_hostile_jsonl_line_is_one_reject_naming_its_line(tmp_path, what):
    path = tmp_path / "steps.jsonl"
    path.write_text("\n".join([step_line("u1"), HOSTILE[what], step_line("u3", score="0.0", output='"b"')]) + "\n")
    candidates, rejects = dpo_frames.extract_candidates(path)
    assert candidates["step_uuid"].to_list() == ["u1", "u3"]
    assert rejects.select("reason", "source").rows() == [("unparsable step", "step 2")]
    assert rejects["raw"].item() == HOSTILE[what]  # the line as written, to look at


def test_a_surrogate_pair_written_as_escapes_is_one_character(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text(step_line("u1", output='"smile \\ud83d\\ude00"') + "\n")
    candidates, rejects = dpo_frames.extract_candidates(path)
    assert candidates["response"].to_list() == ["smile \U0001f600"] and rejects.height == 0


def test_an_integer_timestamp_beyond_any_double_reads_as_infinite(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text(step_line("u1", timestamp="1" + "0" * 400) + "\n")
    steps = dpo_frames.read_steps(path)
    assert steps["event_timestamp"].to_list() == [float("inf")]
    assert dpo_frames.extract_candidates(path)[0].height == 1


def test_hostile_eval_item_lines_are_rejects(tmp_path):
    item = {"id": "q1", "trajectory": [json.loads(step_line("u1"))]}
    path = tmp_path / "items.jsonl"
    hostile = '{"id": "q2", "trajectory": [], "n": ' + "7" * 5000 + "}"
    path.write_text(json.dumps(item) + "\n" + hostile + "\n" + '{"id": "q3", "trajectory": [], "t": "\\ud800"}\n')
    candidates, rejects = dpo_frames.extract_candidates(path)
    assert candidates["step_uuid"].to_list() == ["u1"]
    assert rejects.select("reason", "source").rows() == [("unparsable step", "step 2"), ("unparsable step", "step 3")]


def test_a_json_document_no_reader_takes_whole_names_the_file(tmp_path):
    path = tmp_path / "workflow_output.json"
    path.write_text('[{"id": "q", "intermediate_steps": [], "n": ' + "1" * 5000 + "}]")
    with pytest.raises(SourceError, match="workflow_output.json holds JSON no reader takes whole"):
        dpo_frames.read_steps(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SourceError, match="nesting deeper"):
        dpo_frames.read_steps(path)


def test_a_step_of_a_workflow_output_holding_half_a_character_is_a_reject(tmp_path):
    good, cut = json.loads(step_line("u1")), json.loads(step_line("u2"))
    items = [{"id": "q1", "intermediate_steps": [good, cut]}]
    text = json.dumps(items).replace('"u2", "data": {"turn_id": "t"', '"u2", "data": {"turn_id": "t\\ud83d"')
    assert "\\ud83d" in text
    path = tmp_path / "workflow_output.json"
    path.write_text(text)
    candidates, rejects = dpo_frames.extract_candidates(path)
    assert candidates["step_uuid"].to_list() == ["u1"]
    assert rejects.select("reason", "source").rows() == [("unparsable step", "example q1 step 1")]


def test_the_cli_counts_the_hostile_lines_and_goes_on(tmp_path):
    path = tmp_path / "steps.jsonl"
    lines = [step_line("u1"), *HOSTILE.values(), step_line("u2", score="0.0", output='"b"')]
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(cli, ["pairs", str(path), "--out", str(tmp_path / "run")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # the progress line names the file and its lines (step N of a JSONL file is line N)
    assert "steps.jsonl: 6 steps, 2 candidates, 4 rejects (unparsable step: line 2, line 3, line 4 and 1 more)" in (
        result.stderr
    )
    rejects = pl.read_parquet(tmp_path / "run" / "rejects.parquet")
    assert rejects["source"].to_list() == [f"run run step {n}" for n in range(2, 2 + len(HOSTILE))]
    assert pl.read_parquet(tmp_path / "run" / "pairs.parquet").height == 1


IN_MEMORY_ODD = st.sampled_from(
    [10**5000, -(10**5000), "cut \ud83d", "\udc00", "\ud83d\ude00", "1_000", "_1", "1e_5", "1,5", "0x10", ".5", "5."]
)


def dict_step(uuid, turn_id, score, prompt, output, metadata):
    return {
        "example_id": "e",
        "payload": {
            "event_type": "TTC_END",
            "name": "dpo_candidate_move",
            "UUID": uuid,
            "metadata": metadata,
            "data": {"turn_id": turn_id, "score": score, "input": prompt, "output": output, "candidate_index": 0},
        },
    }


STEPS = st.lists(
    st.builds(
        dict_step,
        st.sampled_from(["u1", "u2", "cut \ud83d"]),
        st.one_of(st.just("t"), IN_MEMORY_ODD),
        st.one_of(st.just(0.5), IN_MEMORY_ODD),
        st.one_of(
            st.just("p"),
            IN_MEMORY_ODD,
            st.lists(
                st.fixed_dictionaries({"role": st.just("user"), "content": IN_MEMORY_ODD}), min_size=1, max_size=2
            ),
        ),
        st.one_of(st.just("a"), IN_MEMORY_ODD),
        st.one_of(st.none(), st.fixed_dictionaries({"k": IN_MEMORY_ODD})),
    ),
    max_size=6,
)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_hostile_values_in_memory_read_alike_on_both_paths(steps):
    """Integers too long to write read as infinite, half characters as U+FFFD, "1_000" is no number:
    the object path and the steps-frame (SQL) path agree, and nothing raises."""
    assert_same_paths(steps)


def test_the_number_rule_is_one_rule(tmp_path):
    steps = [dict_step(f"u{i}", "t", score, "p", f"o{i}", None) for i, score in enumerate(["1_000", " 2 ", "1e3"])]
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert candidates["score"].to_list() == [2.0, 1000.0]
    assert rejects.select("reason", "source").rows() == [("non-numeric score", "u0")]
    path = tmp_path / "steps.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in steps) + "\n")
    on_file = dpo_frames.extract_candidates(path)
    assert on_file[0]["score"].to_list() == [2.0, 1000.0] and on_file[1]["reason"].to_list() == ["non-numeric score"]


def test_a_steps_parquet_with_columns_named_like_ours_reads(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text(step_line("u1") + "\n" + step_line("u2", score="0.0", output='"b"') + "\n")
    plain = dpo_frames.extract_candidates(path)
    steps = dpo_frames.read_steps(path)
    extra = steps.with_row_index("_row").with_columns(_duplicate=pl.lit(True), d=pl.lit("x"), reason=pl.lit("?"))
    extra.write_parquet(tmp_path / "steps.parquet")
    again = dpo_frames.extract_candidates(tmp_path / "steps.parquet")
    assert again[0].equals(plain[0]) and again[1].equals(plain[1])


JSON_FRAGMENTS = st.sampled_from(
    [
        step_line("u1"),
        step_line("u1"),
        step_line("u2", score='"0.25"', output='"b"'),
        *HOSTILE.values(),
        step_line("u3", timestamp="-1" + "0" * 320),
        "",
        "   ",
        "{",
        "[]",
        "null",
        '{"payload": 5}',
        '{"payload": {"event_type": "LLM_END", "name": "m", "data": {"o": "\\ud83d\\ude00"}}}',
        "\ufeff" + step_line("u4"),
        '"\\ud800"',
    ]
)


@settings(max_examples=examples(100), deadline=None)
@given(lines=st.lists(st.one_of(JSON_FRAGMENTS, st.text(max_size=30)), max_size=10))
def test_fuzzed_jsonl_never_raises_and_every_line_is_accounted_for(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "steps.jsonl"
    text = "\n".join(line.replace("\n", " ").replace("\r", " ") for line in lines) + "\n"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    steps = dpo_frames.read_steps(path)
    candidates, rejects = dpo_frames.extract_candidates(steps)
    with path.open("rb") as f:
        lines_with_content = sum(1 for raw in f if raw.decode("utf-8", "replace").lstrip("\ufeff").strip())
    assert steps.height == lines_with_content  # every line that is not blank is a row, a step or not
    candidate_steps = steps.filter(
        pl.col("event_type").is_null()
        | ((pl.col("event_type") == "TTC_END") & (pl.col("name") == "dpo_candidate_move"))
    ).height
    assert candidates.height + rejects.height == candidate_steps


def test_a_candidates_parquet_with_a_row_column_builds_out_of_core(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text(step_line("u1") + "\n" + step_line("u2", score="0.0", output='"b"') + "\n")
    candidates = dpo_frames.extract_candidates(path)[0].with_columns(_row=pl.lit(7, dtype=pl.UInt32))
    candidates.write_parquet(tmp_path / "candidates.parquet")
    build_dataset(tmp_path / "candidates.parquet", tmp_path / "out", validation_fraction=0)
    assert dpo_frames.open_dir(tmp_path / "out").frame("pairs").collect().height == 1
