"""Pairing strategies on hand-made turns: the documented choices, ties, seeds, bounds, config."""

from __future__ import annotations

import statistics

import polars as pl
import pytest
from pydantic import ValidationError

import dpo_frames
from dpo_frames import schema
from dpo_frames.pairs.config import PairStrategy


def turn(scores, texts=None, indexes=None, turn_id="t", prompt="p") -> list[dict]:
    texts = texts or [f"r{i}" for i in range(len(scores))]
    indexes = indexes if indexes is not None else list(range(len(scores)))
    return [
        {
            "run_id": "r",
            "example_id": "e",
            "turn_id": turn_id,
            "turn_index": 0,
            "candidate_index": ci,
            "prompt_text": prompt,
            "prompt_messages": None,
            "response": t,
            "score": s,
            "step_uuid": None,
            "metadata": None,
        }
        for s, t, ci in zip(scores, texts, indexes, strict=True)
    ]


def build(rows, **cfg):
    frame = pl.DataFrame(rows, schema=dict(schema.CANDIDATES))
    pairs, stats = dpo_frames.build_pairs(frame, dpo_frames.PairConfig(**cfg))
    return pairs.select("chosen_response", "rejected_response").rows(), stats


FIVE = turn([1.0, 0.75, 0.5, 0.25, 0.0], ["a", "b", "c", "d", "e"])  # binary fractions: exact differences


@pytest.mark.parametrize(
    "strategy, expected",
    [
        (
            "exhaustive",
            [
                ("a", "e"),
                ("a", "d"),
                ("b", "e"),
                ("a", "c"),
                ("b", "d"),
                ("c", "e"),
                ("a", "b"),
                ("b", "c"),
                ("c", "d"),
                ("d", "e"),
            ],
        ),
        ("best_vs_worst", [("a", "e")]),
        ("best_vs_all", [("a", "e"), ("a", "d"), ("a", "c"), ("a", "b")]),
        ("best_vs_mean_minus_2sd", [("a", "e")]),  # mean - 2 sd = -0.21: the worst is closest
        ("adjacent", [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]),
    ],
)
def test_each_strategy_on_one_turn(strategy, expected):
    got, stats = build(FIVE, strategy=strategy)
    assert got == expected
    assert stats.eligible_pairs == 10
    assert stats.pairs + stats.not_best_vs_worst_pairs + stats.not_selected_pairs == 10


def test_best_vs_random_is_seeded_and_independent_of_row_order():
    picks = {seed: build(FIVE, strategy="best_vs_random", seed=seed)[0] for seed in range(12)}
    assert all(len(p) == 1 and p[0][0] == "a" for p in picks.values())
    assert len({p[0][1] for p in picks.values()}) >= 3  # the draw does vary with the seed
    for seed, pick in picks.items():
        assert build(list(reversed(FIVE)), strategy="best_vs_random", seed=seed)[0] == pick


def test_mean_minus_2sd_uses_the_population_sd():
    """Eight candidates at 1.0 and 0.7, 0.3, 0.0: mean - 2 sd is 0.153 with the population sd
    (closest: 0.3) and 0.121 with the sample sd (closest: 0.0)."""
    scores = [1.0] * 8 + [0.7, 0.3, 0.0]
    texts = [f"top{i}" for i in range(8)] + ["x7", "x3", "x0"]
    target = statistics.fmean(scores) - 2 * statistics.pstdev(scores)
    assert abs(target - 0.1531) < 1e-4
    got, stats = build(turn(scores, texts), strategy="best_vs_mean_minus_2sd")
    assert got == [("top0", "x3")]  # top0: the lowest candidate index among the tied best
    assert stats.tied_pairs == 28 and stats.not_selected_pairs == 8 * 3 + 3 - 1


def test_mean_minus_2sd_picks_inside_the_range_when_scores_are_skewed():
    # 12 at 1.0 and 0.5, 0.25, 0.0: mean 0.9, population sd 0.339, target 0.223 -> 0.25, not the worst.
    scores = [1.0] * 12 + [0.5, 0.25, 0.0]
    assert abs(statistics.fmean(scores) - 2 * statistics.pstdev(scores) - 0.2228) < 1e-4
    assert build(turn(scores), strategy="best_vs_mean_minus_2sd")[0] == [("r0", "r13")]
    assert build(turn(scores), strategy="best_vs_worst")[0] == [("r0", "r14")]


def test_ties_never_pair_and_the_tied_best_is_the_lowest_candidate_index():
    rows = turn([1.0, 1.0, 0.5, 0.5], ["hi-b", "hi-a", "lo-a", "lo-b"], indexes=[3, 1, 0, 2])
    got, stats = build(rows, strategy="best_vs_all")
    assert got == [("hi-a", "lo-a"), ("hi-a", "lo-b")] and stats.tied_pairs == 2
    got, _ = build(rows, strategy="adjacent")  # every candidate once as chosen, against the next lower score
    assert got == [("hi-a", "lo-a"), ("hi-b", "lo-a")]


