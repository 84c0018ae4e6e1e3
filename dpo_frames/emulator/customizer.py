"""Customizer: configs and customization jobs (``/v1/customization/...``)."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .catalog import base_model_name, builtin_configs, find_config
from .config import EmulatorConfig
from .entity import NAME_PATTERN
from .http import Conflict, NotFound, Unprocessable, drop_none, new_id, now_iso, paginated, parse_body
from .jobs import JobSimulator, initial_status, total_epochs
from .state import EmulatorState, JobRun

OUTPUT_MODEL_PATTERN = NAME_PATTERN.rstrip("$") + "/" + NAME_PATTERN.lstrip("^")
_NAME = re.compile(NAME_PATTERN)


class DpoParameters(BaseModel):
    """``hyperparameters.dpo``."""

    model_config = ConfigDict(extra="forbid")

    ref_policy_kl_penalty: float | None = Field(default=None, ge=0.0)
    preference_loss_weight: float | None = Field(default=None, ge=0.0)
    preference_average_log_probs: bool | None = None
    sft_loss_weight: float | None = Field(default=None, ge=0.0)
    sft_average_log_probs: bool | None = None
    max_grad_norm: float | None = Field(default=None, gt=0.0)


class Hyperparameters(BaseModel):
    """``hyperparameters`` of a job: the fields the platform checks; others are kept as given."""

    model_config = ConfigDict(extra="allow")

    finetuning_type: Literal["lora", "lora_merged", "all_weights"]
    training_type: Literal["sft", "dpo", "distillation", "grpo"] = "sft"
    epochs: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    learning_rate: float | None = Field(default=None, gt=0.0)
    max_steps: int | None = Field(default=None, ge=0)
    seed: int | None = None
    warmup_steps: int | None = Field(default=None, ge=0)
    weight_decay: float | None = Field(default=None, ge=0.0)
    lora: dict[str, Any] | None = None
    dpo: DpoParameters | None = None


class DatasetRef(BaseModel):
    """``dataset`` given as an object."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAME_PATTERN)


class JobCreate(BaseModel):
    """Body of ``POST /v1/customization/jobs``."""

    model_config = ConfigDict(extra="ignore")

    config: str | dict[str, Any]
    dataset: str | DatasetRef
    hyperparameters: Hyperparameters
    output_model: str | None = Field(default=None, pattern=OUTPUT_MODEL_PATTERN)
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAME_PATTERN)
    description: str | None = None
    custom_fields: dict[str, Any] | None = None
    project: str | None = None
    ownership: dict[str, Any] | None = None
    dataset_parameters: dict[str, Any] | None = None
    integrations: list[dict[str, Any]] | None = None


def _dataset_of(reference: str | DatasetRef) -> dict[str, str]:
    if isinstance(reference, DatasetRef):
        return {"namespace": reference.namespace, "name": reference.name}
    text = reference.removeprefix("hf://datasets/").strip("/")
    namespace, _, name = text.rpartition("/")
    if not _NAME.fullmatch(name) or "/" in namespace or (namespace and not _NAME.fullmatch(namespace)):
        raise Unprocessable(
            [
                {
                    "type": "value_error",
                    "loc": ["body", "dataset"],
                    "msg": "Expected 'namespace/name'",
                    "input": reference,
                }
            ]
        )
    return {"namespace": namespace or "default", "name": name}


def _job_field(job: dict[str, Any], name: str) -> Any:
    """Filter and sort fields of a job, as the SDK's job filter names them."""
    if name == "dataset":
        return f"{job['dataset']['namespace']}/{job['dataset']['name']}"
    if name in job["hyperparameters"] and name not in job:
        return job["hyperparameters"][name]
    return job.get(name)


