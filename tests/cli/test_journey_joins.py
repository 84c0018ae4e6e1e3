"""The joins of a user's journey: what one command writes the next one takes, nothing destroyed,
no silent empty result (issue 13's list, one test each)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import dpo_frames
from dpo_frames import rundir
from dpo_frames.cli.errors import EXIT_EMPTY, EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_USAGE
from tests.conftest import EXAMPLE_OUTPUT

ITEMS = json.loads(EXAMPLE_OUTPUT.read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from dpo_frames.cli import cli

    out = tmp_path_factory.mktemp("journey") / "r1"
    assert CliRunner().invoke(cli, ["pairs", str(EXAMPLE_OUTPUT), "--out", str(out)]).exit_code == 0
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pairs_re_pairs_a_candidates_file_and_a_run_directory(invoke, run, tmp_path):
    expected, _ = dpo_frames.build_pairs(
        dpo_frames.read_frame(run, "candidates"), dpo_frames.PairConfig(min_score_diff=0.4)
    )
    for source in (run / "candidates.parquet", run):
        out = tmp_path / source.name
        result = invoke("pairs", source, "--min-score-diff", "0.4", "--out", out)
        assert result.exit_code == 0, result.output
        assert dpo_frames.read_frame(out, "pairs").equals(expected)
        assert rundir.open_dir(out).record.run_ids == ["r1"]  # the candidates keep their run
    repaired = rundir.open_dir(tmp_path / "r1")
    assert repaired.files("steps") == [run / "steps.parquet"]  # referenced, not copied
    assert repaired.record.steps == 119 and repaired.record.sources == [str(run.resolve())]


def test_pairs_takes_several_sources_and_globs_keeping_their_runs(invoke, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "workflow_output.json").write_text(EXAMPLE_OUTPUT.read_text())
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": i["id"], "trajectory": i["intermediate_steps"]}) + "\n" for i in ITEMS))
    out = tmp_path / "all"
    result = invoke("pairs", str(tmp_path / "*" / "workflow_output.json"), items, "--out", out)
    assert result.exit_code == 0, result.output
    record = rundir.open_dir(out).record
    assert record.run_ids == ["a/workflow_output", "b/workflow_output", "items"]
    assert record.candidates == 3 * 119 and record.pair_stats.pairs == 3 * 60  # three runs, never merged
    assert [s["kind"] for s in record.extra["sources"]] == ["workflow_output", "workflow_output", "eval_items"]
    named = invoke("pairs", EXAMPLE_OUTPUT, items, "--out", tmp_path / "x", "--run-id", "one")
    assert named.exit_code == EXIT_USAGE and "--run-id names the run of one source" in named.stderr


def test_a_workflow_output_without_ttc_steps_says_how_to_keep_them(invoke, tmp_path):
    source = tmp_path / "workflow_output.json"
    source.write_text(json.dumps([{**i, "intermediate_steps": []} for i in ITEMS]))
    result = invoke("pairs", source, "--out", tmp_path / "r")
    assert result.exit_code == EXIT_EMPTY and not (tmp_path / "r").exists()
    assert "it holds no intermediate steps" in result.stderr
    assert "workflow_output_step_filter: [TTC_END]" in result.stderr


def test_no_pairs_is_an_error_that_keeps_the_candidates_and_names_the_setting(invoke, tmp_path):
    out = tmp_path / "r"
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", out, "--min-score-diff", "5")
    assert result.exit_code == EXIT_EMPTY
    assert (
        "no pairs from 119 candidates in 35 turns" in result.stderr
        and "lower --min-score-diff (now 5)" in result.stderr
    )
    assert dpo_frames.read_frame(out, "candidates").height == 119  # collected once: re-pair without the workflow
    assert invoke("pairs", out, "--out", tmp_path / "again").exit_code == 0
    empty = invoke("dataset", out)
    assert empty.exit_code == EXIT_EMPTY and "no pairs in" in empty.stderr and not (out / "datasets").exists()
    assert invoke("dataset", out, "--allow-empty").exit_code == 0


def test_exports_sit_side_by_side_and_the_run_is_not_rewritten(invoke, run, tmp_path):
    local = tmp_path / "r"
    import shutil

    shutil.copytree(run, local)
    before = {p.name: p.stat().st_mtime_ns for p in local.iterdir()}
    assert invoke("dataset", local, "--full-message-history").exit_code == 0  # system + user prompts: keep them
    assert invoke("dataset", local, "--format", "trl", "--last-message-only").exit_code == 0
    assert sorted(p.name for p in (local / "datasets").iterdir()) == ["customizer", "trl"]
    assert {p.name: p.stat().st_mtime_ns for p in local.iterdir() if p.name != "datasets"} == before
    assert rundir.open_dir(local).record.dataset is None  # the run describes the run, not an export


def test_train_only_with_validation_fraction_zero(invoke, run, tmp_path):
    out = tmp_path / "d"
    result = invoke("dataset", run, "--validation-fraction", "0", "--out", out, "--full-message-history")
    assert result.exit_code == 0, result.output
    assert len(_jsonl(out / "training/training_file.jsonl")) == 60 and not (out / "validation").exists()
    info = rundir.open_dir(out).record.dataset
    assert info.stats.validation_pairs == 0 and list(info.files) == ["train"]


def test_dataset_of_several_runs(invoke, run, tmp_path):
    second = tmp_path / "r2"
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", second, "--run-id", "r2").exit_code == 0
    assert invoke("dataset", run, second).exit_code == EXIT_USAGE  # where would it go
    out = tmp_path / "both"
    result = invoke("dataset", run, second, "--out", out, "--full-message-history")
    assert result.exit_code == 0, result.output
    record = rundir.open_dir(out).record
    assert record.run_ids == ["r1", "r2"] and record.pair_stats.pairs == 120
    assert record.dataset.stats.duplicate_pairs == 60  # the same pairs in both runs: deduplicated across
    assert record.sources == [str(run.resolve()), str(second.resolve())]


def test_overwrite_never_deletes_what_dpo_frames_did_not_write(invoke, tmp_path):
    collected = tmp_path / "collected"
    collected.mkdir()
    (collected / "steps.jsonl").write_text("{}\n")  # only .jsonl files: 0.1 took this for its own dataset
    (collected / "more.jsonl").write_text("{}\n")
    result = invoke("dataset", EXAMPLE_OUTPUT.parent, "--out", collected, "--overwrite")
    assert result.exit_code != 0 and (collected / "steps.jsonl").read_text() == "{}\n"
    run = tmp_path / "run"
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", run).exit_code == 0
    refused = invoke("dataset", run, "--out", collected, "--overwrite")
    assert refused.exit_code == EXIT_USAGE and "was not written by dpo_frames" in refused.stderr
    assert sorted(p.name for p in collected.iterdir()) == ["more.jsonl", "steps.jsonl"]


def test_leftovers_of_a_killed_run_are_cleaned_on_the_next_one(invoke, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    leftover = tmp_path / f".r.tmp-{child.pid}-0123456789ab"
    leftover.mkdir()
    (leftover / "pairs.parquet").write_bytes(b"half")
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", tmp_path / "r").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_an_unwritable_output_and_a_full_disk_have_their_own_code(invoke, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", blocker / "r")  # its parent is a file
    assert result.exit_code in (EXIT_OUTPUT, EXIT_USAGE) and "dpo-frames: error:" in result.stderr
    import pyarrow.parquet as pq

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)  # the disk fills as the frames are written
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", tmp_path / "full")
    assert result.exit_code == EXIT_OUTPUT and "No space left on device" in result.stderr
    assert not (tmp_path / "full").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_ctrl_c_exits_130_and_leaves_nothing_half_written(invoke, tmp_path, monkeypatch):
    import dpo_frames.cli.pairs as pairs_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pairs_module, "pairs_to_file", interrupted)
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", tmp_path / "r")
    assert result.exit_code == EXIT_INTERRUPTED and "interrupted" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_record_is_bad_input_with_its_path(invoke, tmp_path):
    (tmp_path / "dpo_frames.json").write_text("{not json")
    result = invoke("stats", tmp_path)
    assert result.exit_code == 3 and f"{tmp_path / 'dpo_frames.json'} is unreadable" in result.stderr


def test_python_m_runs_the_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "dpo_frames", "pairs", str(EXAMPLE_OUTPUT), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert pl.read_parquet(tmp_path / "r" / "pairs.parquet").height == 60


def test_stats_of_several_directories(invoke, run, tmp_path):
    assert invoke("dataset", run, "--out", tmp_path / "d", "--full-message-history").exit_code == 0
    shown = invoke("stats", run, tmp_path / "d")
    assert shown.exit_code == 0 and "run r1" in shown.output and "dataset r1" in shown.output
    records = json.loads(invoke("stats", run, tmp_path / "d", "--json").stdout)
    assert [r["kind"] for r in records] == ["run", "dataset"]


def test_a_customizer_export_keeps_prompts_of_several_messages_whole_by_default(invoke, run, tmp_path):
    out = tmp_path / "d"
    result = invoke("dataset", run, "--out", out)  # the example's prompts: system + user
    assert result.exit_code == 0, result.output
    assert "written whole (--full-message-history)" in result.stderr
    first = _jsonl(out / "training/training_file.jsonl")[0]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]  # nothing cut, nothing refused
    assert rundir.open_dir(out).record.dataset.options["use_full_message_history"] is True
    cut = invoke("dataset", run, "--out", tmp_path / "cut", "--last-message-only")
    assert cut.exit_code == 0 and isinstance(_jsonl(tmp_path / "cut/training/training_file.jsonl")[0]["prompt"], str)
    plain = invoke("dataset", run, "--out", tmp_path / "trl", "--format", "trl")
    assert plain.exit_code == EXIT_USAGE and "trl-conversational" in plain.stderr  # the plain strings refuse


def test_pairs_read_in_small_batches_and_paired_in_small_parts_writes_the_same_run(invoke, tmp_path, monkeypatch):
    """Issue 18: the run directory of a source read batch by batch and paired part by part (memory bounded
    whatever the size) holds the frames and counts of the whole read, row for row."""
    import functools

    import dpo_frames.cli.pairs as pairs_module
    import dpo_frames.cli.sources as sources_module

    jsonl = tmp_path / "steps.jsonl"
    with jsonl.open("w") as f:
        for step in dpo_frames.read_steps(EXAMPLE_OUTPUT).iter_rows(named=True):
            payload = {"event_type": step["event_type"], "name": step["name"], "UUID": step["step_uuid"]}
            line = {"example_id": step["example_id"], "payload": {**payload, "data": json.loads(step["data"])}}
            f.write(json.dumps(line) + "\n")
    assert invoke("pairs", jsonl, "--out", tmp_path / "whole", "--run-id", "r").exit_code == 0
    monkeypatch.setattr(sources_module, "iter_steps", functools.partial(sources_module.iter_steps, batch_size=7))
    monkeypatch.setattr(
        pairs_module, "pairs_to_file", functools.partial(pairs_module.pairs_to_file, candidates_per_part=5)
    )
    assert invoke("pairs", jsonl, "--out", tmp_path / "parts", "--run-id", "r").exit_code == 0
    whole, parts = dpo_frames.open_dir(tmp_path / "whole"), dpo_frames.open_dir(tmp_path / "parts")
    for name in ("steps", "candidates", "rejects", "pairs"):
        assert parts.frame(name).collect().equals(whole.frame(name).collect()), name
    assert parts.frame("pairs").collect().height > 0
    assert parts.record.model_dump(exclude={"seconds", "created_at"}) == whole.record.model_dump(
        exclude={"seconds", "created_at"}
    )
