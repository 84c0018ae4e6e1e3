"""The pairs file of a candidates file, built part by part, is build_pairs' frame row for row (issue 18)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames.scale import pairs_file
from dpo_frames.scale.pairs_file import pairs_to_file
from dpo_frames.schema import TURN_KEYS
from tests.hypothesis_profiles import examples
from tests.pairs.test_engine_property import CONFIGS, candidate_rows, frame

SCORES = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, float("nan")])


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=candidate_rows(max_size=60, scores=SCORES),
    cfg=CONFIGS,
    per_part=st.sampled_from([1, 2, 5, 1000]),
    batch_rows=st.sampled_from([3, 7, 50_000]),
    turns_in_runs=st.booleans(),
)
def test_pairs_built_by_parts_are_the_whole_build(tmp_path_factory, rows, cfg, per_part, batch_rows, turns_in_runs):
    tmp = tmp_path_factory.mktemp("p")
    candidates = frame(rows)
    if turns_in_runs:  # each turn's candidates one after the other (parts read in place, unless NaNs lead turns)
        candidates = candidates.sort(TURN_KEYS, nulls_last=True, maintain_order=True)
    candidates.write_parquet(tmp / "candidates.parquet")
    config = dpo_frames.PairConfig(**cfg)
    pairs, stats = dpo_frames.build_pairs(candidates, config)
    with pytest.MonkeyPatch.context() as patch:  # the candidates split a few rows at a time, as in big files
        patch.setattr(pairs_file, "_BATCH_ROWS", batch_rows)
        got = pairs_to_file(tmp / "candidates.parquet", tmp / "pairs.parquet", config, candidates_per_part=per_part)
    assert got == stats
    assert pl.read_parquet(tmp / "pairs.parquet").equals(pairs)
    assert sorted(p.name for p in tmp.iterdir()) == ["candidates.parquet", "pairs.parquet"]  # the parts removed


def test_interleaved_turns_of_the_example_split_in_many_parts(tmp_path, example_output):
    candidates, _ = dpo_frames.extract_candidates(example_output, run_id="r")
    shuffled = candidates.sample(fraction=1.0, shuffle=True, seed=5)  # turns interleaved all through the file
    shuffled.write_parquet(tmp_path / "candidates.parquet")
    pairs, stats = dpo_frames.build_pairs(shuffled)
    assert pairs_to_file(tmp_path / "candidates.parquet", tmp_path / "pairs.parquet", candidates_per_part=3) == stats
    assert pl.read_parquet(tmp_path / "pairs.parquet").equals(pairs) and stats.pairs > 0


def test_a_part_size_below_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="candidates_per_part"):
        pairs_to_file(tmp_path / "c.parquet", tmp_path / "p.parquet", candidates_per_part=0)


def row(i, example, score, response="a"):
    """One candidate of turn t of ``example``."""
    return {
        "run_id": "r",
        "example_id": example,
        "turn_id": "t",
        "turn_index": 0,
        "candidate_index": i,
        "prompt_text": "p",
        "prompt_messages": None,
        "response": response,
        "score": score,
        "step_uuid": f"u{i}",
        "metadata": None,
    }


def test_a_turn_whose_first_candidate_is_unusable_is_ordered_by_its_first_usable_one(tmp_path):
    # e1 appears first, but by a NaN score that build_pairs sets aside: e2 is its first turn
    rows = [
        row(0, "e1", float("nan")),
        row(1, "e2", 0.0),
        row(2, "e2", 1.0, "b"),
        row(3, "e1", 0.0),
        row(4, "e1", 1.0, "b"),
    ]
    candidates = frame(rows)
    candidates.write_parquet(tmp_path / "candidates.parquet")
    pairs, stats = dpo_frames.build_pairs(candidates)
    assert pairs_to_file(tmp_path / "candidates.parquet", tmp_path / "pairs.parquet", candidates_per_part=1) == stats
    assert (
        pl.read_parquet(tmp_path / "pairs.parquet")["example_id"].to_list()
        == pairs["example_id"].to_list()
        == ["e2", "e1"]
    )


@pytest.mark.parametrize("shuffled", [False, True])
def test_parts_are_read_in_place_when_turns_come_one_after_the_other(tmp_path, example_output, monkeypatch, shuffled):
    candidates, _ = dpo_frames.extract_candidates(example_output, run_id="r")
    if shuffled:
        candidates = candidates.sample(fraction=1.0, shuffle=True, seed=5)
    candidates.write_parquet(tmp_path / "candidates.parquet")
    split = pairs_file._split_by_first_appearance
    calls = []
    monkeypatch.setattr(pairs_file, "_split_by_first_appearance", lambda *a: calls.append(a) or split(*a))
    pairs_to_file(tmp_path / "candidates.parquet", tmp_path / "pairs.parquet", candidates_per_part=3)
    assert pl.read_parquet(tmp_path / "pairs.parquet").equals(dpo_frames.build_pairs(candidates)[0])
    assert len(calls) == shuffled  # part files written only where turns interleave


@pytest.mark.parametrize("statistics", [True, False])
def test_a_turn_led_by_a_candidate_without_a_response_is_ordered_by_its_first_usable_one(tmp_path, statistics):
    texts = [("e1", None, 1.0), ("e2", "a", 1.0), ("e2", "b", 0.0), ("e1", "a", 1.0), ("e1", "b", 0.0)]
    candidates = frame([row(i, example, score, text) for i, (example, text, score) in enumerate(texts)])
    candidates.write_parquet(tmp_path / "candidates.parquet", statistics=statistics)
    pairs, stats = dpo_frames.build_pairs(candidates)
    assert pairs_to_file(tmp_path / "candidates.parquet", tmp_path / "pairs.parquet", candidates_per_part=1) == stats
    assert pl.read_parquet(tmp_path / "pairs.parquet").equals(pairs)
    assert stats.invalid_candidates == 1 and pairs["example_id"].to_list() == ["e2", "e1"]


def test_never_null_reads_the_statistics_of_every_row_group(tmp_path):
    texts = pl.DataFrame({"response": ["a", "b", None, "d"], "prompt_text": ["p"] * 4})
    texts.write_parquet(tmp_path / "t.parquet", row_group_size=2)
    assert pairs_file._never_null(tmp_path / "t.parquet", ["response", "prompt_text", "turn_id"]) == {"prompt_text"}
    texts.write_parquet(tmp_path / "u.parquet", statistics=False)
    assert pairs_file._never_null(tmp_path / "u.parquet", ["response", "prompt_text"]) == set()
