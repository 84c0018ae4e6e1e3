"""The CLI flags of this feature: --strategy, --seed, --max-candidates-per-turn, --format, --rewards,
--dedup-mode, and the quality checks shown by `stats`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import dpo_frames
from dpo_frames.cli import cli
from dpo_frames.dataset import FORMATS, REGISTRY
from tests.conftest import EXAMPLE_OUTPUT


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "r"
    result = invoke(
        "pairs",
        EXAMPLE_OUTPUT,
        "--out",
        out,
        "--strategy",
        "best_vs_random",
        "--seed",
        "3",
        "--max-candidates-per-turn",
        "4",
    )
    assert result.exit_code == 0, result.output
    return out


def test_pairs_takes_the_strategy(run_dir):
    stats = json.loads((run_dir / "dpo_frames.json").read_text())
    assert stats["config"]["strategy"] == "best_vs_random" and stats["config"]["seed"] == 3
    assert stats["config"]["exhaustive_pairs"] is False  # the old key stays truthful
    candidates = dpo_frames.read_frame(run_dir, "candidates")
    config = dpo_frames.PairConfig(strategy="best_vs_random", seed=3, max_candidates_per_turn=4)
    expected, expected_stats = dpo_frames.build_pairs(candidates, config)
    assert dpo_frames.read_frame(run_dir, "pairs").equals(expected)
    assert stats["pair_stats"] == expected_stats.model_dump()


def test_conflicting_flags_are_a_usage_error(tmp_path):
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", tmp_path / "x", "--strategy", "adjacent", "--exhaustive-pairs")
    assert result.exit_code == 2 and "disagrees with strategy 'adjacent'" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataset_writes_every_format(run_dir, tmp_path, fmt):
    spec = REGISTRY[fmt]
    rewards = ["--rewards"] if spec.rewards else []
    plain = ["--last-message-only"] if spec.plain_prompt else []  # the example's prompts are system + user
    result = invoke(
        "dataset", run_dir, "--format", fmt, "--out", tmp_path / fmt, "--dedup-mode", "normalized", *rewards, *plain
    )
    assert result.exit_code == 0, result.output
    info = json.loads((tmp_path / fmt / "dpo_frames.json").read_text())["dataset"]
    assert info["format"] == fmt and info["stats"]["dedup_mode"] == "normalized"
    lines = [
        json.loads(line)
        for path in info["files"].values()
        for line in (tmp_path / fmt / path).read_text(encoding="utf-8").splitlines()
    ]
    assert len(lines) == info["stats"]["pairs"] > 0
    assert all(("chosen_reward" in r) == bool(rewards) for r in lines)


def test_openai_with_rewards_is_refused(run_dir, tmp_path):
    result = invoke("dataset", run_dir, "--format", "openai", "--rewards", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--rewards does not apply to --format openai" in result.output


def test_stats_shows_the_quality_checks(run_dir, tmp_path):
    result = invoke("stats", run_dir)
    assert result.exit_code == 0, result.output
    assert "quality checks" in result.output and "tie_rate" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("│ cross_split_ok "))
    assert row.split("│")[2].strip() == "∅"  # a run has no split yet
    assert invoke("dataset", run_dir, "--out", tmp_path / "d", "--full-message-history").exit_code == 0
    result = invoke("stats", tmp_path / "d")
    row = next(line for line in result.output.splitlines() if line.startswith("│ cross_split_ok "))
    assert row.split("│")[2].strip() == "True"
