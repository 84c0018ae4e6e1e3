"""No context dropped silently: a plain export of prompts of several messages refuses, or truncates on purpose
and counts what it cut and what collapsed."""

from __future__ import annotations

import json
import logging

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames import schema
from dpo_frames.dataset import export_context, to_records, write_dataset
from dpo_frames.errors import PromptContextError
from tests.hypothesis_profiles import examples

SYSTEM_A = [{"role": "system", "content": "answer in French"}, {"role": "user", "content": "hello?"}]
SYSTEM_B = [{"role": "system", "content": "answer in German"}, {"role": "user", "content": "hello?"}]


@pytest.fixture
def dataset() -> pl.DataFrame:
    """Two conversations that differ only in their system prompt, and a string prompt."""
    frame = pl.DataFrame(
        {
            "run_id": "r",
            "example_id": "e",
            "turn_id": ["t0", "t1", "t2"],
            "prompt_text": ["hello?", "hello?", "plain"],
            "prompt_messages": pl.Series([SYSTEM_A, SYSTEM_B, None], dtype=schema.MESSAGES),
            "chosen_response": ["good", "good", "x"],
            "rejected_response": ["bad", "bad", "y"],
            "chosen_score": 1.0,
            "rejected_score": 0.0,
            "score_diff": 1.0,
            "chosen_index": 0,
            "rejected_index": 1,
            "reward": 1.0,
            "pair_id": ["a", "b", "c"],
            "split": ["train", "train", "validation"],
        }
    )
    return schema.conform(frame, schema.DATASET, "dataset")


@pytest.mark.parametrize("fmt", ["trl", "customizer"])
def test_a_plain_export_of_conversations_refuses_and_names_the_choices(dataset, tmp_path, fmt):
    with pytest.raises(PromptContextError) as refused:
        write_dataset(dataset, tmp_path, fmt)
    message = str(refused.value)
    assert "2 of 3 records have prompts of more than one message" in message
    assert "1 records would collapse" in message and "last_message" in message
    assert ("trl-conversational" if fmt == "trl" else "use_full_message_history") in message
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(PromptContextError):
        to_records(dataset, fmt)


def test_last_message_on_purpose_is_counted_and_warned(dataset, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dpo_frames"):
        paths = write_dataset(dataset, tmp_path, "trl", prompt_context="last_message")
    records = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    assert records == [{"prompt": "hello?", "chosen": "good", "rejected": "bad"}] * 2  # the two collapsed
    assert "2 of 3 records" in caplog.text and "collapse" in caplog.text
    stats = export_context(dataset, "trl", prompt_context="last_message")
    assert (stats.multi_message_prompts, stats.truncated_prompts, stats.collapsed_records) == (2, 2, 1)


@pytest.mark.parametrize("fmt", ["trl-conversational", "nemo-rl-binary", "openai"])
def test_message_formats_keep_every_message(dataset, tmp_path, fmt):
    stats = export_context(dataset, fmt)
    assert stats.multi_message_prompts == 2 and stats.truncated_prompts == 0 and not stats.plain_prompt
    write_dataset(dataset, tmp_path, fmt)  # no refusal


def test_customizer_with_full_history_keeps_them(dataset, tmp_path):
    paths = write_dataset(dataset, tmp_path, "customizer", use_full_message_history=True)
    first = json.loads(paths["train"].read_text().splitlines()[0])
    assert first["prompt"] == SYSTEM_A


def test_string_prompts_and_one_message_prompts_export_plainly(dataset, tmp_path):
    single = dataset.with_columns(prompt_messages=pl.lit(None, dtype=schema.MESSAGES))
    assert export_context(single, "trl").multi_message_prompts == 0
    write_dataset(single, tmp_path, "trl")


def test_write_customizer_jsonl_keeps_the_reference_semantics_but_says_so(dataset, tmp_path, caplog):
    """NAT's reference adapter writes the last message when use_full_message_history is false."""
    with caplog.at_level(logging.WARNING, logger="dpo_frames"):
        paths = dpo_frames.write_customizer_jsonl(dataset, tmp_path)
    assert json.loads(paths["train"].read_text().splitlines()[0])["prompt"] == "hello?"
    assert "only their last message would be kept" in caplog.text
    with pytest.raises(PromptContextError):
        dpo_frames.write_customizer_jsonl(dataset, tmp_path / "strict", prompt_context="refuse")
    with pytest.raises(PromptContextError):
        dpo_frames.write_trl_jsonl(dataset, tmp_path / "trl")
    with pytest.raises(ValueError, match="prompt_context must be one of"):
        write_dataset(dataset, tmp_path / "x", "trl", prompt_context="first")


def _brute_force_collapsed(frame):
    from dpo_frames.dataset.context import record_hashes

    full, plain = record_hashes(frame, ["chosen_response", "rejected_response"])
    return full.n_unique() - plain.n_unique()


MESSAGE_LISTS = [
    None,
    [{"role": "user", "content": "q"}],
    [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
    [{"role": "system", "content": "t"}, {"role": "user", "content": "q"}],
    [{"role": "user", "content": "p"}, {"role": "user", "content": "q"}],
]


@settings(max_examples=examples(200), deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(range(len(MESSAGE_LISTS))), st.sampled_from("ab"), st.sampled_from("xy")),
        max_size=12,
    )
)
def test_the_collapse_count_hashes_only_what_can_collapse_and_counts_as_all(rows):
    from dpo_frames.dataset.context import _collapsed

    frame = pl.DataFrame(
        {
            "prompt_text": ["q"] * len(rows),  # every prompt ends with "q": any two may collapse
            "prompt_messages": [MESSAGE_LISTS[m] for m, _, _ in rows],
            "chosen_response": [c for _, c, _ in rows],
            "rejected_response": [r for _, _, r in rows],
        },
        schema_overrides={"prompt_messages": schema.MESSAGES},
    )
    assert _collapsed(frame, ["chosen_response", "rejected_response"]) == _brute_force_collapsed(frame)
