"""build_dataset on a local Dask cluster gives the in-memory path's pairs, dataset and files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

import dpo_frames
from dpo_frames.scale.dask import build_dataset
from dpo_frames.scale.partitioned import build_dataset_partitioned

KEY = ["pair_id", "run_id", "example_id", "turn_id", "chosen_index", "rejected_index"]  # a total order


def lines(path: str | Path) -> list[str]:
    return sorted(Path(str(path).removeprefix("file://")).read_text(encoding="utf-8").splitlines())


def in_memory(files: list[Path], out: Path, config: dpo_frames.PairConfig, full: bool = False, **options):
    pairs, pair_stats = dpo_frames.build_pairs(pl.read_parquet(files), config)
    dataset, dataset_stats = dpo_frames.finalize_dataset(pairs, **options)
    written = dpo_frames.write_customizer_jsonl(dataset, out, use_full_message_history=full)
    return pairs, pair_stats, dataset, dataset_stats, written


def assert_same(result, out: Path, expected) -> None:
    pairs, pair_stats, dataset, dataset_stats, written = expected
    assert result.pair_stats == pair_stats
    assert result.dataset_stats == dataset_stats
    got_pairs = pl.read_parquet(out / "pairs/*.parquet")
    assert got_pairs.sort(KEY).equals(pairs.sort(KEY))
    got = pl.read_parquet(out / "dataset/*.parquet")
    assert got.height == dataset_stats.pairs
    assert got.sort(KEY).equals(dataset.sort(KEY))  # the same duplicate kept, on the same side of the split
    for split in ("train", "validation"):
        assert lines(result.files[split]) == lines(written[split])
    record = json.loads((out / "dpo_frames.json").read_text())
    assert record["kind"] == "build" and record["extra"]["engine"] == "dask"
    assert record["extra"]["partitions"] == result.partitions and record["pair_stats"]["pairs"] == pair_stats.pairs
    assert record["dataset"]["stats"] == dataset_stats.model_dump(mode="json")
    assert not (out / "_parts").exists() and not list(out.rglob(".*.tmp-*"))


def test_same_as_in_memory(scheduler, candidate_files, tmp_path):
    config = dpo_frames.PairConfig()
    expected = in_memory(candidate_files, tmp_path / "mem", config)
    assert expected[3].duplicate_pairs > 100_000  # dedup decides a lot here
    glob = str(candidate_files[0].parent / "*.parquet")
    result = build_dataset(glob, tmp_path / "out", config, address=scheduler, split_rows=50_000)
    assert result.engine == "dask" and result.worker_threads == 2 and result.partitions == 2
    assert_same(result, tmp_path / "out", expected)


def test_sampled_full_history_more_partitions_and_file_urls(scheduler, candidate_files, tmp_path):
    config = dpo_frames.PairConfig(exhaustive_pairs=False, min_score_diff=0.25, max_pairs_per_turn=1)
    options = {"deduplicate": False, "max_pairs": 20_000, "seed": 7, "validation_fraction": 0.3}
    assert_same_with(config, options, candidate_files, tmp_path, scheduler)


def test_casefold_dedup_and_sample(scheduler, candidate_files, tmp_path):
    options = {"dedup_mode": "casefold", "max_pairs": 30_000, "seed": 2}
    assert_same_with(dpo_frames.PairConfig(), options, candidate_files, tmp_path, scheduler)


def assert_same_with(config, options, candidate_files, tmp_path, scheduler):
    expected = in_memory(candidate_files, tmp_path / "mem", config, full=True, **options)
    urls = [f"file://{path}" for path in candidate_files]
    result = build_dataset(
        urls,
        f"file://{tmp_path}/out",
        config,
        address=scheduler,
        partitions=5,
        use_full_message_history=True,
        **options,
    )
    assert result.partitions == 5 and len(list((tmp_path / "out/dataset").glob("*.parquet"))) == 5
    assert result.files["train"] == f"file://{tmp_path}/out/training/training_file.jsonl"
    assert_same(result, tmp_path / "out", expected)


def test_same_files_as_partitioned_path_and_rebuild_replaces(scheduler, candidate_files, tmp_path):
    config = dpo_frames.PairConfig(max_pairs_per_turn=2)
    local = build_dataset_partitioned(candidate_files, tmp_path / "local", config, partitions=3, seed=1)
    (tmp_path / "out/pairs").mkdir(parents=True)
    (tmp_path / "out/pairs/part-00009.parquet").write_text("left by an earlier build")
    result = build_dataset(candidate_files, tmp_path / "out", config, address=scheduler, partitions=3, seed=1)
    for name in ("pairs", "dataset"):
        files = sorted(p.name for p in (tmp_path / "out" / name).iterdir())
        assert files == sorted(p.name for p in (tmp_path / "local" / name).iterdir())
        for file in files:  # same partitions, so the very same rows per file
            got, want = (pl.read_parquet(tmp_path / d / name / file) for d in ("out", "local"))
            assert got.sort(KEY).equals(want.sort(KEY))
    for split in ("train", "validation"):
        assert lines(result.files[split]) == lines(local.files[split])
    assert (result.pair_stats, result.dataset_stats) == (local.pair_stats, local.dataset_stats)


def test_local_cluster_started_by_the_build(candidate_files, tmp_path):
    small = pl.read_parquet(candidate_files[0]).head(5_000)
    small.write_parquet(tmp_path / "c.parquet")
    expected = in_memory([tmp_path / "c.parquet"], tmp_path / "mem", dpo_frames.PairConfig())
    result = build_dataset(tmp_path / "c.parquet", tmp_path / "out", workers=1)
    assert result.worker_threads == 1 and result.partitions == 1
    assert_same(result, tmp_path / "out", expected)


def test_what_it_writes_opens_with_every_command(scheduler, tmp_path):
    from tests.conftest import EXAMPLE_OUTPUT
    from tests.rundir.opens import assert_opens_everywhere

    candidates, _ = dpo_frames.extract_candidates(EXAMPLE_OUTPUT, run_id="r")
    candidates.write_parquet(tmp_path / "c.parquet")
    build_dataset(
        str(tmp_path / "c.parquet"), tmp_path / "out", address=scheduler, partitions=2, prompt_context="last_message"
    )
    run = assert_opens_everywhere(tmp_path / "out", tmp_path / "scratch", kind="build", frames={"pairs", "dataset"})
    assert run.record.extra["engine"] == "dask" and run.record.extra["partitions"] == 2
    assert run.record.run_ids == ["r"] and run.record.pair_stats.pairs == 60


def test_a_cut_not_asked_for_is_refused_on_the_cluster_too(scheduler, tmp_path):
    import pytest

    from dpo_frames.errors import PromptContextError
    from tests.conftest import EXAMPLE_OUTPUT

    candidates, _ = dpo_frames.extract_candidates(EXAMPLE_OUTPUT, run_id="r")
    candidates.write_parquet(tmp_path / "c.parquet")
    with pytest.raises(PromptContextError, match="prompt_context='last_message'"):
        build_dataset(str(tmp_path / "c.parquet"), tmp_path / "out", address=scheduler, partitions=2)
    build_dataset(
        str(tmp_path / "c.parquet"), tmp_path / "cut", address=scheduler, partitions=2, prompt_context="last_message"
    )
    local = build_dataset_partitioned(
        tmp_path / "c.parquet", tmp_path / "local", partitions=3, prompt_context="last_message"
    )
    cut, here = (dpo_frames.open_dir(tmp_path / d).record.dataset.context for d in ("cut", "local"))
    assert cut == here and cut.truncated_prompts == local.dataset_stats.pairs