def test_filters_come_before_the_strategy():
    # The best's text equals the worst's: best_vs_all keeps the best's other partners.
    rows = turn([1.0, 0.6, 0.5, 0.0], ["same", "b", "c", "same"])
    got, stats = build(rows, strategy="best_vs_all")
    assert got == [("same", "c"), ("same", "b")] and stats.identical_response_pairs == 1
    # adjacent with a margin: the next lower score at least min_score_diff below.
    got, _ = build(turn([1.0, 0.9, 0.5, 0.45]), strategy="adjacent", min_score_diff=0.3)
    assert got == [("r0", "r2"), ("r1", "r2")]


def test_max_candidates_per_turn_keeps_the_top_and_bottom_scores():
    rows = turn([0.5, 0.9, 0.1, 0.7, 0.3, 1.0, 0.0])
    got, stats = build(rows, max_candidates_per_turn=4)  # keep 1.0, 0.9 (top 2) and 0.1, 0.0 (bottom 2)
    kept = {t for pair in got for t in pair}
    assert kept == {"r5", "r1", "r2", "r6"}
    assert stats.trimmed_candidates == 3 and stats.trimmed_pairs == 21 - 6
    assert (
        stats.candidate_pairs
        == stats.trimmed_pairs
        + stats.tied_pairs
        + stats.below_margin_pairs
        + stats.identical_response_pairs
        + stats.eligible_pairs
    )


def test_a_thousand_candidates_per_turn_is_bounded():
    n = 1000
    rows = turn([i / n for i in range(n)])
    frame = pl.DataFrame(rows, schema=dict(schema.CANDIDATES))
    pairs, stats = dpo_frames.build_pairs(
        frame, dpo_frames.PairConfig(strategy="best_vs_worst", max_candidates_per_turn=64)
    )
    assert stats.candidate_pairs == n * (n - 1) // 2 and stats.eligible_pairs == 64 * 63 // 2
    assert stats.trimmed_candidates == n - 64
    assert pairs.select("chosen_score", "rejected_score").row(0) == (0.999, 0.0)


def test_strategy_and_exhaustive_pairs():
    assert dpo_frames.PairConfig().pair_strategy is PairStrategy.EXHAUSTIVE
    assert dpo_frames.PairConfig(exhaustive_pairs=False).pair_strategy is PairStrategy.BEST_VS_WORST
    assert dpo_frames.PairConfig(strategy="adjacent").pair_strategy is PairStrategy.ADJACENT
    assert dpo_frames.PairConfig(strategy="exhaustive", exhaustive_pairs=True).pair_strategy is PairStrategy.EXHAUSTIVE
    with pytest.raises(
        ValidationError, match=r"exhaustive_pairs=True \(every pair\) disagrees with strategy 'best_vs_all'"
    ):
        dpo_frames.PairConfig(strategy="best_vs_all", exhaustive_pairs=True)
    with pytest.raises(ValidationError, match="disagrees with strategy 'exhaustive'"):
        dpo_frames.PairConfig(strategy="exhaustive", exhaustive_pairs=False)
    # false says "not every pair": any other strategy agrees; a set strategy keeps the old key truthful.
    assert dpo_frames.PairConfig(strategy="adjacent", exhaustive_pairs=False).pair_strategy is PairStrategy.ADJACENT
    config = dpo_frames.PairConfig(strategy="best_vs_random", seed=3)
    assert config.exhaustive_pairs is False
    assert dpo_frames.PairConfig.model_validate_json(config.model_dump_json()) == config
    with pytest.raises(ValidationError, match="strategy"):
        dpo_frames.PairConfig(strategy="best_vs_median")
    with pytest.raises(ValidationError):
        dpo_frames.PairConfig(max_candidates_per_turn=1)
    # model_copy(update=...) skips validation: exhaustive_pairs still decides when strategy is unset.
    copied = dpo_frames.PairConfig().model_copy(update={"exhaustive_pairs": False})
    assert copied.pair_strategy is PairStrategy.BEST_VS_WORST
    config = dpo_frames.PairConfig(strategy="adjacent")
    with pytest.raises(ValidationError):
        config.exhaustive_pairs = True


def test_a_self_join_too_large_is_refused_with_the_way_out(monkeypatch):
    import dpo_frames.pairs.engine as engine

    monkeypatch.setattr(engine, "MAX_JOIN_ROWS", 1000)
    frame = pl.DataFrame(turn([i / 40 for i in range(40)]), schema=dict(schema.CANDIDATES))
    with pytest.raises(ValueError, match="max_candidates_per_turn"):
        dpo_frames.build_pairs(frame)
    pairs, _ = dpo_frames.build_pairs(frame, dpo_frames.PairConfig(max_candidates_per_turn=16))
    assert pairs.height == 16 * 15 // 2
