"""dpo-frames submit / status against the emulator over loopback HTTP, and the emulator command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_JOB, EXIT_PLATFORM, EXIT_USAGE
from dpo_frames.emulator import Emulator, EmulatorConfig, FaultConfig

SECRET = "s3cr3t-token-value"


@pytest.fixture
def dataset_dir(invoke, tmp_path, steps_jsonl) -> Path:
    run = tmp_path / "run-7"
    assert invoke("pairs", steps_jsonl, "--out", run).exit_code == 0
    assert invoke("dataset", run).exit_code == 0
    return run / "datasets" / "customizer"


@pytest.fixture
def emulator():
    with Emulator(EmulatorConfig(tick_seconds=0.01, job_steps=4)) as emu:
        yield emu


def _submit(invoke, dataset_dir, url, *extra, env=None):
    return invoke(
        "submit",
        dataset_dir,
        "--namespace",
        "team",
        "--dataset-name",
        "ttt",
        "--host",
        url,
        "--poll-interval",
        "0.02",
        *extra,
        env=env,
    )


def test_submit_wait_and_status(invoke, dataset_dir, emulator):
    result = _submit(invoke, dataset_dir, emulator.url, "--wait", "--json", "--epochs", "1", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    ref = json.loads(result.stdout)
    assert ref["run_id"] == "run-7"  # the dataset directory's parent (the run directory)
    assert ref["status"] == "completed" and ref["reused_job"] is False
    assert ref["dataset"] == {"namespace": "team", "name": "ttt"}
    job = emulator.state.jobs[ref["job_id"]]
    assert job["hyperparameters"]["training_type"] == "dpo"
    assert job["hyperparameters"]["finetuning_type"] == "lora"
    assert (job["hyperparameters"]["epochs"], job["hyperparameters"]["batch_size"]) == (1, 2)
    assert job["config"].startswith("meta/llama-3.2-1b-instruct")

    again = _submit(invoke, dataset_dir, emulator.url, "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["job_id"] == ref["job_id"]
    assert json.loads(again.stdout)["reused_job"] is True

    status = invoke("status", ref["job_id"], "--host", emulator.url)
    assert status.exit_code == 0, status.output
    assert "completed" in status.output and "percentage done" in status.output
    as_json = invoke("status", ref["job_id"], "--host", emulator.url, "--json")
    assert json.loads(as_json.stdout)["status"] == "completed"


def test_submit_table_output_and_status_wait(invoke, dataset_dir, emulator):
    result = _submit(invoke, dataset_dir, emulator.url)
    assert result.exit_code == 0, result.output
    assert "job id" in result.output and "hf://datasets/team/ttt" in result.output
    job_id = next(line.split("│")[2].strip() for line in result.output.splitlines() if "job id" in line)
    waited = invoke("status", job_id, "--host", emulator.url, "--wait", "--poll-interval", "0.02")
    assert waited.exit_code == 0 and "completed" in waited.output


def test_failed_job_exits_5(invoke, dataset_dir):
    config = EmulatorConfig(tick_seconds=0.01, job_steps=4, faults=FaultConfig(job_fail_at_percent=50))
    with Emulator(config) as emu:
        result = _submit(invoke, dataset_dir, emu.url, "--wait")
        assert result.exit_code == EXIT_JOB, result.output
        assert result.stderr.startswith("dpo-frames: error: customizer job") and "failed" in result.stderr
        assert str(dataset_dir) in result.stderr  # where the local files are
        assert len(result.stderr.splitlines()) == 1


def test_unknown_job_is_a_platform_error(invoke, emulator):
    result = invoke("status", "cust-does-not-exist", "--host", emulator.url)
    assert result.exit_code == EXIT_PLATFORM
    assert result.stderr.startswith("dpo-frames: error:") and "404" in result.stderr


def test_missing_dataset_files_are_bad_input(invoke, tmp_path, emulator):
    result = _submit(invoke, tmp_path, emulator.url)
    assert result.exit_code == EXIT_BAD_INPUT and "dataset files missing" in result.stderr


def test_no_platform_url_is_a_usage_error(invoke, dataset_dir):
    result = invoke("submit", dataset_dir, "--namespace", "team", "--dataset-name", "ttt")
    assert result.exit_code == EXIT_USAGE and "NEMO_MICROSERVICES_BASE_URL" in result.stderr
    assert invoke("status", "job-1").exit_code == EXIT_USAGE
    assert invoke("status", "job-1", "--host", "ftp://x").exit_code == EXIT_USAGE


def test_token_from_the_environment_is_used_and_never_shown(invoke, dataset_dir):
    with Emulator(EmulatorConfig(tick_seconds=0.01, job_steps=2, token=SECRET)) as emu:
        env = {"NEMO_MICROSERVICES_BASE_URL": emu.url, "NEMO_API_TOKEN": SECRET}
        ok = invoke(
            "submit",
            dataset_dir,
            "--namespace",
            "team",
            "--dataset-name",
            "ttt",
            "--wait",
            "--poll-interval",
            "0.02",
            env=env,
        )
        assert ok.exit_code == 0, ok.output
        wrong = invoke("status", "cust-x", env={**env, "NEMO_API_TOKEN": SECRET[::-1]})
        assert wrong.exit_code == EXIT_PLATFORM and "401" in wrong.stderr
        for result in (ok, wrong):
            assert SECRET not in result.output and SECRET[::-1] not in result.output
