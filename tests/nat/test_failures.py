"""Failure paths through the real harness: each ends with the documented status (or error),
and whatever dataset files were written stay on disk, named in the message."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from dpo_frames.emulator import Emulator, EmulatorConfig, FaultConfig, StagedFault
from dpo_frames.nat import PlatformUnavailableError, TrainingJobError

from ._helpers import ADAPTER, TRAINER, FinetuneRun, run_example

NO_RETRY = {f"{ADAPTER}.retry": {"attempts": 1}}


def _emulator(**kwargs) -> Emulator:
    return Emulator(EmulatorConfig(tick_seconds=0.01, **kwargs))


def _assert_dataset_kept(run: FinetuneRun, message: str) -> None:
    (dataset_dir,) = run.dataset_dirs()
    for rel in ("training_file.jsonl", "validation_file.jsonl"):  # where the reference keeps them
        assert (dataset_dir / rel).stat().st_size > 0
    assert str(dataset_dir) in message


async def test_job_failing_midway_raises_and_keeps_the_dataset(out: Path) -> None:
    async with _emulator(faults=FaultConfig(job_fail_at_percent=50)) as emu:
        with pytest.raises(TrainingJobError, match="failed") as info:
            await run_example(emu.url, out)
        (job,) = emu.state.jobs.values()
    assert job["status"] == "failed"
    run = FinetuneRun(out)
    final = run.final_metrics()
    assert final["status"] == "failed" and job["id"] in final["message"]
    assert final["job_metadata"]["job_id"] == job["id"]
    _assert_dataset_kept(run, str(info.value))
    assert info.value.status.status == "failed"


async def test_bad_dataset_fails_the_job_naming_file_and_reason(out: Path) -> None:
    async with _emulator(require_full_batch=True) as emu:
        with pytest.raises(TrainingJobError, match=r"training/training_file\.jsonl.*fewer than one global batch"):
            await run_example(emu.url, out, **{f"{ADAPTER}.hyperparameters.batch_size": 1000})
    assert FinetuneRun(out).final_metrics()["status"] == "failed"


async def test_cancelled_job_returns_canceled_without_raising(out: Path) -> None:
    async with _emulator(faults=FaultConfig(job_cancel_at_percent=30)) as emu:
        run = await run_example(emu.url, out)
    final = run.final_metrics()
    assert final["status"] == "canceled" and "cancelled" in final["message"]
    _assert_dataset_kept(run, final["message"])


async def test_cancelled_job_raises_when_a_deployment_was_asked(out: Path) -> None:
    async with _emulator(faults=FaultConfig(job_cancel_at_percent=30)) as emu:
        with pytest.raises(TrainingJobError, match="will not be deployed"):
            await run_example(emu.url, out, **{f"{ADAPTER}.deploy_on_completion": True})
        assert emu.state.deployments == {}
    assert FinetuneRun(out).final_metrics()["status"] == "canceled"


async def test_unreachable_platform_fails_at_start_before_running_the_workflow(out: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PlatformUnavailableError, match=r"(?s)not usable.*entity-store: FAIL.*ConnectError"):
        await run_example(f"http://127.0.0.1:{port}", out)
    assert not (out / "finetune" / "runs").exists()


@pytest.mark.parametrize("kind", ["503", "drop"])
async def test_status_flapping_within_the_tolerance_completes(out: Path, kind: str) -> None:
    flaps = StagedFault(path_prefix="/v1/customization/jobs/", method="GET", count=2, kind=kind)
    async with _emulator(faults=FaultConfig(fail_first=[flaps])) as emu:
        run = await run_example(emu.url, out, **NO_RETRY, **{f"{ADAPTER}.max_consecutive_status_failures": 3})
        faulted = [r for r in emu.state.requests_to("/v1/customization/jobs/", "GET") if r.fault == kind]
    assert len(faulted) == 2
    assert run.final_metrics()["status"] == "completed"


async def test_status_unreadable_too_many_times_fails_and_keeps_the_dataset(out: Path) -> None:
    flaps = StagedFault(path_prefix="/v1/customization/jobs/", method="GET", count=1000, kind="503")
    async with _emulator(faults=FaultConfig(fail_first=[flaps])) as emu:
        with pytest.raises(TrainingJobError, match="status unreadable 2 times in a row") as info:
            await run_example(emu.url, out, **NO_RETRY, **{f"{ADAPTER}.max_consecutive_status_failures": 2})
    run = FinetuneRun(out)
    assert run.final_metrics()["status"] == "failed"
    _assert_dataset_kept(run, str(info.value))


async def test_submission_refused_returns_failed_and_keeps_the_dataset(out: Path) -> None:
    refused = StagedFault(path_prefix="/v1/customization/jobs", method="POST", count=1000, kind="503")
    async with _emulator(faults=FaultConfig(fail_first=[refused])) as emu:
        run = await run_example(emu.url, out, **NO_RETRY)
        assert emu.state.jobs == {}
    final = run.final_metrics()
    assert final["status"] == "failed" and final["message"].startswith("Failed to submit training job")
    assert "HTTP 503" in final["message"]
    _assert_dataset_kept(run, final["message"])


@pytest.fixture
def bad_positions(tmp_path: Path) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"id": "bad", "question": "XXX/XXX/XXX", "answer": ""}]))
    return path


async def test_interrupted_collection_stops_with_failed_status(out: Path, bad_positions: Path) -> None:
    async with _emulator() as emu:
        run = await run_example(emu.url, out, **{"eval.general.dataset.file_path": str(bad_positions)})
        assert emu.state.jobs == {}
    final = run.final_metrics()
    assert final["status"] == "failed" and final["message"].startswith("Data collection failed at run 0")
    assert "stopped the evaluation" in final["message"]
    (run_dir,) = run.run_dirs()  # what the interrupted run produced is on disk
    assert json.loads((run_dir / "dpo_frames.json").read_text())["extra"]["workflow_interrupted"] is True
    assert "error" in run.progress()[0]


async def test_continue_on_collection_error_tries_every_run(out: Path, bad_positions: Path) -> None:
    async with _emulator() as emu:
        run = await run_example(
            emu.url,
            out,
            **{
                "eval.general.dataset.file_path": str(bad_positions),
                f"{TRAINER}.continue_on_collection_error": True,
                f"{TRAINER}.num_runs": 2,
            },
        )
    final = run.final_metrics()
    # The reference's words first, then what happened to each run (it used to say only "No preference pairs collected").
    assert final["status"] == "failed" and final["message"].startswith("No trajectories collected: ")
    assert final["message"].count("stopped the evaluation") == 2
    assert "collection run 1/2" in final["message"] and "collection run 2/2" in final["message"]
    assert [entry["run_number"] for entry in run.progress()] == [0, 1]
    assert len(run.run_dirs()) == 2
