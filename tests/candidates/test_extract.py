from __future__ import annotations

import json

import polars as pl

import dpo_frames
from dpo_frames import RejectReason
from tests.conftest import ttc_step


def step(data, uuid="u", name="dpo_candidate_move", event_type="TTC_END", example_id="e"):
    return {"example_id": example_id, "payload": {"event_type": event_type, "name": name, "UUID": uuid, "data": data}}


GOOD = {"turn_id": "t", "turn_index": 2, "candidate_index": 1, "score": 0.5, "input": "p", "output": "o"}
BAD_CASES = {
    "unparsable data": None,
    "missing turn_id": {**GOOD, "turn_id": None},
    "missing score": {k: v for k, v in GOOD.items() if k != "score"},
    "non-numeric score": {**GOOD, "score": "high"},
    "non-finite score": {**GOOD, "score": float("nan")},
    "invalid candidate_index": {**GOOD, "candidate_index": "first"},
    "missing input": {**GOOD, "input": []},
    "missing input ": {**GOOD, "input": [{"role": "system", "content": "rules"}, {"role": "user", "content": ""}]},
    "invalid input": {**GOOD, "input": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
    "missing output": {**GOOD, "output": ""},
}


def test_every_malformed_candidate_is_rejected_with_its_reason():
    steps = dpo_frames.read_steps([step(d, uuid=reason) for reason, d in BAD_CASES.items()] + [step(GOOD, "ok")])
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert candidates["step_uuid"].to_list() == ["ok"]
    assert rejects["source"].to_list() == list(BAD_CASES)
    assert rejects["reason"].to_list() == [reason.strip() for reason in BAD_CASES]
    assert set(rejects["reason"]) <= {r.value for r in RejectReason}
    assert json.loads(rejects.filter(pl.col("reason") == "non-numeric score")["raw"][0])["score"] == "high"


def test_string_and_message_prompts_and_odd_outputs():
    messages = [{"role": "system", "content": "rules"}, {"role": "user", "content": "board"}]
    steps = dpo_frames.read_steps(
        [
            step({**GOOD, "input": messages, "output": {"move": 3}}, "a"),
            step({**GOOD, "score": "0.25", "candidate_index": None}, "b"),
            step({**GOOD, "turn_id": 7}, "c"),
        ]
    )
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert rejects.height == 0
    rows = candidates.to_dicts()
    assert rows[0]["prompt_text"] == "board" and rows[0]["prompt_messages"] == messages
    assert json.loads(rows[0]["response"]) == {"move": 3}
    assert rows[1]["prompt_messages"] is None and rows[1]["score"] == 0.25 and rows[1]["candidate_index"] == 0
    assert rows[2]["turn_id"] == "7" and rows[2]["turn_index"] == 2


def test_only_ttc_end_of_the_name_counts_and_everything_is_accounted_for():
    steps = dpo_frames.read_steps(
        [
            step(GOOD, "1"),
            step(GOOD, "2", name="other"),
            step(GOOD, "3", event_type="TTC_START"),
            step(GOOD, "4", event_type="LLM_END"),
            step(GOOD, "1"),  # the last repeats step 1
        ]
    )
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert candidates["step_uuid"].to_list() == ["1"]
    assert rejects["reason"].to_list() == ["duplicate step"]
    summary = dpo_frames.summarize_steps(steps)
    assert summary.filter("candidate_step")["steps"].sum() == candidates.height + rejects.height
    assert summary["steps"].sum() == steps.height
    renamed, _ = dpo_frames.extract_candidates(steps, step_name="other")
    assert renamed["step_uuid"].to_list() == ["2"]


def test_unparsable_jsonl_lines_are_rejected_with_their_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"payload": step(GOOD)["payload"]}) + "\n{broken\n")
    _, rejects = dpo_frames.extract_candidates(dpo_frames.read_steps(path))
    assert rejects.rows() == [("step 2", "unparsable step", "{broken")]


def test_nat_objects_end_to_end_counts():
    objs = [ttc_step(candidate_index=i, score=s, output=f"o{i}") for i, s in enumerate([0.9, 0.5, None])]
    candidates, rejects = dpo_frames.extract_candidates(dpo_frames.read_steps(objs))
    assert candidates["score"].to_list() == [0.9, 0.5]
    assert rejects["reason"].to_list() == ["missing score"]


def test_data_text_of_a_hand_made_steps_frame_is_read_as_json_defines_it():
    """JSON whitespace may lead an object; anything else that is not one JSON object is unparsable."""
    good = json.dumps({**GOOD, "input": [{"role": "user", "content": "p"}]}, indent=1)
    texts = {
        "spaces": " \t\r\n" + good,
        "bom": "\ufeff" + good,
        "vertical tab": "\v" + good,
        "array": "[1]",
        "truncated": good[:-1],
        "trailing garbage": good + " x",
        "plain": good,
    }
    steps = dpo_frames.read_steps([step(GOOD, uuid=k) for k in texts]).with_columns(
        data=pl.Series(list(texts.values()))
    )
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert candidates["step_uuid"].to_list() == ["spaces", "plain"]
    assert candidates["prompt_messages"].to_list() == [[{"role": "user", "content": "p"}]] * 2
    assert rejects["source"].to_list() == ["bom", "vertical tab", "array", "truncated", "trailing garbage"]
    assert set(rejects["reason"]) == {"unparsable data"}


def test_extra_columns_of_a_steps_frame_never_shadow_the_query_s_own_names():
    messages = [{"role": "user", "content": "board"}]
    steps = dpo_frames.read_steps([step({**GOOD, "input": messages}, "m"), step(GOOD, "s")])
    extra = {
        name: pl.lit("EXTRA")
        for name in (
            "d",
            "j",
            "msgs",
            "input_s",
            "output_s",
            "last_content",
            "reason",
            "input_t",
            "output_t",
            "messages_ok",
            "n_messages",
            "_duplicate",
        )
    }
    candidates, rejects = dpo_frames.extract_candidates(steps.with_columns(**extra))
    assert rejects.height == 0
    assert candidates["prompt_text"].to_list() == ["board", "p"] and candidates["response"].to_list() == ["o", "o"]
