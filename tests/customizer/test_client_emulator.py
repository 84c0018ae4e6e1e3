"""Integration tests: the client against the emulator, over real HTTP on loopback.

The emulator (``dpo_frames.emulator``) runs a uvicorn server on a free port;
its clock is fast (a job completes in about a second) and its faults are seeded, so these
tests are deterministic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dpo_frames.customizer import (
    AuthError,
    CustomizerClient,
    CustomizerSettings,
    DeploymentFailedError,
    DpoParameters,
    Hyperparameters,
    JobCancelledError,
    JobFailedError,
    JobStatusDetails,
    RetryPolicy,
    deploy_model,
    submit_dataset_job,
    wait_for_deployment,
    wait_for_job,
)
from dpo_frames.emulator import Emulator, EmulatorConfig, FaultConfig

CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
TOKEN = "emu-SECRET-token-0987654321"
HYPER = Hyperparameters(
    training_type="dpo",
    finetuning_type="lora",
    epochs=2,
    batch_size=2,
    learning_rate=5e-5,
    dpo=DpoParameters(ref_policy_kl_penalty=0.1, preference_loss_weight=1.0, sft_loss_weight=0.0),
)
FAST_RETRY = RetryPolicy(attempts=8, backoff_base=0.01, backoff_max=0.1, jitter=0.01, retry_after_max=0.2)


def record(i: int) -> dict[str, Any]:
    return {"prompt": f"question {i}?", "chosen_response": f"good answer {i}", "rejected_response": f"bad {i}"}


def write_dataset(root: Path, train: list[Any] | None = None, val: list[Any] | None = None) -> Path:
    train = train if train is not None else [record(i) for i in range(8)]
    val = val if val is not None else [record(100 + i) for i in range(4)]
    for rel, rows in (("training/training_file.jsonl", train), ("validation/validation_file.jsonl", val)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return root


def emulator_config(**overrides: Any) -> Any:
    values: dict[str, Any] = {"tick_seconds": 0.02, "job_steps": 10, "epochs": 2, "deployment_ready_after": 0.1}
    values.update(overrides)
    return EmulatorConfig(**values)


@pytest.fixture
def emu() -> Iterator[Any]:
    with Emulator(emulator_config()) as server:
        yield server


def client_for(server: Any, *, token: str | None = None, **settings: Any) -> CustomizerClient:
    settings.setdefault("retry", FAST_RETRY)
    return CustomizerClient(CustomizerSettings(entity_host=server.url, token=token, **settings))


async def submit(client: CustomizerClient, dataset_dir: Path, run_id: str = "run-1", **kw: Any) -> Any:
    return await submit_dataset_job(
        client,
        dataset_dir=dataset_dir,
        namespace=kw.pop("namespace", "dpo-team"),
        dataset_name=kw.pop("dataset_name", "pairs"),
        run_id=run_id,
        config=CONFIG,
        hyperparameters=HYPER,
        **kw,
    )


# --- the whole flow --------------------------------------------------------------------


@pytest.fixture
def request_clock_emu() -> Iterator[Any]:
    """An emulator whose job clock ticks once per request: what a client sees depends on what it sends only."""
    with Emulator(emulator_config(clock="request")) as server:
        yield server


async def test_full_flow_upload_train_deploy(request_clock_emu: Any, tmp_path: Path) -> None:
    emu = request_clock_emu
    data_dir = write_dataset(tmp_path / "ds")
    progress: list[JobStatusDetails] = []
    async with client_for(emu) as client:
        report = await client.health()
        assert report.ok, report.summary()
        assert {s.service for s in report.services} == {"entity-store", "datastore", "customizer", "deployment"}

        configs = await client.jobs.list_configs()
        assert CONFIG in {c.ref for c in configs}

        ref = await submit(client, data_dir)
        assert not ref.reused_job and ref.dataset.files_url == "hf://datasets/dpo-team/pairs"
        assert {u.mode for u in ref.uploads} == {"regular"}

        files = await client.datastore.list_repo_files("dpo-team", "pairs")
        assert set(files) >= {"training/training_file.jsonl", "validation/validation_file.jsonl"}
        back = await client.datastore.read_file("dpo-team", "pairs", "training/training_file.jsonl")
        assert back == (data_dir / "training/training_file.jsonl").read_bytes()
        dataset = await client.entity.get_dataset("dpo-team", "pairs")
        assert dataset.files_url == ref.dataset.files_url

        job = await client.jobs.get(ref.job_id)
        assert job.hyperparameters and job.hyperparameters["dpo"]["ref_policy_kl_penalty"] == 0.1

        final = await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30, on_progress=progress.append)
        assert final.status == "completed" and final.percentage_done == pytest.approx(100.0)
        assert final.epochs_completed == 2
        percents = [p.percentage_done for p in progress]
        assert all(p is not None for p in percents)
        # one poll, one tick: every training step from the first poll on is seen, however loaded the machine
        assert len(percents) >= 3 and percents[-1] == 100.0
        assert {round(b - a, 6) for a, b in zip(percents, percents[1:], strict=False)} == {10.0}

        assert ref.output_model
        namespace, name = ref.output_model.split("/", 1)
        model = await client.entity.get_model(namespace, name)
        assert model.name == name
        assert ref.output_model in {m.ref for m in await client.entity.list_models()}

        deployment = await deploy_model(client, namespace="dpo-team", model=ref.output_model, deployment_name="dep-1")
        assert deployment.name == "dep-1"
        ready = await wait_for_deployment(client, "dpo-team", "dep-1", poll_interval=0.02, timeout=30)
        assert ready.status_details.status == "ready"
        # Deploying again is idempotent (409 -> existing).
        again = await deploy_model(client, namespace="dpo-team", model=ref.output_model, deployment_name="dep-1")
        assert again.name == "dep-1"


async def test_rerun_same_run_id_reuses_upload_and_job(emu: Any, tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path / "ds")
    async with client_for(emu) as client:
        first = await submit(client, data_dir, run_id="run-42")
        commits = len(emu.state.requests_to("/v1/hf/api/datasets/dpo-team/pairs/commit", "POST"))
        second = await submit(client, data_dir, run_id="run-42")
        assert second.job_id == first.job_id and second.reused_job
        assert [u.mode for u in second.uploads] == ["skipped", "skipped"]
        assert len(emu.state.requests_to("/v1/customization/jobs", "POST")) == 1
        assert len(emu.state.requests_to("/v1/hf/api/datasets/dpo-team/pairs/commit", "POST")) == commits == 1
        assert emu.state.requests_to("/v1/hf/api/datasets/dpo-team/pairs/preupload", "POST")[1:] == []

        # Another run id on the same dataset submits a new job, still without re-uploading.
        third = await submit(client, data_dir, run_id="run-43")
        assert third.job_id != first.job_id and not third.reused_job
        assert len(emu.state.requests_to("/v1/customization/jobs", "POST")) == 2


async def test_bad_dataset_fails_job_naming_file_and_line(emu: Any, tmp_path: Path) -> None:
    bad = [record(0), record(1), {"prompt": "p", "rejected_response": "r"}, record(3)]
    data_dir = write_dataset(tmp_path / "bad", train=bad)
    async with client_for(emu) as client:
        ref = await submit(client, data_dir, run_id="bad-run", dataset_name="bad-pairs")
        with pytest.raises(JobFailedError) as info:
            await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30, dataset_dir=data_dir)
    message = str(info.value)
    assert "training/training_file.jsonl line 3" in message and "chosen_response" in message
    assert str(data_dir) in message
    assert (data_dir / "training/training_file.jsonl").exists()


async def test_large_file_goes_through_lfs_and_reads_back(tmp_path: Path) -> None:
    rows = [record(i) for i in range(400)]  # ~30 KB, above the threshold below
    data_dir = write_dataset(tmp_path / "ds", train=rows)
    with Emulator(emulator_config(lfs_threshold_bytes=4096)) as server:
        async with client_for(server, upload_chunk_bytes=8192) as client:
            ref = await submit(client, data_dir)
            modes = {u.path_in_repo: u.mode for u in ref.uploads}
            assert modes == {"training/training_file.jsonl": "lfs", "validation/validation_file.jsonl": "regular"}
            tree = {e.path: e for e in await client.datastore.list_repo_tree("dpo-team", "pairs")}
            assert tree["training/training_file.jsonl"].sha256 == ref.uploads[0].sha256
            back = await client.datastore.read_file("dpo-team", "pairs", "training/training_file.jsonl")
            assert back == (data_dir / "training/training_file.jsonl").read_bytes()
            await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30)
            again = await submit(client, data_dir)
            assert [u.mode for u in again.uploads] == ["skipped", "skipped"]
            assert (
                len(server.state.requests_to("/v1/hf/datasets/dpo-team/pairs.git/info/lfs/objects/batch", "POST")) == 1
            )


# --- faults ----------------------------------------------------------------------------


async def test_random_503_429_and_dropped_connections_are_recovered(tmp_path: Path) -> None:
    faults = FaultConfig(seed=7, unavailable_rate=0.2, rate_limit_rate=0.15, retry_after_seconds=0.01, drop_rate=0.1)
    data_dir = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=faults)) as server:
        async with client_for(
            server,
            retry=RetryPolicy(attempts=12, backoff_base=0.01, backoff_max=0.05, jitter=0.01, retry_after_max=0.05),
        ) as client:
            ref = await submit(client, data_dir, run_id="faulty")
            final = await wait_for_job(
                client, ref.job_id, poll_interval=0.02, timeout=60, max_consecutive_status_failures=5
            )
            again = await submit(client, data_dir, run_id="faulty")
        kinds = {r.fault for r in server.state.requests_to("/")}
        creates = [r for r in server.state.requests_to("/v1/customization/jobs", "POST") if r.status == 201]
    assert final.status == "completed"
    assert {"503", "429", "drop"} <= kinds  # every fault kind really happened
    assert again.job_id == ref.job_id and len(creates) == 1  # no duplicate job despite faults


async def test_staged_status_failures_are_tolerated(tmp_path: Path) -> None:
    faults = FaultConfig(
        fail_first=[
            {"path_prefix": "/v1/customization/jobs/", "count": 4, "kind": "503", "method": "GET"},
        ]
    )
    data_dir = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=faults)) as server:
        async with client_for(server, retry=RetryPolicy(attempts=2, backoff_base=0.01, jitter=0)) as client:
            ref = await submit(client, data_dir)
            final = await wait_for_job(
                client, ref.job_id, poll_interval=0.02, timeout=30, max_consecutive_status_failures=3
            )
    assert final.status == "completed"


async def test_slow_answers_time_out_and_are_retried(caplog: pytest.LogCaptureFixture) -> None:
    faults = FaultConfig(fail_first=[{"path_prefix": "/v1/namespaces", "count": 1, "kind": "slow"}], slow_seconds=0.6)
    with Emulator(emulator_config(faults=faults)) as server:
        async with client_for(server, timeout_seconds=0.2) as client:
            ns = await client.entity.create_namespace("slow-ns")
        created = [r for r in server.state.requests_to("/v1/namespaces", "POST") if r.status == 201]
    assert ns.id == "slow-ns" and len(created) == 1
    assert "create_namespace: ReadTimeout" in caplog.text and "retrying" in caplog.text


async def test_job_failing_at_percentage(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=FaultConfig(job_fail_at_percent=50))) as server:
        async with client_for(server) as client:
            ref = await submit(client, data_dir)
            with pytest.raises(JobFailedError) as info:
                await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30)
    assert info.value.job_id == ref.job_id and "failed at" in str(info.value)
    assert info.value.status is not None and info.value.status.percentage_done >= 50


async def test_job_cancelled_by_platform_raises_cancelled(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=FaultConfig(job_cancel_at_percent=30))) as server:
        async with client_for(server) as client:
            ref = await submit(client, data_dir)
            with pytest.raises(JobCancelledError, match=ref.job_id):
                await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30)


async def test_job_cancelled_by_client_raises_cancelled(tmp_path: Path) -> None:
    data_dir = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(tick_seconds=0.05, job_steps=40)) as server:
        async with client_for(server) as client:
            ref = await submit(client, data_dir)
            await client.jobs.cancel(ref.job_id)
            with pytest.raises(JobCancelledError):
                await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30)
            # A cancelled run is resubmitted on the next call, not reused.
            again = await submit(client, data_dir)
    assert again.job_id != ref.job_id and not again.reused_job


async def test_deployment_failure_is_reported(tmp_path: Path) -> None:
    with Emulator(emulator_config(faults=FaultConfig(deployment_fails=True))) as server:
        async with client_for(server) as client:
            await client.entity.create_namespace("dpo-team")
            await deploy_model(client, namespace="dpo-team", model="meta/llama-3.2-1b-instruct", deployment_name="d")
            with pytest.raises(DeploymentFailedError, match="dpo-team/d"):
                await wait_for_deployment(client, "dpo-team", "d", poll_interval=0.02, timeout=30)


# --- authentication and secrets ----------------------------------------------------------


async def test_token_is_sent_and_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    data_dir = write_dataset(tmp_path / "ds")
    faults = FaultConfig(fail_first=[{"path_prefix": "/v1/datasets", "count": 1, "kind": "503"}])
    with Emulator(emulator_config(token=TOKEN, faults=faults)) as server:
        async with client_for(server, token="wrong-token") as client:
            report = await client.health()
            assert not report.ok and all(s.status_code == 401 for s in report.services)
            with pytest.raises(AuthError) as info:
                await client.entity.create_namespace("dpo-team")
            assert "HTTP 401" in str(info.value)
        async with client_for(server, token=TOKEN) as client:
            assert (await client.health()).ok
            ref = await submit(client, data_dir)
            await wait_for_job(client, ref.job_id, poll_interval=0.02, timeout=30)
            assert TOKEN not in repr(client) and TOKEN not in repr(ref)
    assert "retrying" in caplog.text and "dpo-team" in caplog.text  # logs were captured
    assert TOKEN not in caplog.text
    for rec in caplog.records:
        assert TOKEN not in rec.getMessage() and TOKEN not in str(rec.args)
