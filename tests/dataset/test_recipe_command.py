"""``dpo-frames dataset`` for every recipe: SFT and KTO from a run's candidates, described by their record,
opening with every reading command; a plain format of conversations refused with the choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpo_frames import rundir
from tests.conftest import EXAMPLE_OUTPUT
from tests.rundir.opens import assert_opens_everywhere, invoke

EXIT_USAGE = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recipes") / "run"
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", out).exit_code == 0
    return out


def lines(directory: Path) -> list[dict]:
    info = rundir.open_dir(directory).record.dataset
    return [json.loads(line) for rel in info.files.values() for line in (directory / rel).read_text().splitlines()]


def test_sft_dataset(run, tmp_path):
    out = tmp_path / "sft"
    args = ("--format", "trl-sft-conversational", "--min-score", "0", "--min-margin", "0.1", "--out", out)
    result = invoke("dataset", run, *args)
    assert result.exit_code == 0, result.output
    record = assert_opens_everywhere(out, tmp_path / "scratch", kind="dataset", frames={"completions"}).record
    info = record.dataset
    assert info.recipe == "sft" and info.format == "trl-sft-conversational" and info.selection.recipe == "sft"
    assert info.selection.config.min_margin == 0.1 and info.selection.selected == info.stats.input_pairs
    assert info.context.multi_message_prompts == info.stats.pairs and info.context.truncated_prompts == 0
    records = lines(out)
    assert len(records) == info.stats.pairs > 0 and all(r["messages"][-1]["role"] == "assistant" for r in records)
    assert "sft selection" in result.output and "below_margin" in result.output
    assert record.pair_stats == rundir.open_dir(run).record.pair_stats  # its run's provenance


def test_customizer_sft_default_and_its_context_choice(run, tmp_path):
    refused = invoke("dataset", run, "--recipe", "sft", "--out", tmp_path / "x")
    assert refused.exit_code == EXIT_USAGE and "--full-message-history" in refused.output
    assert "--last-message-only" in refused.output and not (tmp_path / "x").exists()
    kept = invoke("dataset", run, "--recipe", "sft", "--full-message-history", "--out", tmp_path / "full")
    assert kept.exit_code == 0, kept.output
    assert (tmp_path / "full/training/training_file.jsonl").is_file()
    assert all(set(r) == {"messages"} for r in lines(tmp_path / "full"))
    cut = invoke("dataset", run, "--recipe", "sft", "--last-message-only", "--out", tmp_path / "cut")
    assert cut.exit_code == 0 and "prompts cut to their last message" in cut.output
    info = rundir.open_dir(tmp_path / "cut").record.dataset
    assert info.context.truncated_prompts == info.stats.pairs and info.options["prompt_context"] == "last_message"
    assert all(set(r) == {"prompt", "completion"} and isinstance(r["prompt"], str) for r in lines(tmp_path / "cut"))


def test_kto_dataset(run, tmp_path):
    out = tmp_path / "kto"
    args = ("--recipe", "kto", "--label-by", "score", "--desirable-min-score", "0.5", "--undesirable-max-score", "0")
    result = invoke("dataset", run, *args, "--out", out)
    assert result.exit_code == 0, result.output
    info = assert_opens_everywhere(out, tmp_path / "scratch", kind="dataset", frames={"completions"}).record.dataset
    assert info.format == "trl-kto-conversational" and info.selection.recipe == "kto"
    records = lines(out)
    assert sum(r["label"] for r in records) == info.selection.train_desirable + info.selection.validation_desirable
    assert info.selection.single_candidate_records > 0  # single-candidate turns are usable for KTO
    assert "undesirable_weight" in result.output


def test_recipe_usage_errors(run, tmp_path):
    mismatch = invoke("dataset", run, "--recipe", "kto", "--format", "trl-sft")
    assert mismatch.exit_code == EXIT_USAGE and "is a sft format, not kto" in mismatch.output
    bad = invoke("dataset", run, "--recipe", "kto", "--label-by", "score")
    assert bad.exit_code == EXIT_USAGE and "needs desirable_min_score" in bad.output
    rewards = invoke("dataset", run, "--format", "trl-kto", "--rewards")
    assert rewards.exit_code == EXIT_USAGE and "no reward fields" in rewards.output
    dpo = tmp_path / "dpo"
    assert invoke("dataset", run, "--format", "trl-conversational", "--out", dpo).exit_code == 0
    no_candidates = invoke("dataset", dpo, "--recipe", "sft", "--out", tmp_path / "s")
    assert no_candidates.exit_code != 0 and "holds no candidates" in no_candidates.output
