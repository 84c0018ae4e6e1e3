"""quality_checks on hand-made candidates, pairs and datasets with known answers."""

from __future__ import annotations

import polars as pl
import pytest

import dpo_frames
from dpo_frames import schema
from dpo_frames.explore.quality import quality_checks


def candidates(groups: list[tuple[str, str, list[float]]], responses: dict[int, str] | None = None) -> pl.DataFrame:
    rows = []
    for turn_id, prompt, scores in groups:
        for i, s in enumerate(scores):
            rows.append(
                {
                    "run_id": "r",
                    "example_id": "e",
                    "turn_id": turn_id,
                    "turn_index": 0,
                    "candidate_index": i,
                    "prompt_text": prompt,
                    "prompt_messages": None,
                    "response": f"{turn_id}-{i}",
                    "score": s,
                    "step_uuid": None,
                    "metadata": None,
                }
            )
    for index, text in (responses or {}).items():
        rows[index]["response"] = text
    return pl.DataFrame(rows, schema=dict(schema.CANDIDATES))


def pairs(prompts: list[str], diffs: list[float], chosen=None, rejected=None, split=None) -> pl.DataFrame:
    n = len(prompts)
    frame = pl.DataFrame(
        {
            "run_id": "r",
            "example_id": "e",
            "turn_id": "t",
            "prompt_text": prompts,
            "prompt_messages": pl.Series([None] * n, dtype=schema.MESSAGES),
            "chosen_response": chosen or [f"c{i}" for i in range(n)],
            "rejected_response": rejected or [f"r{i}" for i in range(n)],
            "chosen_score": 1.0,
            "rejected_score": 0.0,
            "score_diff": diffs,
            "chosen_index": 0,
            "rejected_index": 1,
            "reward": 1.0,
            "pair_id": [f"id{i}" for i in range(n)],
        }
    )
    if split is not None:
        frame = frame.with_columns(split=pl.Series(split))
        return schema.conform(frame, schema.DATASET, "dataset")
    return schema.conform(frame, schema.PAIRS, "pairs")


def test_ties_among_candidates():
    # t1: 1, 1, 0.5, 0.5 -> 6 pairs, 2 tied, best tied. t2: 1, 0 -> 1 pair. A NaN is not usable.
    frame = candidates([("t1", "p", [1.0, 1.0, 0.5, 0.5]), ("t2", "q", [1.0, 0.0, float("nan")])], responses={5: "  "})
    report = quality_checks(frame)
    assert (report.candidates, report.candidate_pairs, report.tied_candidate_pairs) == (6, 7, 2)
    assert report.tie_rate == pytest.approx(2 / 7)
    assert (report.prompt_groups, report.groups_with_tied_best) == (2, 1)
    assert report.empty_candidate_responses == 1
    assert report.checked is None and report.cross_split_ok is None


def test_margins_and_pairs_per_prompt():
    prompts = ["a"] * 6 + ["b"] * 3 + ["c"]
    diffs = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    report = quality_checks(pairs=pairs(prompts, diffs))
    assert report.checked == "pairs" and report.pairs == 10
    assert (report.margin.min, report.margin.max, report.margin.p50) == (0.1, 1.0, pytest.approx(0.55))
    assert report.margin.mean == pytest.approx(0.55)
    assert report.prompts == 3
    assert (report.pairs_per_prompt.min, report.pairs_per_prompt.max, report.pairs_per_prompt.p50) == (1, 6, 3)
    assert report.top_prompts == 1 and report.top_prompts_share == pytest.approx(0.6)


def test_identical_near_identical_and_empty_responses():
    frame = pairs(["a", "b", "c", "d"], [1.0] * 4, chosen=["x", "Same ", "", "ok"], rejected=["x", "same", "y", "no"])
    report = quality_checks(pairs=frame)
    assert report.identical_response_pairs == 1
    assert report.near_identical_response_pairs == 2
    assert report.empty_response_pairs == 1
    assert len(report.warnings) == 3 and not report.ok()


def test_cross_split_overlap_is_flagged():
    clean = pairs(["a", "a", "b"], [1.0] * 3, split=["train", "train", "validation"])
    report = quality_checks(dataset=clean)
    assert report.checked == "dataset" and report.cross_split_prompts == 0 and report.cross_split_ok
    leaky = pairs(["a", "a", "b", "B "], [1.0] * 4, split=["train", "validation", "validation", "train"])
    report = quality_checks(dataset=leaky)
    assert report.cross_split_prompts == 1 and report.cross_split_ok is False
    assert report.cross_split_prompts_normalized == 2
    assert any("both train and validation" in w for w in report.warnings)


def test_a_finalized_dataset_never_leaks_and_lazy_frames_work():
    frame = pairs([f"p{i % 13}" for i in range(100)], [i / 100 for i in range(100)])
    dataset, _ = dpo_frames.finalize_dataset(frame, deduplicate=False)
    report = quality_checks(pairs=frame.lazy(), dataset=dataset.lazy())
    assert report.cross_split_ok and report.pairs == 100 and report.prompts == 13


def test_dominance_warning_needs_many_prompts():
    prompts = ["big"] * 300 + [f"p{i}" for i in range(150)]
    report = quality_checks(pairs=pairs(prompts, [1.0] * len(prompts)))
    assert report.prompts == 151 and report.top_prompts == 2
    assert report.top_prompts_share == pytest.approx(301 / 450)
    assert any("hold 67% of the pairs" in w for w in report.warnings)
