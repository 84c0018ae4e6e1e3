"""Every kind of file NAT users have is read, told by its content, not its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dpo_frames
from dpo_frames.candidates import collect_candidates
from dpo_frames.steps import SourceKind, source_kind
from tests.conftest import EXAMPLE_OUTPUT

ITEMS = json.loads(EXAMPLE_OUTPUT.read_text())
EXPECTED = dpo_frames.extract_candidates(dpo_frames.read_steps(EXAMPLE_OUTPUT, run_id="r"))[0]


def _eval_items() -> list[dict]:
    """The example as serialized NAT eval items (what people dump from an EvaluationRunOutput)."""
    return [{"id": i["id"], "input_obj": i["question"], "output_obj": i["generated_answer"],
             "expected_output_obj": i["answer"], "trajectory": i["intermediate_steps"], "full_dataset_entry": {}}
            for i in ITEMS]  # fmt: skip


@pytest.mark.parametrize("shape", ["jsonl", "list", "eval_input", "run_output"])
def test_eval_item_files_are_read_as_steps(tmp_path: Path, shape: str) -> None:
    items = _eval_items()
    path = tmp_path / ("items.jsonl" if shape == "jsonl" else "items.json")
    if shape == "jsonl":
        path.write_text("".join(json.dumps(i) + "\n" for i in items))
    else:
        document = {
            "list": items,
            "eval_input": {"eval_input_items": items},
            "run_output": {"eval_input": {"eval_input_items": items}, "workflow_interrupted": False},
        }[shape]
        path.write_text(json.dumps(document))
    assert source_kind(path) is SourceKind.EVAL_ITEMS
    candidates, rejects = dpo_frames.extract_candidates(path, run_id="r")
    assert rejects.height == 0 and candidates.equals(EXPECTED)  # not 31,753 "unparsable step" rejects


def test_a_workflow_output_without_ttc_steps_reads_as_no_steps(tmp_path: Path) -> None:
    path = tmp_path / "workflow_output.json"
    path.write_text(json.dumps([{**i, "intermediate_steps": []} for i in ITEMS]))
    assert dpo_frames.read_steps(path).height == 0  # not "intermediate_steps that are not a list"


def test_kinds_by_content(tmp_path: Path) -> None:
    assert source_kind(EXAMPLE_OUTPUT) is SourceKind.WORKFLOW_OUTPUT
    steps = tmp_path / "steps.json"
    steps.write_text(json.dumps(ITEMS[0]["intermediate_steps"]))
    assert source_kind(steps) is SourceKind.STEPS_JSON
    lines = tmp_path / "steps.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in ITEMS[0]["intermediate_steps"]))
    assert source_kind(lines) is SourceKind.STEPS_JSONL
    dpo_frames.read_steps(EXAMPLE_OUTPUT).write_parquet(tmp_path / "s.parquet")
    assert source_kind(tmp_path / "s.parquet") is SourceKind.STEPS_PARQUET
    EXPECTED.write_parquet(tmp_path / "c.parquet")
    assert source_kind(tmp_path / "c.parquet") is SourceKind.CANDIDATES_PARQUET


def test_a_candidates_file_is_collected_as_it_is(tmp_path: Path) -> None:
    EXPECTED.write_parquet(tmp_path / "c.parquet")
    got = collect_candidates(tmp_path / "c.parquet")
    assert got.kind is SourceKind.CANDIDATES_PARQUET and got.steps is None and got.candidates.equals(EXPECTED)
    with pytest.raises(dpo_frames.SourceError, match="holds candidates, not steps"):
        dpo_frames.read_steps(tmp_path / "c.parquet")
