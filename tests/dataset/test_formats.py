"""Every dataset format written and read back: one record per pair, nothing lost."""

from __future__ import annotations

import json

import polars as pl
import pytest

from dpo_frames import schema
from dpo_frames.dataset import RECIPES, to_records, write_dataset

FORMATS = RECIPES["dpo"]  # the SFT and KTO formats: tests/dataset/test_completion_formats.py

PROMPTS = [
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
    None,
    [{"role": "user", "content": 'é "q"\n'}],
]


@pytest.fixture
def dataset() -> pl.DataFrame:
    n = 6
    frame = pl.DataFrame(
        {
            "run_id": "r",
            "example_id": "e",
            "turn_id": [f"t{i}" for i in range(n)],
            "prompt_text": ["2+2?", "plain ü", 'é "q"\n'] * 2,
            "prompt_messages": pl.Series(PROMPTS * 2, dtype=schema.MESSAGES),
            "chosen_response": [f"good {i}" for i in range(n)],
            "rejected_response": [f"bad {i} 漢" for i in range(n)],
            "chosen_score": [1.0, 0.5, 0.25, 2.0, 0.75, 1.0],
            "rejected_score": [0.0, 0.25, -1.0, 1.5, 0.5, 0.0],
            "score_diff": 0.0,
            "chosen_index": 0,
            "rejected_index": 1,
            "reward": 0.0,
            "pair_id": [f"id{i}" for i in range(n)],
            "split": ["train", "validation", "train", "train", "validation", "train"],
        }
    )
    return schema.conform(frame, schema.DATASET, "dataset")


def messages_of(row: dict) -> list[dict]:
    return row["prompt_messages"] or [{"role": "user", "content": row["prompt_text"]}]


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def read_back(fmt: str, record: dict) -> tuple:
    """(prompt messages or text, chosen, rejected) from one record of ``fmt``."""
    if fmt == "customizer":
        return record["prompt"], record["chosen_response"], record["rejected_response"]
    if fmt == "trl":
        return record["prompt"], record["chosen"], record["rejected"]
    if fmt == "trl-conversational":
        assert record["chosen"][0]["role"] == record["rejected"][0]["role"] == "assistant"
        return record["prompt"], record["chosen"][0]["content"], record["rejected"][0]["content"]
    if fmt == "nemo-rl-binary":
        return record["prompt"], record["chosen"], record["rejected"]
    if fmt == "nemo-rl-rank":
        ranked = sorted(record["completions"], key=lambda c: c["rank"])
        assert [c["rank"] for c in ranked] == [0, 1]
        return record["context"], ranked[0]["completion"][0]["content"], ranked[1]["completion"][0]["content"]
    assert set(record) == {"input", "preferred_output", "non_preferred_output"}
    return (
        record["input"]["messages"],
        record["preferred_output"][0]["content"],
        record["non_preferred_output"][0]["content"],
    )


def expected(fmt: str, row: dict) -> tuple:
    prompt = row["prompt_text"] if fmt in ("customizer", "trl") else messages_of(row)
    return prompt, row["chosen_response"], row["rejected_response"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rewards", [False, True])
def test_round_trip(dataset, tmp_path, fmt, rewards):
    if rewards and fmt == "openai":
        with pytest.raises(ValueError, match="no reward fields"):
            write_dataset(dataset, tmp_path, fmt, rewards=True)
        return
    # the plain formats keep only the last message of a message prompt, here on purpose (tests/dataset/test_context.py)
    paths = write_dataset(dataset, tmp_path, fmt, rewards=rewards, prompt_context="last_message")
    assert set(paths) == {"train", "validation"}
    for split, path in paths.items():
        part = dataset.filter(pl.col("split") == split)
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(records) == part.height > 0
        for record, row in zip(records, part.iter_rows(named=True), strict=True):
            assert read_back(fmt, record) == expected(fmt, row)
            if rewards:
                assert (record["chosen_reward"], record["rejected_reward"]) == (
                    row["chosen_score"],
                    row["rejected_score"],
                )
            else:
                assert "chosen_reward" not in record
    assert not list(tmp_path.rglob("*.tmp"))


def test_file_layouts(dataset, tmp_path):
    assert write_dataset(dataset, tmp_path / "c", use_full_message_history=True) == {
        "train": tmp_path / "c/training/training_file.jsonl",
        "validation": tmp_path / "c/validation/validation_file.jsonl",
    }
    assert write_dataset(dataset, tmp_path / "o", "openai") == {
        "train": tmp_path / "o/train.jsonl",
        "validation": tmp_path / "o/validation.jsonl",
    }


def test_customizer_full_history_and_bad_options(dataset, tmp_path):
    records = to_records(dataset, "customizer", use_full_message_history=True)
    assert records["prompt"].to_list() == [messages_of(r) for r in dataset.iter_rows(named=True)]
    with pytest.raises(ValueError, match="unknown format 'jsonl'"):
        write_dataset(dataset, tmp_path, "jsonl")
    with pytest.raises(ValueError, match="only applies to the customizer and customizer-sft formats"):
        write_dataset(dataset, tmp_path, "trl", use_full_message_history=True)
    assert not list(tmp_path.iterdir())


def test_one_record_of_each_format_as_documented(dataset):
    """The example records of the export module docstring, field for field."""
    row = dataset.filter(pl.col("pair_id") == "id1")  # a string prompt
    got = {fmt: json.loads(to_records(row, fmt).write_ndjson()) for fmt in FORMATS}
    user = [{"role": "user", "content": "plain ü"}]
    assert got["customizer"] == {"prompt": "plain ü", "chosen_response": "good 1", "rejected_response": "bad 1 漢"}
    assert got["trl"] == {"prompt": "plain ü", "chosen": "good 1", "rejected": "bad 1 漢"}
    assert got["trl-conversational"] == {
        "prompt": user,
        "chosen": assistant("good 1"),
        "rejected": assistant("bad 1 漢"),
    }
    assert got["nemo-rl-binary"] == {"prompt": user, "chosen": "good 1", "rejected": "bad 1 漢"}
    assert got["nemo-rl-rank"] == {
        "context": user,
        "completions": [
            {"rank": 0, "completion": assistant("good 1")},
            {"rank": 1, "completion": assistant("bad 1 漢")},
        ],
    }
    assert got["openai"] == {
        "input": {"messages": user},
        "preferred_output": assistant("good 1"),
        "non_preferred_output": assistant("bad 1 漢"),
    }
