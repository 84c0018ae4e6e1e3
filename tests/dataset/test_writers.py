from __future__ import annotations

import json

import polars as pl
import pytest

import dpo_frames
from dpo_frames import schema


@pytest.fixture
def dataset(example_output):
    candidates, _ = dpo_frames.extract_candidates(dpo_frames.read_steps(example_output, run_id="r1"))
    pairs, _ = dpo_frames.build_pairs(candidates)
    ds, _ = dpo_frames.finalize_dataset(pairs)
    return ds


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("full_history", [False, True])
def test_customizer_jsonl_round_trip(dataset, tmp_path, full_history):
    paths = dpo_frames.write_customizer_jsonl(dataset, tmp_path, use_full_message_history=full_history)
    assert paths == {
        "train": tmp_path / "training/training_file.jsonl",
        "validation": tmp_path / "validation/validation_file.jsonl",
    }
    for split, path in paths.items():
        part = dataset.filter(pl.col("split") == split)
        records = read_jsonl(path)
        assert len(records) == part.height > 0
        assert all(set(r) == {"prompt", "chosen_response", "rejected_response"} for r in records)
        assert [r["chosen_response"] for r in records] == part["chosen_response"].to_list()
        assert [r["rejected_response"] for r in records] == part["rejected_response"].to_list()
        if full_history:
            assert [r["prompt"] for r in records] == part["prompt_messages"].to_list()
        else:
            assert [r["prompt"] for r in records] == part["prompt_text"].to_list()
    assert not list(tmp_path.rglob("*.tmp"))


def test_string_prompts_become_one_user_message_in_full_history(tmp_path):
    ds = pl.DataFrame(
        {
            "run_id": "r",
            "example_id": "q",
            "turn_id": "t",
            "prompt_text": ['é\n"q"'],
            "prompt_messages": None,
            "chosen_response": "x",
            "rejected_response": "y",
            "chosen_score": 1.0,
            "rejected_score": 0.0,
            "score_diff": 1.0,
            "chosen_index": 0,
            "rejected_index": 1,
            "reward": 1.0,
            "pair_id": "p",
            "split": "train",
        }
    )
    paths = dpo_frames.write_customizer_jsonl(ds, tmp_path, use_full_message_history=True)
    assert read_jsonl(paths["train"]) == [
        {"prompt": [{"role": "user", "content": 'é\n"q"'}], "chosen_response": "x", "rejected_response": "y"}
    ]
    assert read_jsonl(paths["validation"]) == []


@pytest.mark.parametrize("conversational", [False, True])
def test_trl_round_trip(dataset, tmp_path, conversational):
    # plain TRL keeps the last message of these system + user prompts only when asked (tests/dataset/test_context.py)
    context = "refuse" if conversational else "last_message"
    paths = dpo_frames.write_trl_jsonl(dataset, tmp_path, conversational=conversational, prompt_context=context)
    records = read_jsonl(paths["train"]) + read_jsonl(paths["validation"])
    ordered = pl.concat([dataset.filter(pl.col("split") == s) for s in ("train", "validation")])
    if conversational:
        assert [r["prompt"] for r in records] == ordered["prompt_messages"].to_list()
        assert [r["chosen"] for r in records] == [
            [{"role": "assistant", "content": c}] for c in ordered["chosen_response"]
        ]
    else:
        assert [(r["prompt"], r["chosen"], r["rejected"]) for r in records] == ordered.select(
            "prompt_text", "chosen_response", "rejected_response"
        ).rows()


def test_parquet_round_trip_of_every_frame(example_output, tmp_path):
    steps = dpo_frames.read_steps(example_output, run_id="r1")
    candidates, rejects = dpo_frames.extract_candidates(steps)
    pairs, _ = dpo_frames.build_pairs(candidates)
    dataset, _ = dpo_frames.finalize_dataset(pairs)
    frames = {"steps": steps, "candidates": candidates, "rejects": rejects, "pairs": pairs, "dataset": dataset}
    paths = dpo_frames.write_frames(tmp_path, **frames)
    for name, frame in frames.items():
        back = dpo_frames.read_frame(paths[name])
        assert back.schema == pl.Schema(schema.FRAMES[name]) and back.equals(frame), name
        lazy = dpo_frames.read_frame(tmp_path, name, lazy=True)
        assert isinstance(lazy, pl.LazyFrame) and lazy.collect().equals(frame)


def test_frame_io_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown frame name"):
        dpo_frames.write_frames(tmp_path, nonsense=pl.DataFrame())
    with pytest.raises(FileNotFoundError, match="no pairs frame"):
        dpo_frames.read_frame(tmp_path, "pairs")
    with pytest.raises(dpo_frames.SchemaError, match="dataset frame is missing column"):
        dpo_frames.write_customizer_jsonl(pl.DataFrame({"x": [1]}), tmp_path)


def test_rows_off_both_sides_are_an_error_not_a_silent_drop(dataset, tmp_path):
    bad = dataset.with_columns(
        split=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("test")).otherwise(pl.col("split"))
    )
    with pytest.raises(dpo_frames.SchemaError, match="1 row.*test"):
        dpo_frames.write_customizer_jsonl(bad, tmp_path)
    assert not (tmp_path / "training").exists()
