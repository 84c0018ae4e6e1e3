from __future__ import annotations

import json

import polars as pl
import pytest
from nat.data_models.evaluate_runtime import EvaluationRunOutput
from nat.data_models.evaluator import EvalInput, EvalInputItem
from nat.data_models.intermediate_step import IntermediateStepType

import dpo_frames
from dpo_frames import schema
from tests.conftest import ttc_step


def eval_output(items: dict[str, list]) -> EvaluationRunOutput:
    eval_items = [
        EvalInputItem(
            id=k,
            input_obj="q",
            expected_output_obj=None,
            output_obj=None,
            trajectory=v,
            expected_trajectory=[],
            full_dataset_entry={},
        )
        for k, v in items.items()
    ]
    return EvaluationRunOutput.model_construct(eval_input=EvalInput(eval_input_items=eval_items))


def test_reads_evaluation_run_output_with_ttc_and_stream_data():
    out = eval_output(
        {
            "q1": [
                ttc_step(score=0.9),
                ttc_step(score=0.1, as_stream=True, output="no"),
                ttc_step(event_type=IntermediateStepType.LLM_END, name="llm"),
            ],
            "q2": [ttc_step(turn_id="t9")],
        }
    )
    steps = dpo_frames.read_steps(out, run_id="run-1")
    assert list(steps.columns) == list(schema.STEPS)
    assert steps["example_id"].to_list() == ["q1", "q1", "q1", "q2"]
    assert steps["step_index"].to_list() == [0, 1, 2, 0]
    assert steps["run_id"].unique().to_list() == ["run-1"]
    assert steps["event_category"].to_list() == ["TTC", "TTC", "LLM", "TTC"]
    data = [json.loads(d) for d in steps["data"]]
    assert [d["score"] for d in data[:2]] == [0.9, 0.1]  # StreamEventData keeps the TTC fields as extras
    assert json.loads(steps["metadata"][0])["k"] == 1


def test_nan_score_survives_as_text_and_json_stays_strict():
    steps = dpo_frames.read_steps([ttc_step(score=float("nan")), ttc_step(score=float("inf"))])
    assert [json.loads(d)["score"] for d in steps["data"]] == ["NaN", "Infinity"]


def test_reads_workflow_output_json(example_output):
    steps = dpo_frames.read_steps(example_output)
    raw = json.loads(example_output.read_text())
    assert steps.height == sum(len(item["intermediate_steps"]) for item in raw)
    assert set(steps["example_id"]) == {str(item["id"]) for item in raw}
    assert set(steps["event_type"]) == {"TTC_END"}


def test_reads_dict_steps_flat_or_wrapped_and_jsonl_with_bad_lines(tmp_path):
    wrapped = {
        "example_id": "e",
        "run_id": "r",
        "payload": {"event_type": "TTC_END", "name": "n", "UUID": "u1", "data": {"turn_id": "t", "score": 1}},
    }
    flat = {"event_type": "TTC_END", "name": "n", "UUID": "u2", "data": {"turn_id": "t", "score": 0}}
    path = tmp_path / "steps.jsonl"
    path.write_text(json.dumps(wrapped) + "\n\nnot json\n" + json.dumps(flat) + "\n[1, 2]\n")
    steps = dpo_frames.read_steps(path)
    assert steps["step_index"].to_list() == [1, 3, 4, 5]  # line numbers; the blank line is skipped
    assert steps["event_type"].to_list() == ["TTC_END", None, "TTC_END", None]
    assert steps["data"][1] == "not json"
    assert steps["example_id"].to_list() == ["e", None, None, None]


def test_parquet_round_trip_and_frames(tmp_path):
    steps = dpo_frames.read_steps([ttc_step(), ttc_step(score=0.1, output="x")], run_id="r")
    paths = dpo_frames.write_frames(tmp_path, steps=steps)
    assert dpo_frames.read_steps(paths["steps"]).equals(steps)
    assert dpo_frames.read_steps(steps.lazy()).equals(steps)


@pytest.mark.parametrize(
    "source, message",
    [
        (42, "cannot read steps from int"),
        ("/nonexistent/x.jsonl", "does not exist"),
    ],
)
def test_bad_sources_give_clear_errors(source, message):
    with pytest.raises(dpo_frames.SourceError, match=message):
        dpo_frames.read_steps(source)


def test_wrong_file_shapes(tmp_path):
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.json").write_text('{"not": "a list"}')
    (tmp_path / "c.json").write_text('[{"id": 1}]')
    (tmp_path / "d.json").write_text("[{")
    with pytest.raises(dpo_frames.SourceError, match="unknown steps file type"):
        dpo_frames.read_steps(tmp_path / "a.csv")
    with pytest.raises(dpo_frames.SourceError, match="expected a JSON list"):
        dpo_frames.read_steps(tmp_path / "b.json")
    with pytest.raises(dpo_frames.SourceError, match="workflow_output_step_filter"):
        dpo_frames.read_steps(tmp_path / "c.json")
    with pytest.raises(dpo_frames.SourceError, match="not valid JSON"):
        dpo_frames.read_steps(tmp_path / "d.json")


def test_steps_frame_schema_is_checked():
    with pytest.raises(dpo_frames.SchemaError, match="missing column"):
        dpo_frames.read_steps(pl.DataFrame({"run_id": ["r"]}))
