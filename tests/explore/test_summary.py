"""dpo_frames.explore.summary: the funnel's counts and removals, checked against PairStats' partition."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import dpo_frames
from dpo_frames.cli import cli
from dpo_frames.explore.summary import RunData, funnel, load_run
from tests import data


@pytest.fixture(scope="module")
def example_candidates():
    candidates, _ = dpo_frames.extract_candidates(dpo_frames.read_steps(data.EXAMPLE_OUTPUT))
    return candidates


CONFIGS = [
    dpo_frames.PairConfig(),
    dpo_frames.PairConfig(min_score_diff=0.45),
    dpo_frames.PairConfig(exhaustive_pairs=False),
    dpo_frames.PairConfig(max_pairs_per_turn=1),
    dpo_frames.PairConfig(strategy="adjacent"),
    dpo_frames.PairConfig(strategy="best_vs_all", max_candidates_per_turn=2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c.model_dump(exclude_defaults=True)))
def test_the_removals_account_for_every_candidate_pair(example_candidates, config):
    pairs, stats = dpo_frames.build_pairs(example_candidates, config)
    dataset, ds = dpo_frames.finalize_dataset(pairs, max_pairs=25, seed=1)
    stages = {s.key: s for s in funnel(RunData(pair_stats=stats, dataset_stats=ds))}
    assert stages["candidate_pairs"].count - stages["pairs"].count == sum(n for _, n in stages["pairs"].removed)
    assert stages["pairs"].count == pairs.height and stages["dataset"].count == dataset.height
    assert ds.input_pairs - ds.pairs == sum(n for _, n in stages["dataset"].removed)
    assert dict(stages["dataset"].notes) == {"train": ds.train_pairs, "validation": ds.validation_pairs}
    assert all(n > 0 for s in stages.values() for _, n in s.removed)  # only what removed something


def test_a_run_directory_from_steps_to_the_dataset(tmp_path):
    run = tmp_path / "run"
    steps = data.write_steps_jsonl(tmp_path / "s.jsonl")
    for args in (["pairs", str(steps), "--out", str(run)], ["dataset", str(run), "--max-pairs", "3"]):
        assert CliRunner().invoke(cli, args).exit_code == 0
    stages = funnel(load_run(run / "datasets" / "customizer"))
    assert [(s.key, s.count) for s in stages] == [
        ("steps", 11),
        ("candidates", 7),
        ("candidate_pairs", 5),
        ("pairs", 4),
        ("dataset", 3),
    ]
    assert stages[1].removed == (("rejected (malformed)", 4),) and stages[1].notes == (("rejects", 4),)
    assert stages[3].removed == (("tied", 1),)
    assert stages[4].removed == (("sampled out (max_pairs)", 1),)


def test_frames_alone_are_counted():
    f = data.frames("r1")
    stages = funnel(RunData(candidates=f["candidates"].lazy(), rejects=f["rejects"], pairs=f["pairs"].lazy()))
    assert [(s.key, s.count) for s in stages] == [("candidates", 7), ("pairs", 4)]
    assert funnel(RunData()) == []


def test_a_dataset_of_other_pairs_says_what_it_was_made_from():
    f = data.frames("r1")
    _, stats = dpo_frames.build_pairs(f["candidates"])
    _, ds = dpo_frames.finalize_dataset(f["pairs"].head(2))
    dataset = funnel(RunData(pair_stats=stats, dataset_stats=ds))[-1]
    assert ("made from pairs", 2) in dataset.notes
