"""Traces as real workflows write them, through NAT's real finetuning harness and the emulator.

The example workflow's ``prompt_recording: conversation`` records each candidate's prompt as an
LLM player's trace does (NVIDIA's dpo_tic_tac_toe with a real model): the conversation after
the answer, ending with the candidate's own output, with a failed attempt and the retry
request before it for some candidates. Also: a collection run that fails says why, with run
numbers that agree between the logs and the status.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl
import pytest

from dpo_frames import rundir
from dpo_frames.emulator import Emulator, EmulatorConfig

from ._helpers import ADAPTER, BUILDER, REPO, TRAINER, FinetuneRun, run_example

EMULATOR = EmulatorConfig(clock="request", tick_seconds=1.0, job_steps=4)
CONVERSATION = {"workflow.prompt_recording": "conversation"}


def _records(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def _pairs(run: FinetuneRun) -> pl.DataFrame:
    (run_dir,) = run.run_dirs()
    return pl.read_parquet(run_dir / "pairs.parquet")


@pytest.fixture(scope="module")
def prompt_mode(tmp_path_factory: pytest.TempPathFactory) -> FinetuneRun:
    """The example as it records prompts by default (before the answer)."""
    import asyncio

    out = tmp_path_factory.mktemp("prompt_mode") / "out"
    with Emulator(EMULATOR) as emu:
        return asyncio.run(run_example(emu.url, out))


async def test_conversation_traces_pair_and_no_prompt_is_its_chosen_response(
    out: Path, prompt_mode: FinetuneRun, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dpo_frames.nat"):
        async with Emulator(EMULATOR) as emu:
            run = await run_example(emu.url, out, **CONVERSATION)
            uploaded = [
                record
                for rel in ("training/training_file.jsonl", "validation/validation_file.jsonl")
                for record in _records(emu.state.file_bytes(REPO, rel))
            ]
    assert run.final_metrics()["status"] == "completed"
    (run_dir,) = run.run_dirs()
    record = rundir.open_dir(run_dir).record
    stats = record.pair_stats
    assert stats is not None and record.candidates == 119
    assert record.extra["echoed_outputs"] == 119  # every candidate's trace ended with its own answer
    assert "119 of 119 candidate steps had their own answer as the last message" in caplog.text

    pairs = _pairs(run)
    assert pairs.height > 0 and pairs["turn_id"].n_unique() > 10  # pairs from those turns
    assert not (pairs["prompt_text"] == pairs["chosen_response"]).any()
    assert uploaded and all(r["prompt"][-1]["content"] != r["chosen_response"] for r in uploaded)
    assert all(m["role"] != "assistant" or m["content"] != r["chosen_response"] for r in uploaded for m in r["prompt"])
    # The plain prompt's pairs are the prompt mode's; the retried candidates form prompt groups of their own.
    key = ["prompt_text", "chosen_response", "rejected_response"]
    plain = pairs.filter(pl.col("prompt_messages").list.len() == 2).select(key)
    assert plain.height > 0 and plain.join(_pairs(prompt_mode).select(key), on=key, how="anti").height == 0
    assert stats.prompt_mismatch_turns > 0
    assert stats.cross_prompt_pairs > 0


async def test_without_stripping_the_mismatch_is_a_warning_with_numbers_and_the_cause(
    out: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dpo_frames.nat"):
        async with Emulator(EMULATOR) as emu:
            run = await run_example(emu.url, out, **CONVERSATION, **{f"{BUILDER}.strip_echoed_output": False})
            assert emu.state.jobs == {}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (mismatch,) = [w for w in warnings if "prompt mismatch:" in w]
    assert "(100%)" in mismatch and "after its own answer" in mismatch
    (summary,) = [r.getMessage() for r in caplog.records if "frames in" in r.getMessage()]
    assert "prompt mismatch: " in summary and "pairs not made (100%)" in summary
    final = run.final_metrics()
    assert final["status"] == "failed" and final["message"].startswith("No trajectories collected: collection run 1/1")
    assert "prompt_mismatch_turns" in final["message"]


async def test_a_failed_collection_run_names_its_cause_and_run_numbers_agree(
    out: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "positions.json"
    broken.write_text('[{"id": "a", "question": "X.O/.X./..O", "answer": ""},')  # not JSON: cut short
    with caplog.at_level(logging.INFO, logger="dpo_frames.nat"):
        async with Emulator(EMULATOR) as emu:
            run = await run_example(
                emu.url,
                out,
                **{"eval.general.dataset.file_path": str(broken), f"{TRAINER}.continue_on_collection_error": True},
            )
    final = run.final_metrics()
    assert final["status"] == "failed"
    head, _, cause = final["message"].partition(" failed: ")
    assert head.startswith("No trajectories collected: collection run 1/1 (")
    assert cause.startswith("ValueError: ") and cause.endswith(f"its dataset: {broken}")  # what went wrong, where
    ours = [r.getMessage() for r in caplog.records if r.name == "dpo_frames.nat"]
    assert any(m.startswith("collection run 1/1 (") and " failed: " in m for m in ours)
    assert not any("run 0" in m for m in ours)
    assert run.progress()[0]["run_number"] == 0  # the reference's 0-based key in the progress file


async def test_the_adapter_s_local_files_of_a_real_run_are_the_reference_s(out: Path) -> None:
    async with Emulator(EMULATOR) as emu:
        run = await run_example(emu.url, out, **{f"{ADAPTER}.use_full_message_history": False})
        uploaded = emu.state.file_bytes(REPO, "training/training_file.jsonl")
    (dataset_dir,) = run.dataset_dirs()
    assert (dataset_dir / "training_file.jsonl").read_bytes() == uploaded
    assert (dataset_dir / "validation_file.jsonl").stat().st_size > 0
    assert run.final_metrics()["job_metadata"]["files"] == {
        "train": str(dataset_dir / "training_file.jsonl"),
        "validation": str(dataset_dir / "validation_file.jsonl"),
    }
