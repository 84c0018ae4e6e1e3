"""Faithfulness of the emulated platform: the official ``nemo_microservices`` SDK against it,
and a replay of the reference NVIDIA plugin's flow (SDK + HfApi + httpx), unchanged."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import nemo_microservices
import pytest
from huggingface_hub import HfApi
from huggingface_hub.utils import disable_progress_bars
from nemo_microservices import NeMoMicroservices

from dpo_frames.emulator import Emulator, EmulatorConfig

T = TypeVar("T")
CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
RECORD = {"prompt": "What is 2+2?", "chosen_response": "4", "rejected_response": "5"}
DPO_HYPERPARAMETERS = {
    "training_type": "dpo",
    "finetuning_type": "all_weights",
    "epochs": 2,
    "batch_size": 4,
    "learning_rate": 5e-5,
    "dpo": {
        "ref_policy_kl_penalty": 0.1,
        "preference_loss_weight": 1.0,
        "preference_average_log_probs": False,
        "sft_loss_weight": 0.0,
    },
}


def fast_config() -> EmulatorConfig:
    return EmulatorConfig(tick_seconds=0.02, job_steps=10, epochs=2, deployment_ready_after=0.1)


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    disable_progress_bars()
    with Emulator(fast_config()) as server:
        yield server


@pytest.fixture
def sdk(emu: Emulator) -> NeMoMicroservices:
    return NeMoMicroservices(base_url=emu.url, max_retries=0)


def seed_dataset(emu: Emulator, namespace: str, name: str, records: int = 4) -> None:
    lines = "\n".join(json.dumps(RECORD) for _ in range(records)).encode()
    for path in ("training/training_file.jsonl", "validation/validation_file.jsonl"):
        emu.state.put_file(f"{namespace}/{name}", path, lines)
    emu.state.register_dataset(namespace, name)


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def test_namespaces_create_get_and_conflict(emu: Emulator, sdk: NeMoMicroservices) -> None:
    created = sdk.namespaces.create(id="sdk-ns", description="made by the SDK")
    fetched = sdk.namespaces.retrieve("sdk-ns")

    assert (created.id, fetched.id, fetched.description) == ("sdk-ns", "sdk-ns", "made by the SDK")
    assert fetched.created_at is not None
    posts_before = len(emu.state.requests_to("/v1/namespaces", "POST"))
    with pytest.raises(nemo_microservices.ConflictError):
        NeMoMicroservices(base_url=sdk.base_url).namespaces.create(id="sdk-ns")  # default retries
    assert len(emu.state.requests_to("/v1/namespaces", "POST")) == posts_before + 1  # x-should-retry: false
    with pytest.raises(nemo_microservices.NotFoundError):
        sdk.namespaces.retrieve("no-such-namespace")


def test_datasets_create_get_list(sdk: NeMoMicroservices) -> None:
    created = sdk.datasets.create(
        name="pairs", namespace="sdk-ds", files_url="hf://datasets/sdk-ds/pairs", description="d"
    )
    fetched = sdk.datasets.retrieve(dataset_name="pairs", namespace="sdk-ds")
    listed = sdk.datasets.list(filter={"namespace": "sdk-ds"})

    assert created.id and created.id.startswith("dataset-")
    assert (fetched.name, fetched.namespace, fetched.files_url) == ("pairs", "sdk-ds", "hf://datasets/sdk-ds/pairs")
    assert [d.name for d in listed.data] == ["pairs"]
    assert listed.pagination is not None and listed.pagination.total_results == 1
    with pytest.raises(nemo_microservices.ConflictError):
        sdk.datasets.create(name="pairs", namespace="sdk-ds", files_url="hf://datasets/sdk-ds/pairs")
    with pytest.raises(nemo_microservices.UnprocessableEntityError):
        sdk.datasets.create(name="no-url", namespace="sdk-ds", files_url=None)  # type: ignore[arg-type]


def test_customization_configs_list(sdk: NeMoMicroservices) -> None:
    configs = sdk.customization.configs.list().data
    names = {f"{c.namespace}/{c.name}" for c in configs}

    assert CONFIG in names and len(names) >= 2
    one = next(c for c in configs if f"{c.namespace}/{c.name}" == CONFIG)
    assert {(o.training_type, o.finetuning_type) for o in one.training_options} >= {
        ("dpo", "all_weights"),
        ("dpo", "lora"),
    }
    assert one.max_seq_length > 0


def test_job_create_retrieve_status_list_until_completed(emu: Emulator, sdk: NeMoMicroservices) -> None:
    seed_dataset(emu, "sdk-job", "pairs")

    job = sdk.customization.jobs.create(
        config=CONFIG,
        dataset={"name": "pairs", "namespace": "sdk-job"},
        hyperparameters=DPO_HYPERPARAMETERS,
        output_model="sdk-job/dpo-model",
    )
    first = sdk.customization.jobs.status(job.id)
    done = wait_until(lambda: (s := sdk.customization.jobs.status(job.id)).status == "completed" and s)

    assert job.id.startswith("cust-") and job.status == "created" and job.output_model == "sdk-job/dpo-model"
    assert isinstance(first.percentage_done, float) and f"{first.percentage_done:.1f}"
    assert (done.percentage_done, done.epochs_completed, done.steps_completed) == (100.0, 2, 10)
    assert done.train_loss is not None and done.val_loss is not None and done.best_epoch is not None
    assert done.metrics is not None and len(done.metrics.metrics.train_loss) == 10
    assert sdk.customization.jobs.retrieve(job.id).status == "completed"
    assert job.id in [j.id for j in sdk.customization.jobs.list(filter={"dataset": "sdk-job/pairs"}).data]
    model = sdk.models.retrieve(model_name="dpo-model", namespace="sdk-job")
    assert model.base_model == "meta/llama-3.2-1b-instruct"
    logs = sdk.customization.jobs.container_logs(job.id)
    assert logs.entries and "Training completed" in str(logs.entries["training"].logs)


def test_job_cancel(emu: Emulator, sdk: NeMoMicroservices) -> None:
    seed_dataset(emu, "sdk-cancel", "pairs")
    job = sdk.customization.jobs.create(
        config=CONFIG, dataset="sdk-cancel/pairs", hyperparameters={"finetuning_type": "lora"}
    )

    cancelling = sdk.customization.jobs.cancel(job.id)
    final = wait_until(lambda: (s := sdk.customization.jobs.status(job.id)).status == "cancelled" and s)

    assert cancelling.status == "cancelling"
    assert [log.detail for log in final.status_logs][-2:] == ["JobCancelling", "JobCancelled"]
    with pytest.raises(nemo_microservices.ConflictError):
        sdk.customization.jobs.cancel(job.id)


def test_deployment_config_and_model_deployment_until_ready(sdk: NeMoMicroservices) -> None:
    config = sdk.deployment.configs.create(
        name="dpo-config",
        namespace="sdk-dep",
        model="sdk-dep/model",
        nim_deployment={"image_name": "nvcr.io/nim/meta/llama-3.2-1b-instruct", "image_tag": "1.8", "gpu": 1},
    )
    deployment = sdk.deployment.model_deployments.create(
        name="dpo-deployment", namespace="sdk-dep", config=f"{config.namespace}/{config.name}"
    )
    ready = wait_until(
        lambda: (
            (
                d := sdk.deployment.model_deployments.retrieve(deployment_name="dpo-deployment", namespace="sdk-dep")
            ).status_details.status
            == "ready"
            and d
        )
    )

    assert deployment.status_details.status == "pending" and deployment.deployed is False
    assert ready.deployed is True and ready.models == ["sdk-dep/model"] and ready.url
    assert [d.name for d in sdk.deployment.model_deployments.list().data if d.namespace == "sdk-dep"] == [
        "dpo-deployment"
    ]
    with pytest.raises(nemo_microservices.NotFoundError):
        sdk.deployment.model_deployments.create(name="orphan", namespace="sdk-dep", config="sdk-dep/missing")
    sdk.deployment.model_deployments.delete(deployment_name="dpo-deployment", namespace="sdk-dep")
    with pytest.raises(nemo_microservices.NotFoundError):
        sdk.deployment.model_deployments.retrieve(deployment_name="dpo-deployment", namespace="sdk-dep")


def test_reference_plugin_flow_runs_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    """The calls of nvidia-nat-nemo-customizer's trainer adapter, in its order, against the emulator.

    Differences from the plugin: ``HfApi(token=None)`` where the plugin passes ``""`` when no
    token is configured (huggingface_hub then sends an empty bearer and fails on any server),
    and short poll intervals.
    """
    namespace, dataset_name, run_id = "nat-dpo-test", "nat-dpo", "run-1"
    with Emulator(fast_config()) as emu:
        entity_client = NeMoMicroservices(base_url=emu.url)
        hf_api = HfApi(endpoint=f"{emu.url}/v1/hf", token=None)

        # _ensure_namespaces_exist
        entity_client.namespaces.create(id=namespace, description=f"NAT finetuning namespace: {namespace}")
        resp = httpx.post(f"{emu.url}/v1/datastore/namespaces", data={"namespace": namespace})
        assert resp.status_code in (200, 201)
        again = httpx.post(f"{emu.url}/v1/datastore/namespaces", data={"namespace": namespace})
        assert again.status_code in (409, 422)

        # _setup_dataset
        repo_id = f"{namespace}/{dataset_name}"
        hf_api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        entity_client.datasets.create(
            name=dataset_name,
            namespace=namespace,
            files_url=f"hf://datasets/{repo_id}",
            description=f"NAT DPO training dataset for run {run_id}",
        )
        training_jsonl = "\n".join(json.dumps(RECORD) for _ in range(8))
        validation_jsonl = json.dumps({**RECORD, "prompt": [{"role": "user", "content": "What is 2+2?"}]})
        with tempfile.TemporaryDirectory() as tmpdir:
            train_path, val_path = Path(tmpdir) / "training_file.jsonl", Path(tmpdir) / "validation_file.jsonl"
            train_path.write_text(training_jsonl)
            val_path.write_text(validation_jsonl)
            hf_api.upload_file(
                path_or_fileobj=str(train_path),
                path_in_repo="training/training_file.jsonl",
                repo_id=repo_id,
                repo_type="dataset",
                revision="main",
                commit_message=f"Training file for run {run_id}",
            )
            hf_api.upload_file(
                path_or_fileobj=str(val_path),
                path_in_repo="validation/validation_file.jsonl",
                repo_id=repo_id,
                repo_type="dataset",
                revision="main",
                commit_message=f"Validation file for run {run_id}",
            )

        # submit
        job = entity_client.customization.jobs.create(
            config=CONFIG, dataset={"name": dataset_name, "namespace": namespace}, hyperparameters=DPO_HYPERPARAMETERS
        )
        output_model = job.output_model
        assert output_model

        # wait_until_complete: status() then the plugin's unconditional f"{progress:.1f}"
        progress_lines = []
        while True:
            job_status = entity_client.customization.jobs.status(job.id)
            progress = getattr(job_status, "percentage_done", None)
            progress_lines.append(f"Progress {progress:.1f}%")
            if job_status.status.lower() in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.01)
        assert job_status.status == "completed" and progress_lines[-1] == "Progress 100.0%"

        # _deploy_model
        dep_config = entity_client.deployment.configs.create(
            name=f"nat-deploy-config-{run_id}",
            namespace=namespace,
            description="Fine-tuned model deployment",
            model=output_model,
            nim_deployment={
                "image_name": "nvcr.io/nim/nvidia/nemotron-3.5-lightning-30b-a3b",
                "image_tag": "latest",
                "gpu": 1,
            },
        )
        deployment_name = f"nat-deployment-{run_id}"
        entity_client.deployment.model_deployments.create(
            name=deployment_name,
            namespace=namespace,
            description="Fine-tuned model deployment",
            config=f"{dep_config.namespace}/{dep_config.name}",
        )

        # _wait_for_deployment_ready: list, find by name and namespace, read status_details
        def deployment_status() -> str | None:
            for dep in entity_client.deployment.model_deployments.list().data:
                if dep.name == deployment_name and dep.namespace == namespace:
                    return dep.status_details.status if dep.status_details.status.lower() == "ready" else None
            return None

        assert wait_until(deployment_status) == "ready"
        model_ns, model_name = output_model.split("/", 1)
        assert entity_client.models.retrieve(model_name=model_name, namespace=model_ns).name == model_name
        assert emu.state.file_bytes(repo_id, "training/training_file.jsonl") == training_jsonl.encode()
