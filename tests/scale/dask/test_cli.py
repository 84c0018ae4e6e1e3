"""dpo-frames build --engine local|dask through click's CliRunner."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from dpo_frames.cli import cli
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_USAGE
from tests.scale.dask import data

KEY = ["pair_id", "run_id", "example_id", "turn_id", "chosen_index", "rejected_index"]  # a total order


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("small")
    data.write_files(data.candidates(8_000, seed=3), directory, files=2, row_group_size=5_000)
    return directory


def build(*args: object):
    return CliRunner().invoke(cli, ["build", *map(str, args)], catch_exceptions=False)


def jsonl(out: Path) -> dict[str, list[str]]:
    return {
        name: sorted(next(out.glob(f"{name}/*.jsonl")).read_text().splitlines()) for name in ("training", "validation")
    }


def test_dask_by_address_equals_local(scheduler, small, tmp_path):
    options = ["--best-vs-worst", "--max-pairs", 3000, "--sample-seed", 5, "--no-dedup"]
    local = build(f"{small}/*.parquet", "--out", tmp_path / "local", *options)
    assert local.exit_code == 0, local.output
    result = build(small, "--out", tmp_path / "dask", "--engine", "dask", "--address", scheduler, *options)
    assert result.exit_code == 0, result.output
    assert "│ engine " in result.output and f"train: {tmp_path}/dask/training/training_file.jsonl" in result.output
    got, want = (pl.read_parquet(tmp_path / d / "dataset/*.parquet").sort(KEY) for d in ("dask", "local"))
    assert got.height == 3000 and got.equals(want)
    assert jsonl(tmp_path / "dask") == jsonl(tmp_path / "local")


def test_rebuild_needs_overwrite(scheduler, small, tmp_path):
    args = [small, "--out", tmp_path / "out", "--engine", "dask", "--address", scheduler]
    assert build(*args).exit_code == 0
    refused = build(*args)
    assert refused.exit_code == EXIT_USAGE and "--overwrite" in refused.output
    assert build(*args, "--overwrite").exit_code == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other/notes.txt").write_text("mine")
    foreign = build(small, "--out", tmp_path / "other", "--overwrite")
    assert foreign.exit_code == EXIT_USAGE and "was not written by dpo_frames" in foreign.output


def test_missing_extra_is_a_one_line_usage_error(monkeypatch, small, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    result = build(small, "--out", tmp_path / "out", "--engine", "dask")
    assert result.exit_code == EXIT_USAGE
    expected = (
        "dpo-frames: error: engine 'dask' needs the optional dependencies of dpo_frames[dask] "
        "(module 'distributed' is missing): pip install 'dpo_frames[dask]'"
    )
    assert result.output.strip().splitlines() == [expected]


def test_cluster_options_need_the_dask_engine(small, tmp_path):
    result = build(small, "--out", tmp_path / "out", "--address", "tcp://127.0.0.1:8786")
    assert result.exit_code == EXIT_USAGE and "--address and --workers apply to --engine dask" in result.output
    result = build(
        small, "--out", tmp_path / "out", "--engine", "dask", "--address", "tcp://127.0.0.1:8786", "--workers", 3
    )
    assert result.exit_code == EXIT_USAGE and "cannot be combined with --address" in result.output


@pytest.mark.parametrize("engine", ["local", "dask"])
def test_missing_input_is_bad_input(engine, tmp_path):
    result = build(tmp_path / "nothing-*.parquet", "--out", tmp_path / "out", "--engine", engine)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert result.output.startswith("dpo-frames: error: cannot build: ")
