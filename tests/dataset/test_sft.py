"""SFT from scored candidates: the best of each turn, its thresholds, ties as the pair engine breaks them,
and the same dedup, seeded sample and leak-free split as pairs."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import dpo_frames
from dpo_frames import schema
from tests.hypothesis_profiles import examples
from tests.pairs.test_engine_property import candidate_rows, frame
from tests.pairs.test_strategies import turn


def sft(rows, **cfg):
    return dpo_frames.build_sft(pl.DataFrame(rows, schema=dict(schema.CANDIDATES)), dpo_frames.SftConfig(**cfg))


def test_the_best_of_each_turn_with_the_pair_engines_tie_break():
    rows = turn([1.0, 1.0, 0.0], ["x", "y", "z"], indexes=[2, 1, 0]) + turn([0.2, 0.7], turn_id="u")
    got, stats = sft(rows)
    assert sorted(zip(got["turn_id"], got["completion"], got["candidate_index"])) == [("t", "y", 1), ("u", "r1", 1)]
    pairs, _ = dpo_frames.build_pairs(
        pl.DataFrame(rows, schema=dict(schema.CANDIDATES)), dpo_frames.PairConfig(strategy="best_vs_all")
    )
    assert set(pairs.filter(pl.col("turn_id") == "t")["chosen_index"]) == {1}  # the pair engine's best too
    assert (stats.turns, stats.prompt_groups, stats.tied_best_groups, stats.selected) == (2, 2, 1, 2)
    assert got.filter(pl.col("turn_id") == "t")["margin"].item() == 0.0
    assert got["label"].to_list() == [True, True] and got.schema == schema.COMPLETIONS


def test_min_score_and_margin_partition_the_groups():
    rows = (
        turn([1.0, 0.2], turn_id="a")  # margin 0.8: kept
        + turn([0.9, 0.8], turn_id="b")  # margin 0.1: below margin
        + turn([0.3, 0.0], turn_id="c")  # best below min_score
        + turn([0.95], turn_id="d")  # alone: no margin to measure
        + turn([0.7, 0.7], turn_id="e")  # a tie for best: margin 0
    )
    got, stats = sft(rows, min_score=0.5, min_margin=0.5)
    assert got["turn_id"].to_list() == ["a"]
    assert (stats.below_min_score, stats.below_margin, stats.single_candidate_skipped, stats.selected) == (1, 2, 1, 1)
    assert (
        stats.prompt_groups
        == stats.below_min_score + stats.below_margin + stats.single_candidate_skipped + stats.selected
    )
    alone, _ = sft(turn([0.95], turn_id="d"), min_score=0.5)  # without a margin a lone candidate is fine
    assert alone["completion"].to_list() == ["r0"]
    tie, _ = sft(turn([0.7, 0.7]), min_margin=0.0)  # margin 0 admits a tie for best
    assert tie.height == 1
    with pytest.raises(ValidationError):
        dpo_frames.SftConfig(min_margin=-1)
    with pytest.raises(ValidationError):
        dpo_frames.SftConfig(min_score=math.nan)


def test_a_turn_of_two_prompts_gives_one_record_per_prompt_and_is_counted():
    rows = turn([1.0, 0.0], prompt="p") + turn([0.5, 0.1], ["s", "t"], prompt="q")
    got, stats = sft(rows)
    assert sorted(got["completion"]) == ["r0", "s"] and stats.prompt_mismatch_turns == 1 and stats.turns == 1


def test_dedup_sample_and_split_are_the_pair_rules():
    rows = []
    for i in range(40):
        rows += turn([1.0, 0.0], [f"good {i % 30}", "bad"], turn_id=f"t{i}", prompt=f"p{i % 30}")
    full, stats = sft(rows)
    assert stats.split.duplicate_pairs == 10 and full.height == 30
    prompts = full.group_by("prompt_text").agg(pl.col("split").n_unique())
    assert (prompts["split"] == 1).all() and set(full["split"]) == {"train", "validation"}
    sample, s1 = dpo_frames.build_sft(frame(rows), max_records=7, seed=3)
    again, _ = dpo_frames.build_sft(frame(rows[::-1]), max_records=7, seed=3)  # order does not decide
    assert sorted(sample["record_id"]) == sorted(again["record_id"]) and s1.split.sampled_out_pairs == 23
    other, _ = dpo_frames.build_sft(frame(rows), max_records=7, seed=4)
    assert sorted(other["record_id"]) != sorted(sample["record_id"])
    # a prompt goes to the side the DPO split gives it (the same hash of its text)
    pairs, _ = dpo_frames.build_pairs(frame(rows))
    dpo, _ = dpo_frames.finalize_dataset(pairs)
    sides = dict(zip(dpo["prompt_text"], dpo["split"], strict=True))
    assert all(sides[p] == s for p, s in zip(full["prompt_text"], full["split"], strict=True))


def _oracle(rows, min_score, min_margin):
    """Plain Python: group by turn and prompt, the best by (score desc, candidate_index, input order)."""
    groups: dict = {}
    for pos, r in enumerate(rows):
        if r["score"] is None or not math.isfinite(r["score"]) or r["turn_id"] is None or r["response"] is None:
            continue
        key = (r["run_id"], r["example_id"], r["turn_id"], r["prompt_text"], repr(r["prompt_messages"]))
        groups.setdefault(key, []).append((-r["score"], r["candidate_index"], pos, r))
    picked = []
    for members in groups.values():
        members.sort(key=lambda m: m[:3])
        best = members[0][3]
        others = [m[3]["score"] for m in members[1:]]
        if min_score is not None and best["score"] < min_score:
            continue
        if min_margin is not None and (not others or best["score"] - max(others) < min_margin):
            continue
        picked.append((best["turn_id"], best["prompt_text"], best["response"], best["candidate_index"], best["score"]))
    return sorted(picked, key=repr)


@settings(max_examples=examples(150))
@given(
    rows=candidate_rows(),
    min_score=st.sampled_from([None, 0.0, 0.5]),
    min_margin=st.sampled_from([None, 0.0, 0.25]),
)
def test_the_selection_is_the_plain_python_rule(rows, min_score, min_margin):
    got, stats = dpo_frames.build_sft(
        frame(rows), dpo_frames.SftConfig(min_score=min_score, min_margin=min_margin), deduplicate=False
    )
    described = sorted(
        zip(got["turn_id"], got["prompt_text"], got["completion"], got["candidate_index"], got["score"], strict=True),
        key=repr,
    )
    assert described == _oracle(rows, min_score, min_margin)
    assert stats.candidates == len(rows) and stats.selected == got.height
