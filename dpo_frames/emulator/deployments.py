"""Deployment management: deployment configs and model deployments (``/v1/deployment/...``).

A model deployment is ``pending``, then ``running`` (starting) after half of
``deployment_ready_after``, then ``ready`` (``deployed: true``) once it has elapsed, or
``failed`` when the fault ``deployment_fails`` is set. ``PATCH`` of a deployment with another
config or models restarts it (``pending`` again).

A deployment serves its models as a NIM does: its ``url`` (on the emulator) answers
``GET {url}/v1/models`` with the models it serves once ready (503 before), so a test sees
which model a deployment of a given name really serves.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import EmulatorConfig
from .entity import NAME_PATTERN, deleted, new_entity
from .http import ApiError, Conflict, NotFound, paginated, parse_body
from .state import DeploymentRun, EmulatorState

SETTLED = frozenset({"ready", "failed", "cancelled"})
SECRET_MASK = "**********"


class NimDeployment(BaseModel):
    """``nim_deployment`` of a deployment config."""

    model_config = ConfigDict(extra="allow")

    image_name: str
    image_tag: str
    gpu: int = Field(ge=0)


class ExternalEndpoint(BaseModel):
    """``external_endpoint`` of a deployment config."""

    model_config = ConfigDict(extra="allow")

    host_url: str
    api_key: str | None = None
    enabled_models: list[str] | None = None


class DeploymentConfigCreate(BaseModel):
    """Body of ``POST /v1/deployment/configs``."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAME_PATTERN)
    description: str | None = None
    model: str | dict[str, Any] | None = None
    nim_deployment: NimDeployment | None = None
    external_endpoint: ExternalEndpoint | None = None
    custom_fields: dict[str, Any] | None = None
    project: str | None = None
    ownership: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> DeploymentConfigCreate:
        if self.nim_deployment is None and self.external_endpoint is None:
            raise ValueError("either 'nim_deployment' or 'external_endpoint' is required")
        return self


class ModelDeploymentCreate(BaseModel):
    """Body of ``POST /v1/deployment/model-deployments`` (``hf_token`` is accepted, never stored)."""

    model_config = ConfigDict(extra="ignore")

    config: str | DeploymentConfigCreate
    name: str = Field(pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAME_PATTERN)
    description: str | None = None
    models: list[str] | None = None
    async_enabled: bool | None = None
    hf_token: str | None = Field(default=None, exclude=True)
    custom_fields: dict[str, Any] | None = None
    project: str | None = None
    ownership: dict[str, Any] | None = None


class ModelDeploymentUpdate(BaseModel):
    """Body of ``PATCH /v1/deployment/model-deployments/{namespace}/{name}``."""

    model_config = ConfigDict(extra="ignore")

    config: str | DeploymentConfigCreate | None = None
    description: str | None = None
    models: list[str] | None = None
    async_enabled: bool | None = None
    custom_fields: dict[str, Any] | None = None
    project: str | None = None
    ownership: dict[str, Any] | None = None


def _config_document(body: DeploymentConfigCreate) -> dict[str, Any]:
    fields = body.model_dump(exclude_none=True)
    endpoint = fields.get("external_endpoint")
    if endpoint and endpoint.get("api_key"):
        endpoint["api_key"] = SECRET_MASK
    return new_entity("deployment_config", fields)


class DeploymentSimulator:
    """Moves model deployments through pending -> running -> ready (or failed) with time."""

    def __init__(self, state: EmulatorState, config: EmulatorConfig) -> None:
        self.state = state
        self.config = config

    def advance(self, now: float | None = None) -> None:
        """Update every deployment that has not settled."""
        now = self.state.clock.now() if now is None else now
        ready_after = self.config.deployment_ready_after
        with self.state.lock:
            for key, deployment in self.state.deployments.items():
                details = deployment["status_details"]
                if details["status"] in SETTLED:
                    continue
                elapsed = self.state.deployment_runs[key].elapsed(now)
                if elapsed >= ready_after:
                    if self.config.faults.deployment_fails:
                        status, text = "failed", "NIM container exited during startup (injected fault)."
                    else:
                        status, text = "ready", "Deployment is ready and serving."
                elif elapsed >= ready_after / 2:
                    status, text = "running", "NIM container is starting."
                else:
                    status, text = "pending", "Waiting for GPU resources."
                if status != details["status"]:
                    details.update(status=status, description=text)
                    deployment["deployed"] = status == "ready"
                    self.state.mark_dirty()


def _models(models: list[str] | None, config: dict[str, Any]) -> list[str]:
    """What a deployment serves: the models asked for, else its config's model."""
    model = config.get("model")
    return models or ([model] if isinstance(model, str) else [])


