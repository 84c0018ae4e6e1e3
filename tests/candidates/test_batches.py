"""A file read in batches gives what the whole file gives: the same candidates, rejects (in order),
step counts and steps Parquet, whatever the batch size (issue 18: step files in bounded memory)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames.candidates import collect_candidates
from dpo_frames.steps import StepsWriter, iter_steps
from tests.candidates.test_paths_agree import NOT_STEPS, STEP
from tests.hypothesis_profiles import examples


def whole(path, run_id):
    steps = dpo_frames.read_steps(path, run_id=run_id)
    candidates, rejects = dpo_frames.extract_candidates(steps)
    return steps, candidates, rejects, dpo_frames.summarize_steps(steps)


def assert_batches_read_as_whole(path, batch_size, out, run_id="r"):
    """``out``: where the steps Parquet file is written."""
    steps, candidates, rejects, summary = whole(path, run_id)
    got = collect_candidates(path, run_id=run_id, steps_to=out, batch_size=batch_size)
    assert got.candidates.equals(candidates), (got.candidates.to_dicts(), candidates.to_dicts())
    assert got.rejects.equals(rejects), (got.rejects.to_dicts(), rejects.to_dicts())
    assert got.summary.equals(summary), (got.summary.to_dicts(), summary.to_dicts())
    assert got.steps == steps.height
    assert pl.read_parquet(out).equals(steps)


def write_lines(path, values):
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return path


def candidate_step(uuid, turn_id, score, output):
    data = {"turn_id": turn_id, "score": score, "input": "p", "output": output}
    return {"payload": {"event_type": "TTC_END", "name": "dpo_candidate_move", "UUID": uuid, "data": data}}


CANDIDATE_STEPS = st.lists(
    st.builds(candidate_step, st.sampled_from(["u1", "u2"]), st.just("t1"), st.sampled_from([0, 1]), st.just("o")),
    min_size=1,
    max_size=3,
)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(st.one_of(STEP, NOT_STEPS), max_size=12),
    candidate_steps=CANDIDATE_STEPS,
    batch_size=st.integers(1, 4),
)
def test_a_jsonl_read_in_batches_is_the_whole_file(tmp_path, steps, candidate_steps, batch_size):
    # Candidate steps with a UUID again further down the file: a duplicate often sits in a later batch than its first.
    values = candidate_steps + steps + candidate_steps
    assert_batches_read_as_whole(write_lines(tmp_path / "steps.jsonl", values), batch_size, tmp_path / "s.parquet")


def test_a_step_repeated_in_a_later_batch_is_a_duplicate(tmp_path):
    step = {"payload": {"event_type": "TTC_END", "name": "dpo_candidate_move", "UUID": "u1",
                        "data": {"turn_id": "t", "score": 1, "input": "p", "output": "a"}}}  # fmt: skip
    other = json.loads(json.dumps(step))
    other["payload"]["data"]["output"] = "b"  # the same UUID for other data: another step
    path = write_lines(tmp_path / "steps.jsonl", [step, other, step, step])
    got = collect_candidates(path, batch_size=1)
    assert got.candidates["response"].to_list() == ["a", "b"]
    assert got.rejects["reason"].to_list() == ["duplicate step", "duplicate step"]
    assert got.rejects["source"].to_list() == ["u1", "u1"]


@pytest.mark.parametrize("batch_size", [4, 1000])
def test_every_step_file_kind_reads_in_batches_as_whole(tmp_path, example_output, batch_size):
    items = json.loads(example_output.read_text())
    eval_items = [{"id": i["id"], "trajectory": i["intermediate_steps"]} for i in items]
    eval_file = write_lines(tmp_path / "items.jsonl", eval_items)
    parquet = tmp_path / "steps.parquet"
    dpo_frames.read_steps(example_output, run_id="r").write_parquet(parquet, row_group_size=3)
    for path in (example_output, eval_file, parquet):
        assert_batches_read_as_whole(path, batch_size, tmp_path / "s.parquet")
        assert all(b.height <= batch_size for b in iter_steps(path, batch_size=batch_size))


def test_an_empty_file_is_one_empty_batch_and_an_empty_steps_file(tmp_path):
    path = tmp_path / "steps.jsonl"
    path.write_text("\n\n")
    assert [b.height for b in iter_steps(path, batch_size=2)] == [0]
    assert_batches_read_as_whole(path, 2, tmp_path / "s.parquet")


def test_a_failed_read_leaves_no_steps_file_behind(tmp_path):
    with pytest.raises(RuntimeError), StepsWriter(tmp_path / "steps.parquet") as writer:
        writer.write(dpo_frames.read_steps([{"payload": {"event_type": "LLM_END"}}]))
        raise RuntimeError("the source failed half way")
    assert list(tmp_path.iterdir()) == []


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_steps([], batch_size=0))


def test_a_frame_that_cannot_be_written_is_an_output_error_naming_the_file(tmp_path, monkeypatch):
    import errno
    import os

    import pyarrow.parquet as pq

    from dpo_frames.errors import OutputWriteError

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    message = r"cannot write .*steps.parquet: No space left on device"
    with pytest.raises(OutputWriteError, match=message), StepsWriter(tmp_path / "steps.parquet") as writer:
        writer.write(dpo_frames.read_steps([{"payload": {"event_type": "LLM_END"}}]))
    assert list(tmp_path.iterdir()) == []


SEEN_ROWS = st.lists(
    st.tuples(st.sampled_from(["e1", "e2"]), st.sampled_from(["u1", "u2", "u3", None]), st.sampled_from(["a", "b"])),
    max_size=12,
)


@settings(max_examples=examples(200), deadline=None)
@given(batches=st.lists(SEEN_ROWS, max_size=8))
def test_seen_steps_finds_exactly_the_steps_of_earlier_batches(batches):
    from dpo_frames.candidates.sql import SeenSteps

    seen, earlier = SeenSteps(), set()
    for batch in batches:
        rows = pl.DataFrame(
            {"run_id": "r", "example_id": [e for e, _, _ in batch], "step_uuid": [u for _, u, _ in batch],
             "data": [d for _, _, d in batch]},
            schema={"run_id": pl.String, "example_id": pl.String, "step_uuid": pl.String, "data": pl.String},
        )  # fmt: skip
        assert seen.repeated(rows).to_list() == [u is not None and (e, u, d) in earlier for e, u, d in batch]
        earlier |= {row for row in batch if row[1] is not None}
