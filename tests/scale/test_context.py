"""Scaled builds drop no context silently: prompts of several messages are kept whole, refused, or cut
on purpose and counted (issue 16, item 3), on both engines and through `dpo-frames build`."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

import dpo_frames
from dpo_frames.cli import cli
from dpo_frames.dataset.context import check_prompt_context
from dpo_frames.errors import PromptContextError
from dpo_frames.scale import build_dataset
from tests.conftest import EXAMPLE_OUTPUT


@pytest.fixture
def conversations(tmp_path):
    """The example's candidates: every prompt is a conversation of several messages."""
    candidates, _ = dpo_frames.extract_candidates(EXAMPLE_OUTPUT, run_id="r")
    assert candidates.select((pl.col("prompt_messages").list.len() > 1).all()).item()
    candidates.write_parquet(tmp_path / "c.parquet")
    return tmp_path / "c.parquet"


def prompts(path):
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines()]


def test_a_cut_not_asked_for_is_refused_and_nothing_is_left(conversations, tmp_path):
    with pytest.raises(PromptContextError, match="use_full_message_history=True .* prompt_context='last_message'"):
        build_dataset(conversations, tmp_path / "out", partitions=3)
    assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["c.parquet"]


def test_a_cut_asked_for_is_counted_in_the_record_as_in_memory(conversations, tmp_path):
    result = build_dataset(conversations, tmp_path / "out", partitions=3, prompt_context="last_message")
    context = dpo_frames.open_dir(tmp_path / "out").record.dataset.context
    pairs, _ = dpo_frames.build_pairs(pl.read_parquet(conversations))
    dataset, _ = dpo_frames.finalize_dataset(pairs)
    expected = check_prompt_context(
        dataset,
        format="customizer",
        plain_prompt=True,
        responses=["chosen_response", "rejected_response"],
        keep_hint="",
        prompt_context="last_message",
    )
    assert context.truncated_prompts == result.dataset_stats.pairs == expected.truncated_prompts
    assert context.collapsed_records == expected.collapsed_records
    assert context.prompt_context == "last_message"
    assert all(isinstance(p, str) for p in prompts(result.files["train"]))


def test_whole_conversations_are_kept_with_full_history(conversations, tmp_path):
    result = build_dataset(conversations, tmp_path / "out", partitions=2, use_full_message_history=True)
    assert dpo_frames.open_dir(tmp_path / "out").record.dataset.context.truncated_prompts == 0
    assert all(isinstance(p, list) and len(p) > 1 for p in prompts(result.files["train"]))


def test_the_cli_keeps_conversations_whole_unless_told(conversations, tmp_path):
    runner = CliRunner()
    kept = runner.invoke(cli, ["build", str(conversations), "--out", str(tmp_path / "whole")])
    assert kept.exit_code == 0, kept.output
    assert "prompts of several messages are written whole (--full-message-history)" in kept.stderr
    assert all(isinstance(p, list) for p in prompts(tmp_path / "whole/training/training_file.jsonl"))
    cut = runner.invoke(cli, ["build", str(conversations), "--out", str(tmp_path / "cut"), "--last-message-only"])
    assert cut.exit_code == 0, cut.output
    assert all(isinstance(p, str) for p in prompts(tmp_path / "cut/training/training_file.jsonl"))
    assert dpo_frames.open_dir(tmp_path / "cut").record.dataset.context.truncated_prompts > 0
    both = runner.invoke(
        cli,
        ["build", str(conversations), "--out", str(tmp_path / "x"), "--last-message-only", "--full-message-history"],
    )
    assert both.exit_code == 2 and "choose one" in both.output
