"""The in-memory fast path and the steps-frame (SQL) path give the same candidates and rejects."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import dpo_frames
from tests.conftest import ttc_step
from tests.hypothesis_profiles import examples

ODD = st.sampled_from(
    [
        None,
        "",
        "x",
        "0.5",
        " 2 ",
        "NaN",
        "inf",
        "abc",
        True,
        False,
        0,
        3,
        -1,
        2.0,
        0.25,
        2**63,
        "7",
        1e20,
        1.5e-7,
        [1.5e-7],
        10**400,
        "\u0661",
        "\xa01",
        "1\u2003",
        math.nan,
        math.inf,
        [],
        {},
        {"a": 1},
        [1, 2],
        "é漢",
    ]
)
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user"]), "content": st.sampled_from(["a", "b", ""])}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.sampled_from([None, 1, ["x"]])}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.just("c"), "name": st.just("n")}),
    st.just({"role": "user"}),
    st.just(1),
    st.just("text"),
)
INPUT = st.one_of(ODD, st.lists(MESSAGE, max_size=3), st.sampled_from(["prompt a", "prompt b"]))
DATA = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "turn_id": st.one_of(ODD, st.sampled_from(["t1", "t2"])),
            "turn_index": ODD,
            "candidate_index": ODD,
            "score": st.one_of(ODD, st.floats(-3, 3)),
            "input": INPUT,
            "output": st.one_of(ODD, st.sampled_from(["o1", "o2"])),
        },
    ),
    st.sampled_from([None, "not an object", 7, [1]]),
)
STEP = st.builds(
    lambda data, uuid, event_type, name, meta, eid, rid: {
        "example_id": eid,
        "run_id": rid,
        "payload": {"event_type": event_type, "name": name, "UUID": uuid, "data": data, "metadata": meta},
    },
    DATA,
    st.sampled_from([None, "u1", "u2", "u3"]),
    st.sampled_from(["TTC_END", "TTC_END", "TTC_START", None]),
    st.sampled_from(["dpo_candidate_move", "dpo_candidate_move", "other"]),
    st.sampled_from([None, {"k": 1}, {"nan": math.nan}]),
    st.sampled_from([None, "e1", "e2"]),
    st.sampled_from([None, "r1"]),
)
NOT_STEPS = st.sampled_from([None, 3, "text", [1], {"payload": 5}])


def assert_same_paths(source, **kw):
    fast = dpo_frames.extract_candidates(source, **kw)
    slow = dpo_frames.extract_candidates(dpo_frames.read_steps(source, run_id=kw.get("run_id")))
    assert fast[0].equals(slow[0]), (fast[0].to_dicts(), slow[0].to_dicts())
    assert fast[1].equals(slow[1]), (fast[1].to_dicts(), slow[1].to_dicts())


@settings(max_examples=examples(250), deadline=None)
@given(steps=st.lists(st.one_of(STEP, NOT_STEPS), max_size=12), run_id=st.sampled_from([None, "r0"]))
def test_fast_path_equals_sql_path_on_odd_dict_steps(steps, run_id):
    assert_same_paths(steps, run_id=run_id)


def test_fast_path_equals_sql_path_on_nat_objects():
    steps = [
        ttc_step(score=0.9),
        ttc_step(score=0.1, as_stream=True, output="no"),
        ttc_step(score=float("nan")),
        ttc_step(prompt=[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]),
        ttc_step(output={"move": [1, 2]}),
        ttc_step(turn_id=None),
    ]
    assert_same_paths(steps, run_id="r")


def test_fast_path_on_example_output(example_output):
    import json

    from nat.data_models.evaluate_runtime import EvaluationRunOutput
    from nat.data_models.evaluator import EvalInput, EvalInputItem
    from nat.data_models.intermediate_step import IntermediateStep

    items = [
        EvalInputItem(
            id=i["id"],
            input_obj=i["question"],
            expected_output_obj=None,
            output_obj=None,
            trajectory=[IntermediateStep.model_validate(s) for s in i["intermediate_steps"]],
            expected_trajectory=[],
            full_dataset_entry={},
        )
        for i in json.loads(example_output.read_text())
    ]
    out = EvaluationRunOutput.model_construct(eval_input=EvalInput(eval_input_items=items))
    fast, _ = dpo_frames.extract_candidates(out, run_id="r")
    from_file, _ = dpo_frames.extract_candidates(example_output, run_id="r")
    assert fast.height > 100 and fast.equals(from_file)


def test_summary_from_the_fast_path_matches_summarize_steps():
    from nat.data_models.intermediate_step import IntermediateStepType

    from dpo_frames.candidates.objects import extract_with_summary

    objs = [
        ttc_step(),
        ttc_step(event_type=IntermediateStepType.LLM_END, name="llm"),
        ttc_step(name="other"),
        ttc_step(score=None),
    ]
    candidates, rejects, summary = extract_with_summary(objs, "dpo_candidate_move", "r")
    assert summary.equals(dpo_frames.summarize_steps(dpo_frames.read_steps(objs), "dpo_candidate_move"))
    assert summary.filter("candidate_step")["steps"].sum() == candidates.height + rejects.height == 2


def test_candidates_sharing_one_message_list_object():
    shared = [{"role": "system", "content": "rules"}, {"role": "user", "content": "board"}]
    broken = [{"role": "user", "content": 7}]
    steps = [
        {
            "payload": {
                "event_type": "TTC_END",
                "name": "dpo_candidate_move",
                "UUID": f"u{i}",
                "data": {"turn_id": "t", "candidate_index": i, "score": i / 10, "input": prompt, "output": f"o{i}"},
            }
        }
        for i, prompt in enumerate([shared, shared, broken, broken, shared, "text", shared])
    ]
    assert_same_paths(steps)
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert candidates["prompt_messages"].to_list() == [shared, shared, shared, None, shared]
    assert rejects["reason"].to_list() == ["invalid input", "invalid input"]


def test_the_collector_is_paused_only_during_the_pass():
    import gc

    from dpo_frames._gc import collector_paused

    assert gc.isenabled()
    dpo_frames.extract_candidates([ttc_step()])
    assert gc.isenabled()
    try:
        with collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_subclasses_of_str_int_and_list_read_as_json_writes_them():
    """A str, int or list subclass (an enum, a custom type) is what JSON makes of it, on both paths."""
    import enum

    class Text(str):
        pass

    class Index(enum.IntEnum):
        THREE = 3

    class Messages(list):
        pass

    base = {"turn_id": "t", "score": 1.0, "input": "p", "output": "o"}
    cases = [
        {"input": Text("p")},
        {"output": Text("o")},
        {"candidate_index": Index.THREE},
        {"turn_index": Index.THREE},
        {"turn_id": Text("t")},
        {"candidate_index": True},
        {"input": Messages([{"role": "user", "content": "m"}])},
        {"score": Index.THREE},
    ]
    steps = [
        {
            "example_id": "e",
            "payload": {
                "event_type": "TTC_END",
                "name": "dpo_candidate_move",
                "UUID": f"u{i}",
                "data": {**base, **case},
            },
        }
        for i, case in enumerate(cases)
    ]
    assert_same_paths(steps)
    candidates, rejects = dpo_frames.extract_candidates(steps)
    assert rejects["reason"].to_list() == ["invalid candidate_index"]  # a bool is not an index
    assert candidates["prompt_text"].to_list()[:2] == ["p", "p"] and candidates["response"][1] == "o"
    assert candidates["candidate_index"][2] == 3 and candidates["turn_index"][3] == 3