def routes(state: EmulatorState) -> list[Route]:
    """The deployment routes over ``state``."""

    def key_of(request: Request, name_param: str) -> str:
        return f"{request.path_params['namespace']}/{request.path_params[name_param]}"

    def get(collection: dict[str, dict[str, Any]], key: str, label: str) -> dict[str, Any]:
        if key not in collection:
            raise NotFound(f"{label} '{key}' not found.")
        return collection[key]

    async def create_config(request: Request) -> Response:
        body = await parse_body(request, DeploymentConfigCreate)
        key = f"{body.namespace}/{body.name}"
        with state.lock:
            if key in state.deployment_configs:
                raise Conflict(f"Deployment config '{key}' already exists.")
            state.deployment_configs[key] = document = _config_document(body)
            state.mark_dirty()
        return JSONResponse(document, status_code=201)

    def resolve_config(config: str | DeploymentConfigCreate) -> tuple[str | dict[str, Any], dict[str, Any]]:
        """(the value stored on the deployment, the config document) of a reference or an inline config."""
        if isinstance(config, str):
            return config, get(state.deployment_configs, config, "Deployment config")
        document = _config_document(config)
        return document, document

    def start(key: str, document: dict[str, Any]) -> None:
        document |= {
            "deployed": False,
            "status_details": {"status": "pending", "description": "Waiting for GPU resources."},
        }
        state.deployment_runs[key] = DeploymentRun(origin=state.clock.now())

    async def create_deployment(request: Request) -> Response:
        body = await parse_body(request, ModelDeploymentCreate)
        key = f"{body.namespace}/{body.name}"
        with state.lock:
            config_value, config = resolve_config(body.config)
            if key in state.deployments:
                raise Conflict(f"Model deployment '{key}' already exists.")
            fields = body.model_dump(exclude_none=True, exclude={"config", "hf_token"})
            models = _models(body.models, config)
            document = new_entity("deployment", {**fields, "config": config_value, "models": models})
            document["url"] = f"{str(request.base_url).rstrip('/')}/nim/{body.namespace}/{body.name}"
            start(key, document)
            state.deployments[key] = document
            state.mark_dirty()
        return JSONResponse(document, status_code=201)

    async def update_deployment(request: Request) -> Response:
        body = await parse_body(request, ModelDeploymentUpdate)
        key = key_of(request, "deployment_name")
        with state.lock:
            document = get(state.deployments, key, "Model deployment")
            changes = body.model_dump(exclude_none=True, exclude={"config"})
            if body.config is not None:
                changes["config"], config = resolve_config(body.config)
                changes["models"] = _models(body.models, config)
            restart = any(document.get(k) != changes[k] for k in ("config", "models") if k in changes)
            document.update(changes)
            if restart:
                start(key, document)
            state.mark_dirty()
        return JSONResponse(document)

    async def served_models(request: Request) -> Response:
        """What the deployment's NIM answers at ``GET {url}/v1/models``."""
        key = key_of(request, "deployment_name")
        with state.lock:
            document = get(state.deployments, key, "Model deployment")
            status = document["status_details"]["status"]
            if status != "ready":
                raise ApiError(503, f"Model deployment '{key}' is not serving (status {status}).")
            models = list(document.get("models") or [])
        owner = request.path_params["namespace"]
        return JSONResponse(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": owner} for m in models]}
        )

    def collection_routes(collection: dict[str, dict[str, Any]], base: str, label: str, name_param: str) -> list[Route]:
        item = f"{base}/{{namespace}}/{{{name_param}}}"

        async def list_all(request: Request) -> Response:
            return paginated(request, list(collection.values()))

        async def get_one(request: Request) -> Response:
            return JSONResponse(get(collection, key_of(request, name_param), label))

        async def delete_one(request: Request) -> Response:
            key = key_of(request, name_param)
            with state.lock:
                document = get(collection, key, label)
                del collection[key]
                if collection is state.deployments:
                    state.deployment_runs.pop(key, None)
                state.mark_dirty()
            return deleted(document.get("id"))

        return [
            Route(base, list_all, methods=["GET"]),
            Route(item, get_one, methods=["GET"]),
            Route(item, delete_one, methods=["DELETE"]),
        ]

    return [
        Route("/v1/deployment/configs", create_config, methods=["POST"]),
        *collection_routes(state.deployment_configs, "/v1/deployment/configs", "Deployment config", "config_name"),
        Route("/v1/deployment/model-deployments", create_deployment, methods=["POST"]),
        Route("/v1/deployment/model-deployments/{namespace}/{deployment_name}", update_deployment, methods=["PATCH"]),
        Route("/nim/{namespace}/{deployment_name}/v1/models", served_models, methods=["GET"]),
        *collection_routes(
            state.deployments, "/v1/deployment/model-deployments", "Model deployment", "deployment_name"
        ),
    ]
