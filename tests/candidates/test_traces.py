"""Steps as real workflows record them, on both extraction paths (NAT objects in Python, the steps
frame in DuckDB): step UUIDs reused across turns, and a candidate's own answer echoed at the end
of its prompt."""

from __future__ import annotations

import logging

import polars as pl
import pytest

import dpo_frames
from dpo_frames.candidates.echo import strip_echoes
from tests.conftest import ttc_step

SYSTEM = {"role": "system", "content": "rules"}
USER = {"role": "user", "content": "board"}


def both_paths(steps, **kw) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """(candidates, rejects) from the NAT objects and from their steps frame: they must agree."""
    fast = dpo_frames.extract_candidates(steps, run_id="r", **kw)
    slow = dpo_frames.extract_candidates(dpo_frames.read_steps(steps, run_id="r"), **kw)
    assert fast[0].equals(slow[0]) and fast[1].equals(slow[1])
    return [fast, slow]


def with_uuid(step, uuid: str):
    step.payload.UUID = uuid
    return step


def test_a_step_uuid_reused_for_other_data_is_kept_on_both_paths() -> None:
    """NAT's own multi-turn fixtures give every turn's candidates the ids test-uuid-0, -1, ..."""
    steps = [
        with_uuid(ttc_step(turn_id=turn, candidate_index=i, score=s, output=f"{turn} {i}"), f"test-uuid-{i}")
        for turn, scores in (("turn_0", (0.9, 0.7)), ("turn_1", (0.8, 0.6, 0.4)))
        for i, s in enumerate(scores)
    ]
    for candidates, rejects in both_paths(steps):
        assert candidates.height == 5 and rejects.height == 0
        pairs, _ = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig())
        assert pairs.height == 4  # was 1: three steps were "duplicates"


def test_the_same_step_twice_is_a_duplicate_on_both_paths() -> None:
    first = with_uuid(ttc_step(score=0.9, output="a"), "u1")
    again = first.model_copy(deep=True)
    other = with_uuid(ttc_step(score=0.1, output="b"), "u1")  # the id once more, other data: kept
    for candidates, rejects in both_paths([first, again, other]):
        assert candidates["response"].to_list() == ["a", "b"]
        assert rejects["reason"].to_list() == ["duplicate step"]


def echo_steps() -> list:
    """Three candidates recorded after their answer; the second retried once first."""
    retry = [{"role": "assistant", "content": "I play row 4."}, {"role": "user", "content": "invalid, again"}]
    prompts = [
        [SYSTEM, USER, {"role": "assistant", "content": "a"}],
        [SYSTEM, USER, *retry, {"role": "assistant", "content": " b\n"}],  # white space around it
        [SYSTEM, USER, {"role": "assistant", "content": "c"}],
    ]
    return [
        ttc_step(candidate_index=i, score=s, output=o, prompt=p)
        for i, (s, o, p) in enumerate(zip((1.0, 0.5, 0.0), "abc", prompts, strict=True))
    ]


def test_an_echoed_answer_is_stripped_on_both_paths(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dpo_frames"):
        results = both_paths(echo_steps())
    assert "3 of 3 candidates had their own answer as the last message" in caplog.text
    for candidates, rejects in results:
        assert rejects.height == 0
        assert candidates["prompt_text"].to_list() == ["board", "invalid, again", "board"]
        messages = candidates["prompt_messages"].to_list()
        assert messages[0] == messages[2] == [SYSTEM, USER] and len(messages[1]) == 4
        pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig())
        assert pairs.select("chosen_response", "rejected_response").rows() == [("a", "c")]
        assert stats.prompt_mismatch_turns == 1 and stats.cross_prompt_pairs == 2  # the retried one
        assert not (pairs["prompt_text"] == pairs["chosen_response"]).any()


def test_prompts_as_recorded_when_asked() -> None:
    for candidates, _ in both_paths(echo_steps(), strip_echoed_output=False):
        assert candidates["prompt_text"].to_list() == ["a", " b\n", "c"]
        _, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig())
        assert stats.candidate_pairs == 0 and stats.cross_prompt_pairs == 3
        assert stats.prompt_mismatch_warning() is not None and "(100%)" in stats.prompt_mismatch_warning()


def test_not_an_echo_a_string_prompt_another_answer_or_a_user_message() -> None:
    steps = [
        ttc_step(candidate_index=0, score=1.0, output="a", prompt="a"),  # a string prompt is never stripped
        ttc_step(candidate_index=1, score=0.5, output="b", prompt=[USER, {"role": "assistant", "content": "x"}]),
        ttc_step(candidate_index=2, score=0.0, output="c", prompt=[SYSTEM, {"role": "user", "content": "c"}]),
    ]
    for candidates, _ in both_paths(steps):
        assert candidates["prompt_text"].to_list() == ["a", "x", "c"]


def test_a_prompt_that_was_only_the_echo_is_a_reject() -> None:
    steps = [
        ttc_step(candidate_index=0, score=1.0, output="a", prompt=[{"role": "assistant", "content": "a"}]),
        ttc_step(candidate_index=1, score=0.0, output="b", prompt=[USER, {"role": "assistant", "content": "b"}]),
    ]
    for candidates, rejects in both_paths(steps):
        assert candidates["response"].to_list() == ["b"]
        assert rejects["reason"].to_list() == ["missing input"] and rejects["source"][0] == steps[0].payload.UUID
    _, _, echoes = strip_echoes(dpo_frames.extract_candidates(steps, strip_echoed_output=False)[0])
    assert echoes == 2
