"""The synthetic data: deterministic, shaped as documented, and the same data in both
views (NAT objects, stored steps frame)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import synth

SPEC = synth.SynthSpec(3000, seed=7, duplicate_example_fraction=0.2)


@pytest.fixture(scope="module")
def tables() -> synth.SynthTables:
    return synth.generate(SPEC)


@pytest.fixture(scope="module")
def eval_output(tables: synth.SynthTables):
    return synth.build_eval_output(tables)


def test_parse_and_format_size() -> None:
    assert [synth.parse_size(s) for s in ("10k", "100K", "1M", "2500", "1_000")] == [
        10_000,
        100_000,
        1_000_000,
        2500,
        1000,
    ]
    assert synth.format_size(1_000_000) == "1M" and synth.format_size(10_000) == "10k"
    for bad in ("", "ten", "1.5", "1"):
        with pytest.raises(synth.SynthError):
            synth.parse_size(bad)


def test_same_spec_same_data_other_seed_other_data(tables: synth.SynthTables) -> None:
    again = synth.generate(SPEC)
    for name in ("examples", "prompts", "responses", "steps"):
        assert getattr(tables, name).equals(getattr(again, name)), name
    other = synth.generate(synth.SynthSpec(3000, seed=8, duplicate_example_fraction=0.2))
    assert not other.responses.equals(tables.responses)


def test_shape_is_as_documented(tables: synth.SynthTables) -> None:
    ttc = tables.steps.filter(pl.col("event_type") == "TTC_END")
    assert ttc.height == SPEC.n_candidates
    per_turn = ttc.group_by("example_idx", "turn_id", maintain_order=True).agg(
        n=pl.len(), distinct_scores=pl.col("score").n_unique(), distinct_texts=pl.col("response_id").n_unique()
    )
    assert per_turn["n"][:-1].is_between(2, 8).all()  # only the very last turn may be cut short
    assert (per_turn["distinct_scores"] < per_turn["n"]).sum() > 0, "no score ties"
    assert (per_turn["distinct_texts"] < per_turn["n"]).sum() > 0, "no identical responses"
    lengths = tables.responses["text"].str.len_chars()
    assert lengths.min() >= 50 and lengths.max() <= SPEC.max_response_chars
    kinds = Counter(tables.steps["event_type"].to_list())
    assert kinds["TTC_START"] == kinds["TTC_END"] == SPEC.n_candidates
    assert kinds["LLM_START"] == kinds["LLM_END"] == kinds["FUNCTION_START"] == per_turn.height
    assert kinds["WORKFLOW_START"] == kinds["WORKFLOW_END"] == tables.examples.height
    turns_per_example = per_turn.group_by("example_idx", maintain_order=True).len()["len"]
    assert turns_per_example[:-1].is_between(2, 6).all()


def test_duplicate_examples_repeat_content_under_new_ids(tables: synth.SynthTables) -> None:
    ttc = tables.steps.filter(pl.col("event_type") == "TTC_END")
    content = ttc.group_by("example_idx").agg(
        key=pl.struct("prompt_id", "response_id", "score").sort_by("turn_index", "candidate_index")
    )
    dup_groups = content.group_by("key").agg(pl.col("example_idx")).filter(pl.col("example_idx").list.len() > 1)
    assert dup_groups.height > 0


def test_objects_equal_validated_construction(eval_output) -> None:
    from nat.data_models.intermediate_step import (
        IntermediateStep,
        IntermediateStepPayload,
        StreamEventData,
        TTCEventData,
    )
    from nat.data_models.invocation_node import InvocationNode

    seen: set[str] = set()
    for step in synth.iter_steps(eval_output):
        p = step.payload
        if p.event_type in seen:
            continue
        seen.add(p.event_type)
        d = p.data
        data_cls = TTCEventData if p.event_type.startswith("TTC") else StreamEventData
        validated = IntermediateStep(
            parent_id=step.parent_id,
            function_ancestry=InvocationNode(**step.function_ancestry.model_dump()),
            payload=IntermediateStepPayload(
                event_type=p.event_type,
                event_timestamp=p.event_timestamp,
                span_event_timestamp=p.span_event_timestamp,
                name=p.name,
                metadata=p.metadata,
                UUID=p.UUID,
                data=data_cls(**{k: getattr(d, k) for k in type(d).model_fields}),
            ),
        )
        assert validated == step
        assert isinstance(d, data_cls)
        assert step.event_category == step.payload.event_category  # derived properties work
    assert seen == {
        "WORKFLOW_START",
        "WORKFLOW_END",
        "FUNCTION_START",
        "FUNCTION_END",
        "LLM_START",
        "LLM_END",
        "TTC_START",
        "TTC_END",
    }


def test_stored_frame_is_the_objects_serialized(tables: synth.SynthTables, eval_output) -> None:
    frame = synth.stored_steps_frame(tables, run_id="r1")
    rows = frame.iter_rows(named=True)
    n = 0
    for item in eval_output.eval_input.eval_input_items:
        for index, step in enumerate(item.trajectory):
            row = next(rows)
            p = step.payload
            assert (row["example_id"], row["step_index"], row["event_type"], row["name"], row["step_uuid"]) == (
                item.id,
                index,
                p.event_type.value,
                p.name,
                p.UUID,
            )
            assert row["event_category"] == step.event_category.value
            assert row["event_timestamp"] == p.event_timestamp
            assert json.loads(row["data"]) == json.loads(p.data.model_dump_json())
            assert (json.loads(row["metadata"]) if row["metadata"] else None) == p.metadata
            n += 1
    assert n == frame.height == synth.attribute_walk(eval_output)
    assert frame["run_id"].unique().to_list() == ["r1"]


def test_dpo_frames_reads_both_views_alike(tables: synth.SynthTables, eval_output, tmp_path: Path) -> None:
    import dpo_frames

    path = tmp_path / "steps.parquet"
    synth.stored_steps_frame(tables).write_parquet(path)
    from_objects = dpo_frames.read_steps(eval_output, run_id="bench")
    from_parquet = dpo_frames.read_steps(path, run_id="bench")
    assert from_objects.drop("data").equals(from_parquet.drop("data"))
    assert [json.loads(x) for x in from_objects["data"]] == [json.loads(x) for x in from_parquet["data"]]
    candidates_a, rejects_a = dpo_frames.extract_candidates(from_objects)
    candidates_b, _ = dpo_frames.extract_candidates(from_parquet)
    assert candidates_a.equals(candidates_b)
    assert candidates_a.height == SPEC.n_candidates and rejects_a.height == 0


def test_cache_round_trip(tmp_path: Path) -> None:
    spec = synth.SynthSpec(500, seed=3)
    d = synth.ensure_cached(spec, tmp_path)
    assert d == synth.cache_dir(spec, tmp_path) and (d / "stored_steps.parquet").exists()
    meta = json.loads((d / "meta.json").read_text())
    assert meta["spec"]["n_candidates"] == 500 and meta["counts"]["candidates"] == 500
    stamp = (d / "meta.json").stat().st_mtime_ns
    assert synth.ensure_cached(spec, tmp_path) == d and (d / "meta.json").stat().st_mtime_ns == stamp
    assert synth.SynthTables.read(d).steps.equals(synth.generate(spec).steps)
    with pytest.raises(synth.SynthError, match="run benchmarks/run.py"):
        synth.SynthTables.read(tmp_path / "nothing")
