"""dpo_frames.explore.health: each check flips on hand-made data built to trip it, and stays ok otherwise."""

from __future__ import annotations

import polars as pl
import pytest

import dpo_frames
from dpo_frames.dataset.finalize import DatasetStats
from dpo_frames.explore.health import Level, health_checks, share
from dpo_frames.explore.summary import RunData
from dpo_frames.pairs.stats import PairStats
from dpo_frames.rundir import RunRecord
from tests import data
from tests.explore.test_quality import candidates, pairs


def _found(run: RunData) -> dict[str, tuple[str, str]]:
    return {f.key: (f.level.value, f.title) for f in health_checks(run)}


@pytest.mark.parametrize(
    ("rejects", "level"), [(0, "ok"), (5, "ok"), (6, "warn"), (20, "warn"), (21, "bad")]
)  # of 100 candidate steps
def test_reject_rate(rejects, level):
    info = RunRecord(
        producer="t", candidates=100 - rejects, rejects=rejects, rejects_by_reason={"missing score": rejects}
    )
    assert _found(RunData(info=info))["rejects"][0] == level


def test_reject_reasons_from_the_frame_without_a_record():
    f = data.frames("r1")
    (finding,) = [
        x for x in health_checks(RunData(candidates=f["candidates"], rejects=f["rejects"])) if x.key == "rejects"
    ]
    assert finding.level is Level.BAD and finding.title == "36% of the candidate steps were rejected"
    assert finding.detail == "4 of 11 malformed: 2 missing score, 1 non-numeric score, 1 unparsable step"


def test_tie_rate():
    tied = candidates([("t0", "p", [1.0, 1.0, 1.0, 0.0])])  # 3 of 6 candidate pairs tied: 50%, not above
    assert _found(RunData(candidates=tied))["ties"] == ("ok", "50% of the candidate pairs are tied")
    more = candidates([("t0", "p", [1.0, 1.0, 1.0, 1.0, 0.0])])  # 6 of 10
    assert _found(RunData(candidates=more))["ties"] == ("warn", "60% of the candidate pairs are tied")


def test_prompt_mismatch_and_single_candidate_turns():
    stats = PairStats(turns=10, single_candidate_turns=3, prompt_mismatch_turns=2, cross_prompt_pairs=5, pairs=4)
    found = _found(RunData(pair_stats=stats))
    assert found["prompt_mismatch"] == ("warn", "2 turn(s) with candidates of different prompts")
    assert found["single_candidate_turns"] == ("warn", "30% of the turns have a single candidate")
    assert "prompt_mismatch" not in _found(RunData(pair_stats=PairStats(turns=10, pairs=4)))
    assert _found(RunData(pair_stats=PairStats(candidates=3)))["no_pairs"][0] == "bad"


def test_identical_and_empty_responses():
    frame = pairs(["a", "b", "c"], [1.0, 1.0, 1.0], chosen=["x", "", "z"], rejected=["x", "y", "Z "])
    found = _found(RunData(pairs=frame))
    assert found["identical"] == ("bad", "1 pair(s) with identical chosen and rejected texts")
    assert found["empty"] == ("bad", "1 pair(s) with an empty chosen or rejected text")
    assert found["near_identical"][0] == "warn"
    assert _found(RunData(pairs=pairs(["a", "b"], [1.0, 1.0])))["responses"][0] == "ok"


def test_a_prompt_dominating():
    fair = [f"p{i}" for i in range(30)]
    assert _found(RunData(pairs=pairs(fair, [1.0] * 30)))["dominance"][0] == "ok"
    heavy = fair + ["p0"] * 400  # p0: 401 of 430 pairs, far over 10x the mean of 14.3
    level, title = _found(RunData(pairs=pairs(heavy, [1.0] * len(heavy))))["dominance"]
    assert level == "warn" and title.startswith("one prompt holds 93% of the pairs")


def test_margins_piled_at_the_threshold():
    info = RunRecord(producer="t", config=dpo_frames.PairConfig(min_score_diff=0.3))
    piled = pairs([f"p{i}" for i in range(10)], [0.3] * 4 + [0.6, 0.7, 0.8, 0.9, 1.0, 1.0])
    level, title = _found(RunData(pairs=piled, info=info))["margin_pile"]
    assert (level, title) == ("warn", "40% of the margins are piled at min_score_diff 0.3")
    spread = pairs([f"p{i}" for i in range(10)], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.0, 1.0])
    assert _found(RunData(pairs=spread, info=info))["margin_pile"][0] == "ok"


def _split_stats(val_prompts: int, prompts: int, val_pairs: int, total: int) -> DatasetStats:
    return DatasetStats(
        input_pairs=total,
        pairs=total,
        train_pairs=total - val_pairs,
        validation_pairs=val_pairs,
        prompts=prompts,
        validation_prompts=val_prompts,
        validation_fraction=0.2,
    )


@pytest.mark.parametrize(
    ("stats", "level"),
    [
        (_split_stats(100, 500, 400, 2000), "ok"),  # 20% of prompts and pairs
        (_split_stats(60, 500, 250, 2000), "warn"),  # 12% of the prompts: 5 sd off
        (_split_stats(100, 500, 150, 2000), "warn"),  # the prompts as asked, but 7.5% of the pairs
        (_split_stats(1, 8, 1, 8), "ok"),  # 12.5% of 8 prompts is within 3 sd
        (_split_stats(0, 8, 0, 8), "bad"),
    ],
)
def test_the_validation_split_against_the_asked_fraction(stats, level):
    assert _found(RunData(dataset_stats=stats))["split"][0] == level


def test_cross_split_overlap():
    leaky = pairs(["a", "a", "b", "c"], [1.0] * 4, split=["train", "validation", "train", "validation"])
    found = _found(RunData(dataset=leaky))
    assert found["cross_split"] == ("bad", "1 prompt(s) in both train and validation")
    clean = pairs(["a", "a", "b", "c"], [1.0] * 4, split=["train", "train", "train", "validation"])
    assert _found(RunData(dataset=clean))["cross_split"][0] == "ok"
    near = pairs(["a", "A ", "b"], [1.0] * 3, split=["train", "validation", "train"])
    assert _found(RunData(dataset=near))["cross_split_near"][0] == "warn"


def test_duplicates():
    stats = DatasetStats(input_pairs=100, duplicate_pairs=20, pairs=80, train_pairs=64, validation_pairs=16, prompts=10)
    assert _found(RunData(dataset_stats=stats))["duplicates"] == ("warn", "20% of the pairs were duplicates")


def test_most_serious_first_and_the_bundled_example():
    steps = dpo_frames.read_steps(data.EXAMPLE_OUTPUT)
    found_candidates, _ = dpo_frames.extract_candidates(steps)
    frame, stats = dpo_frames.build_pairs(found_candidates)
    findings = health_checks(RunData(candidates=found_candidates, pairs=frame, pair_stats=stats))
    order = [f.level for f in findings]
    assert order == sorted(order, key=list(Level).index)
    assert [f.key for f in findings if f.level is not Level.OK] == ["ties"]  # 62% tied; the rest is fine


def test_shares_read_well():
    assert [share(x) for x in (1.0, 0.625, 0.1, 0.0999, 0.012, 0.0)] == ["100%", "62%", "10%", "10%", "1.2%", "0%"]
    assert pl.Series([0.045]).map_elements(share, pl.String).item() == "4.5%"