def routes(state: EmulatorState, config: EmulatorConfig, simulator: JobSimulator) -> list[Route]:
    """The Customizer routes over ``state``."""
    configs = builtin_configs()

    def job_of(request: Request) -> dict[str, Any]:
        job_id = request.path_params["job_id"]
        job = state.jobs.get(job_id)
        if job is None:
            raise NotFound(f"Customization job '{job_id}' not found.")
        return job

    async def list_configs(request: Request) -> Response:
        return paginated(request, configs)

    async def get_config(request: Request) -> Response:
        reference = f"{request.path_params['namespace']}/{request.path_params['config_name']}"
        found = find_config(configs, reference)
        if found is None:
            raise NotFound(f"Customization config '{reference}' not found.")
        return JSONResponse(found)

    def resolve_config(body: JobCreate) -> dict[str, Any]:
        if isinstance(body.config, dict):
            return body.config
        found = find_config(configs, body.config)
        if found is None:
            names = ", ".join(f"{item['namespace']}/{item['name']}" for item in configs)
            raise NotFound(f"Customization config '{body.config}' not found. Available: {names}.")
        hyper = body.hyperparameters
        options = found["training_options"]
        if not any(
            option["training_type"] == hyper.training_type and option["finetuning_type"] == hyper.finetuning_type
            for option in options
        ):
            raise Unprocessable(
                f"Config '{body.config}' has no training option for training_type '{hyper.training_type}' "
                f"with finetuning_type '{hyper.finetuning_type}'."
            )
        return found

    async def create_job(request: Request) -> Response:
        body = await parse_body(request, JobCreate)
        resolved = resolve_config(body)
        dataset = _dataset_of(body.dataset)
        job_id = new_id("cust")
        stamp = now_iso()
        hyperparameters = body.hyperparameters.model_dump(exclude_none=True)
        output_model = body.output_model or f"{body.namespace}/{base_model_name(resolved)}@{job_id}"
        job = drop_none(
            {
                "id": job_id,
                "name": body.name or job_id,
                "namespace": body.namespace,
                "description": body.description,
                "project": body.project,
                "custom_fields": body.custom_fields or {},
                "ownership": body.ownership,
                "config": body.config,
                "dataset": dataset,
                "dataset_parameters": body.dataset_parameters,
                "hyperparameters": hyperparameters,
                "output_model": output_model,
                "integrations": body.integrations or [],
                "warnings": [],
                "status": "created",
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        target = resolved.get("target")
        if isinstance(target, dict) and target.get("base_model"):
            job["base_model"] = target["base_model"]
        epochs = total_epochs(job, config)
        job["status_details"] = initial_status(stamp, max(1, math.ceil(config.job_steps / epochs)))
        faults = config.faults
        with state.lock:
            if body.name is not None and any(
                other.get("name") == body.name and other.get("namespace") == body.namespace
                for other in state.jobs.values()
            ):
                # "Must be unique inside the namespace" (the platform's job name): the client's idempotency key
                raise Conflict(f"Customization job '{body.namespace}/{body.name}' already exists.")
            state.jobs_created += 1
            faults_apply = faults.job_fault_max_jobs is None or state.jobs_created <= faults.job_fault_max_jobs
            state.jobs[job_id] = job
            state.job_runs[job_id] = JobRun(faults_apply=faults_apply, epochs=epochs, origin=state.clock.now())
            for collection in ("jobs", "job_runs"):
                state.touch(collection, job_id)
            state.touch("meta", "jobs_created")
        return JSONResponse(job, status_code=201)

    async def list_jobs(request: Request) -> Response:
        return paginated(request, list(state.jobs.values()), field_of=_job_field, default_sort="-created_at")

    async def get_job(request: Request) -> Response:
        return JSONResponse(job_of(request))

    async def job_status(request: Request) -> Response:
        return JSONResponse(job_of(request)["status_details"])

    async def cancel_job(request: Request) -> Response:
        with state.lock:
            job = job_of(request)
            simulator.cancel(job)
            state.touch("jobs", job["id"])
        return JSONResponse(job)

    async def container_logs(request: Request) -> Response:
        job = job_of(request)
        details = job["status_details"]
        lines = [f"{entry['updated_at']} {entry['detail']}: {entry['message']}" for entry in details["status_logs"]]
        answer: dict[str, Any] = {
            "entries": {
                "training": {
                    "object": "pod",
                    "status": {"phase": job["status"]},
                    "events": [],
                    "logs": {"training": "\n".join(lines)},
                }
            },
            "error": None,
        }
        if job["status"] == "failed":
            answer["error"] = {
                "message": details["status_logs"][-1]["message"],
                "exception_type": "TrainingJobFailed",
                "timestamp": details["updated_at"],
            }
        return JSONResponse(answer)

    job = "/v1/customization/jobs/{job_id}"
    return [
        Route("/v1/customization/configs", list_configs, methods=["GET"]),
        Route("/v1/customization/configs/{namespace}/{config_name}", get_config, methods=["GET"]),
        Route("/v1/customization/jobs", create_job, methods=["POST"]),
        Route("/v1/customization/jobs", list_jobs, methods=["GET"]),
        Route(job, get_job, methods=["GET"]),
        Route(f"{job}/status", job_status, methods=["GET"]),
        Route(f"{job}/cancel", cancel_job, methods=["POST"]),
        Route(f"{job}/container-logs", container_logs, methods=["GET"]),
    ]
