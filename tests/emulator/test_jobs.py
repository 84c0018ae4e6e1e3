"""The emulated Customizer over plain HTTP: job lifecycle on the clock, dataset validation,
job and deployment faults, request validation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dpo_frames.emulator import Emulator, EmulatorConfig, FaultConfig

CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
GOOD = {"prompt": "What is 2+2?", "chosen_response": "4", "rejected_response": "5"}
TRAINING, VALIDATION = "training/training_file.jsonl", "validation/validation_file.jsonl"


def jsonl(*records: Any) -> bytes:
    return b"\n".join(r if isinstance(r, bytes) else json.dumps(r).encode() for r in records) + b"\n"


def seed(
    emu: Emulator, name: str, training: bytes | None = None, validation: bytes | None = None, register: bool = True
) -> str:
    """Dataset ``jobs/<name>``: files (None: good records; b"": leave the file out)."""
    files = {
        TRAINING: jsonl(GOOD, GOOD) if training is None else training,
        VALIDATION: jsonl(GOOD) if validation is None else validation,
    }
    for path, content in files.items():
        if content:
            emu.state.put_file(f"jobs/{name}", path, content)
    if register:
        emu.state.register_dataset("jobs", name)
    return f"jobs/{name}"


def create_job(client: httpx.Client, dataset: str, **hyperparameters: Any) -> dict[str, Any]:
    body = {
        "config": CONFIG,
        "dataset": dataset,
        "hyperparameters": {"training_type": "dpo", "finetuning_type": "lora", **hyperparameters},
    }
    answer = client.post("/v1/customization/jobs", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def wait_for_status(client: httpx.Client, job_id: str, *wanted: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/v1/customization/jobs/{job_id}/status").json()
        if status["status"] in wanted:
            return status
        assert time.monotonic() < deadline, f"job stayed {status['status']}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(tick_seconds=0.01, job_steps=5, epochs=1)) as server:
        yield server


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url) as http:
        yield http


def test_job_lifecycle_advances_on_the_clock() -> None:
    with (
        Emulator(EmulatorConfig(tick_seconds=0.1, job_steps=4, epochs=2, clock="manual")) as emu,
        httpx.Client(base_url=emu.url) as client,
    ):
        job = create_job(client, seed(emu, "lifecycle"))
        seen = [client.get(f"/v1/customization/jobs/{job['id']}/status").json()]
        while seen[-1]["status"] != "completed":
            emu.advance()  # one tick of the job clock, and nothing moves in between
            seen.append(client.get(f"/v1/customization/jobs/{job['id']}/status").json())
            assert len(seen) < 20
    assert [(s["status"], s["percentage_done"]) for s in seen] == [
        ("created", 0.0), ("pending", 0.0), ("running", 0.0), ("running", 25.0), ("running", 50.0),
        ("running", 75.0), ("completed", 100.0)]  # fmt: skip
    lifecycle = ["created", "pending", "running", "completed"]
    statuses = [s["status"] for s in seen]
    assert statuses == sorted(statuses, key=lifecycle.index)  # never back, never out of order
    assert seen[0]["percentage_done"] == 0.0 and isinstance(seen[0]["percentage_done"], float)
    progress = [
        (s["percentage_done"], s["steps_completed"], s["epochs_completed"], len(s["status_logs"])) for s in seen
    ]
    assert progress == sorted(progress)  # every number only grows
    observed = {p for p, *_ in progress}
    assert observed <= {0.0, 25.0, 50.0, 75.0, 100.0} and len(observed) >= 3  # gradual, not one jump
    final = seen[-1]
    assert (final["epochs_completed"], final["steps_completed"], final["steps_per_epoch"]) == (2, 4, 2)
    history = final["metrics"]["metrics"]["train_loss"]
    assert [point["step"] for point in history] == [1, 2, 3, 4] and history[-1]["value"] < history[0]["value"]
    assert [log["detail"] for log in final["status_logs"]] == [
        "JobCreated",
        "JobPending",
        "TrainingJobRunning",
        "EpochCompleted",
        "EpochCompleted",
        "TrainingJobCompleted",
    ]


def test_output_model_appears_without_polling(emu: Emulator, client: httpx.Client) -> None:
    job = create_job(client, seed(emu, "unpolled"))
    requests_before = len(emu.state.requests)

    time.sleep(0.3)

    assert len(emu.state.requests) == requests_before  # nobody asked, the clock moved anyway
    namespace, name = job["output_model"].split("/", 1)
    model = client.get(f"/v1/models/{namespace}/{name}")
    assert model.status_code == 200
    assert model.json()["custom_fields"]["customization_job_id"] == job["id"]
    assert client.get(f"/v1/customization/jobs/{job['id']}").json()["status"] == "completed"


def test_trailing_newlines_and_chat_prompts_are_valid(emu: Emulator, client: httpx.Client) -> None:
    chat = {**GOOD, "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]}
    dataset = seed(emu, "chat", training=jsonl(GOOD, chat) + b"\n\n", validation=jsonl(chat))

    status = wait_for_status(client, create_job(client, dataset)["id"], "completed", "failed")

    assert status["status"] == "completed", status["status_logs"][-1]
    assert "training/training_file.jsonl: 2 records" in status["status_logs"][2]["message"]


BAD_DATASETS = {
    "unregistered": ({"register": False}, "dataset 'jobs/unregistered' is not registered"),
    "no-validation": (
        {"validation": b""},
        "required file 'validation/validation_file.jsonl' not found in hf://datasets/jobs/no-validation",
    ),
    "bad-json": (
        {"training": jsonl(GOOD, GOOD, b'{"prompt": "x", ')},
        "training/training_file.jsonl line 3: invalid JSON",
    ),
    "missing-field": (
        {"validation": jsonl(GOOD, {"prompt": "p", "chosen_response": "c"})},
        "validation/validation_file.jsonl line 2: missing required field 'rejected_response'",
    ),
    "prompt-type": (
        {"training": jsonl({**GOOD, "prompt": 7})},
        "training/training_file.jsonl line 1: field 'prompt' must be a string or a list of messages",
    ),
    "bad-message": (
        {"training": jsonl(GOOD, {**GOOD, "prompt": [{"role": "user"}]})},
        "training/training_file.jsonl line 2: field 'prompt' message 0 must be an object"
        " with string 'role' and 'content'",
    ),
    "not-object": ({"validation": jsonl([1, 2])}, "validation/validation_file.jsonl line 1: expected a JSON object"),
    "empty": ({"training": b"\n\n"}, "training/training_file.jsonl: the file has no records"),
}


@pytest.mark.parametrize("name", sorted(BAD_DATASETS))
def test_bad_dataset_fails_the_job_naming_file_and_line(emu: Emulator, client: httpx.Client, name: str) -> None:
    options, expected = BAD_DATASETS[name]
    dataset = seed(emu, name, **options)

    job = create_job(client, dataset)
    status = wait_for_status(client, job["id"], "completed", "failed")

    assert status["status"] == "failed"
    last = status["status_logs"][-1]
    assert last["detail"] == "TrainingJobFailed"
    assert last["message"].startswith(f"Dataset validation failed: {expected}")
    assert status["percentage_done"] == 0.0
    logs = client.get(f"/v1/customization/jobs/{job['id']}/container-logs").json()
    assert expected in logs["error"]["message"]
    namespace, model = job["output_model"].split("/", 1)
    assert client.get(f"/v1/models/{namespace}/{model}").status_code == 404


def test_a_full_global_batch_can_be_required() -> None:
    with (
        Emulator(EmulatorConfig(tick_seconds=0.01, job_steps=2, require_full_batch=True)) as emu,
        httpx.Client(base_url=emu.url) as client,
    ):
        dataset = seed(emu, "small", training=jsonl(GOOD, GOOD, GOOD))
        status = wait_for_status(client, create_job(client, dataset, batch_size=3)["id"], "completed", "failed")
        short = wait_for_status(client, create_job(client, dataset, batch_size=4)["id"], "completed", "failed")

    assert status["status"] == "failed"  # validation has only one record
    assert (
        "validation/validation_file.jsonl: 1 records, fewer than one global batch (3)"
        in status["status_logs"][-1]["message"]
    )
    assert (
        short["status"] == "failed" and "training/training_file.jsonl: 3 records" in short["status_logs"][-1]["message"]
    )


def test_job_fails_at_the_configured_percentage() -> None:
    config = EmulatorConfig(tick_seconds=0.01, job_steps=10, faults=FaultConfig(job_fail_at_percent=50))
    with Emulator(config) as emu, httpx.Client(base_url=emu.url) as client:
        status = wait_for_status(client, create_job(client, seed(emu, "fail-half"))["id"], "completed", "failed")

    assert status["status"] == "failed" and status["percentage_done"] == 50.0
    assert status["status_logs"][-1]["message"].startswith("Training failed at 50.0%")


def test_job_cancelled_by_the_platform_and_only_the_first_jobs_get_faults() -> None:
    faults = FaultConfig(job_cancel_at_percent=30, job_fault_max_jobs=1)
    with (
        Emulator(EmulatorConfig(tick_seconds=0.01, job_steps=10, faults=faults)) as emu,
        httpx.Client(base_url=emu.url) as client,
    ):
        dataset = seed(emu, "cancel")
        first = wait_for_status(client, create_job(client, dataset)["id"], "completed", "cancelled", "failed")
        second = wait_for_status(client, create_job(client, dataset)["id"], "completed", "cancelled", "failed")

    assert first["status"] == "cancelled" and first["percentage_done"] == 30.0
    assert "cancelled by the platform at 30.0%" in first["status_logs"][-2]["message"]
    assert second["status"] == "completed"


def test_deployment_fault_ends_failed() -> None:
    config = EmulatorConfig(deployment_ready_after=0.05, faults=FaultConfig(deployment_fails=True))
    with Emulator(config) as emu, httpx.Client(base_url=emu.url) as client:
        body = {"name": "c", "namespace": "d", "nim_deployment": {"image_name": "i", "image_tag": "t", "gpu": 1}}
        assert client.post("/v1/deployment/configs", json=body).status_code == 201
        assert (
            client.post(
                "/v1/deployment/model-deployments", json={"name": "m", "namespace": "d", "config": "d/c"}
            ).status_code
            == 201
        )
        time.sleep(0.1)
        deployment = client.get("/v1/deployment/model-deployments/d/m").json()

    assert deployment["status_details"]["status"] == "failed" and deployment["deployed"] is False


def test_job_create_is_validated(client: httpx.Client) -> None:
    unknown = client.post(
        "/v1/customization/jobs",
        json={"config": "meta/nope@v1", "dataset": "a/b", "hyperparameters": {"finetuning_type": "lora"}},
    )
    option = client.post(
        "/v1/customization/jobs",
        json={
            "config": CONFIG,
            "dataset": "a/b",
            "hyperparameters": {"finetuning_type": "lora_merged", "training_type": "dpo"},
        },
    )
    missing = client.post(
        "/v1/customization/jobs", json={"config": CONFIG, "dataset": "a/b", "hyperparameters": {"training_type": "dpo"}}
    )
    bad_dpo = client.post(
        "/v1/customization/jobs",
        json={
            "config": CONFIG,
            "dataset": "a/b",
            "hyperparameters": {"finetuning_type": "lora", "dpo": {"ref_policy_kl_penalty": -1}},
        },
    )

    assert unknown.status_code == 404 and CONFIG in unknown.json()["detail"]
    assert option.status_code == 422 and "lora_merged" in option.json()["detail"]
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "hyperparameters", "finetuning_type"]
    assert bad_dpo.status_code == 422
    assert bad_dpo.json()["detail"][0]["loc"] == ["body", "hyperparameters", "dpo", "ref_policy_kl_penalty"]
    assert client.get("/v1/customization/jobs/cust-missing/status").status_code == 404
    assert client.post("/v1/customization/jobs/cust-missing/cancel").status_code == 404


def test_the_request_clock_ticks_once_per_request() -> None:
    with (
        Emulator(EmulatorConfig(tick_seconds=3600.0, job_steps=2, epochs=1, clock="request")) as emu,
        httpx.Client(base_url=emu.url) as client,
    ):
        job = create_job(client, seed(emu, "per-request"))  # seeding is no request; creating is one
        statuses = [client.get(f"/v1/customization/jobs/{job['id']}/status").json()["status"] for _ in range(5)]
        assert statuses == ["pending", "running", "running", "completed", "completed"]  # an hour a tick, no waiting


def test_manual_time_only_moves_when_told() -> None:
    with (
        Emulator(EmulatorConfig(tick_seconds=0.001, clock="manual")) as emu,
        httpx.Client(base_url=emu.url) as client,
    ):
        job = create_job(client, seed(emu, "manual"))
        for _ in range(3):
            assert client.get(f"/v1/customization/jobs/{job['id']}/status").json()["status"] == "created"
        emu.advance(2)
        assert client.get(f"/v1/customization/jobs/{job['id']}/status").json()["status"] == "running"
    with Emulator(EmulatorConfig()) as wall, pytest.raises(RuntimeError, match="only a request or manual clock"):
        wall.advance()
