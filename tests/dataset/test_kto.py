"""KTO from scored candidates: labels by score or by rank, single-candidate turns, the class balance."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

import dpo_frames
from dpo_frames import schema
from tests.pairs.test_strategies import turn


def kto(rows, **cfg):
    frame = pl.DataFrame(rows, schema=dict(schema.CANDIDATES))
    return dpo_frames.build_kto(frame, dpo_frames.KtoConfig(**cfg), deduplicate=False)


def labels(got: pl.DataFrame) -> list[tuple]:
    return sorted(zip(got["turn_id"], got["completion"], got["label"], strict=True))


def test_by_rank_the_best_is_desirable_the_worst_undesirable_and_ties_never_undesirable():
    rows = (
        turn([1.0, 0.5, 0.0], ["a", "b", "c"], turn_id="t")
        + turn([0.9, 0.9, 0.1], ["x", "y", "z"], indexes=[1, 0, 2], turn_id="u")  # the tie goes to index 0
        + turn([0.4, 0.4], turn_id="v")  # all tied: nothing by rank
        + turn([0.8], turn_id="w")  # alone: nothing by rank
    )
    got, stats = kto(rows)
    assert labels(got) == [("t", "a", True), ("t", "c", False), ("u", "y", True), ("u", "z", False)]
    assert (stats.tied_groups, stats.single_candidate_groups, stats.single_candidate_records) == (1, 1, 0)
    assert stats.desirable + stats.undesirable + stats.unlabelled == stats.candidates == len(rows)
    everyone, _ = kto(rows, undesirable_bottom=None)  # all below the desirable ones
    assert ("t", "b", False) in labels(everyone) and ("u", "x", False) not in labels(everyone)  # x ties the best
    top_two, _ = kto(turn([1.0, 0.5, 0.0], ["a", "b", "c"]), desirable_top=2)
    assert labels(top_two) == [("t", "a", True), ("t", "b", True), ("t", "c", False)]


def test_by_score_single_candidate_turns_count():
    rows = (
        turn([1.0, 0.5, 0.0], ["a", "b", "c"]) + turn([0.9], ["solo"], turn_id="w") + turn([0.1], ["low"], turn_id="x")
    )
    got, stats = kto(rows, label_by="score", desirable_min_score=0.8, undesirable_max_score=0.2)
    assert labels(got) == [("t", "a", True), ("t", "c", False), ("w", "solo", True), ("x", "low", False)]
    assert (stats.single_candidate_groups, stats.single_candidate_records, stats.unlabelled) == (2, 2, 1)
    one_sided, _ = kto(rows, label_by="score", desirable_min_score=0.8)  # everything else undesirable
    assert ("t", "b", False) in labels(one_sided)
    rank_and_floor, _ = kto(rows, desirable_min_score=0.95)  # rank, and desirable must also score 0.95
    assert labels(rank_and_floor) == [("t", "a", True), ("t", "c", False)]


def test_config_validation():
    with pytest.raises(ValidationError, match="needs desirable_min_score"):
        dpo_frames.KtoConfig(label_by="score")
    with pytest.raises(ValidationError, match="must be greater"):
        dpo_frames.KtoConfig(label_by="score", desirable_min_score=0.5, undesirable_max_score=0.5)
    with pytest.raises(ValidationError):
        dpo_frames.KtoConfig(label_by="votes")


def test_class_balance_and_weights_for_kto_trainer():
    rows = []
    for i in range(30):  # each turn: one desirable, three undesirable -> 1:3
        rows += turn([1.0, 0.2, 0.1, 0.0], [f"good {i}", f"b{i}", f"c{i}", f"d{i}"], turn_id=f"t{i}", prompt=f"p{i}")
    got, stats = kto(rows, undesirable_bottom=None)
    train = got.filter(pl.col("split") == "train")
    good, bad = int(train["label"].sum()), int((~train["label"]).sum())
    assert (stats.train_desirable, stats.train_undesirable) == (good, bad) and bad == 3 * good
    assert stats.desirable_fraction == pytest.approx(0.25)
    ratio = stats.desirable_weight * good / (stats.undesirable_weight * bad)
    assert 1.0 <= ratio <= 4 / 3 and stats.desirable_weight > 1
    validation = got.filter(pl.col("split") == "validation")
    assert stats.validation_desirable == int(validation["label"].sum()) > 0
    mostly_good, s2 = kto(rows, label_by="score", undesirable_max_score=0.0)  # 3 desirable : 1
    assert (
        s2.undesirable_weight > 1
        and 1.0 <= s2.train_desirable / (s2.undesirable_weight * s2.train_undesirable) <= 4 / 3
    )
    assert mostly_good.height == len(rows)


def test_same_text_labelled_both_ways_is_counted_and_dedup_keeps_both_labels():
    rows = turn([1.0, 0.0], ["same", "other"], turn_id="a") + turn([1.0, 0.5, 0.0], ["x", "y", "same"], turn_id="b")
    got, stats = dpo_frames.build_kto(pl.DataFrame(rows, schema=dict(schema.CANDIDATES)))
    assert stats.conflicting_labels == 1 and got.filter(pl.col("completion") == "same").height == 2
