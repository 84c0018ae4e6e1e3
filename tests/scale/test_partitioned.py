"""The out-of-core path gives the in-memory path's pairs, dataset and splits."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames.scale.partitioned import build_dataset_partitioned
from tests.hypothesis_profiles import examples
from tests.pairs.test_engine_property import CONFIGS, candidate_rows, frame

SCORES = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, float("nan")])


def jsonl(path):
    return sorted(path.read_text(encoding="utf-8").splitlines())


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=candidate_rows(max_size=60, scores=SCORES),
    cfg=CONFIGS,
    parts=st.sampled_from([1, 3, 7]),
    max_pairs=st.sampled_from([None, 3]),
    dedup=st.booleans(),
    full=st.booleans(),
    mode=st.sampled_from(["exact", "casefold"]),
)
def test_same_result_as_in_memory(tmp_path_factory, rows, cfg, parts, max_pairs, dedup, full, mode):
    tmp = tmp_path_factory.mktemp("p")
    candidates = frame(rows)
    path = tmp / "candidates.parquet"
    candidates.write_parquet(path)
    config = dpo_frames.PairConfig(**cfg)

    pairs, pair_stats = dpo_frames.build_pairs(candidates, config)
    dataset, dataset_stats = dpo_frames.finalize_dataset(
        pairs, deduplicate=dedup, max_pairs=max_pairs, seed=3, dedup_mode=mode
    )
    expected = dpo_frames.write_customizer_jsonl(dataset, tmp / "mem", use_full_message_history=full)

    result = build_dataset_partitioned(
        path,
        tmp / "out",
        config,
        partitions=parts,
        deduplicate=dedup,
        max_pairs=max_pairs,
        seed=3,
        use_full_message_history=full,
        dedup_mode=mode,
    )
    assert result.pair_stats == pair_stats
    assert result.dataset_stats == dataset_stats
    got = pl.read_parquet(tmp / "out/dataset/*.parquet")
    key = ["pair_id", "split", "run_id", "example_id", "turn_id", "chosen_index", "rejected_index"]
    assert got.sort(key).equals(dataset.sort(key))
    assert pl.read_parquet(tmp / "out/pairs/*.parquet").sort(key[:1] + key[2:]).equals(pairs.sort(key[:1] + key[2:]))
    for split in ("train", "validation"):
        assert jsonl(result.files[split]) == jsonl(expected[split])
    record = json.loads(result.files["record"].read_text())
    assert record["kind"] == "build" and record["extra"] == {"engine": "local", "partitions": parts}
    assert record["dataset"]["stats"] == dataset_stats.model_dump(mode="json")
    assert not list((tmp / "out").parent.glob(".*.tmp-*"))  # nothing left beside the build


def test_lazy_source_and_default_partitions(tmp_path, example_output):
    candidates, _ = dpo_frames.extract_candidates(example_output)
    candidates.write_parquet(tmp_path / "c.parquet")
    result = build_dataset_partitioned(
        pl.scan_parquet(tmp_path / "c.parquet"), tmp_path / "out", use_full_message_history=True
    )
    assert result.partitions == 1 and result.dataset_stats.pairs > 0
    assert not list(tmp_path.rglob(".*.tmp-*")) and not list(tmp_path.rglob(".candidate-parts-*"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"partitions": 0}, "partitions"),
        ({"partitions": -1}, "partitions"),
        ({"validation_fraction": 1.5}, "validation_fraction"),
        ({"dedup_mode": "fuzzy"}, "dedup_mode"),
    ],
)
def test_bad_options_fail_before_any_work(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_dataset_partitioned(tmp_path / "missing.parquet", tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
