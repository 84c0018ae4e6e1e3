"""Deployment management: deployment configs and model deployments.

Creating a model deployment whose name is taken (409) is not success by itself: the
deployment that exists may serve another model (a second training run with a fixed
``deployment_name``). :meth:`DeploymentApi.create` compares what the existing deployment
serves with what was asked and, when they differ, fails clearly (``on_conflict="fail"``,
the default), updates the deployment in place (``"update"``, a PATCH) or deletes and
creates it again (``"replace"``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from dpo_frames.errors import ConflictError

from .models import DeploymentConfig, ModelDeployment, NimDeployment
from .transport import ServiceHttp, drop_none
from .urls import segment

__all__ = ["ON_CONFLICT", "DeploymentApi", "OnConflict"]

OnConflict = Literal["fail", "update", "replace"]
ON_CONFLICT: tuple[OnConflict, ...] = ("fail", "update", "replace")

logger = logging.getLogger("dpo_frames.customizer")


def _path(kind: str, namespace: str, name: str) -> str:
    """``/v1/deployment/{kind}/{namespace}/{name}``, each segment validated and quoted."""
    return f"/v1/deployment/{kind}/{segment(namespace, 'namespace')}/{segment(name, 'name')}"


class DeploymentApi:
    """Calls to Deployment management (``/v1/deployment``)."""

    def __init__(self, http: ServiceHttp) -> None:
        self._http = http

    async def create_config(
        self,
        *,
        name: str,
        namespace: str,
        model: str | None = None,
        nim_deployment: NimDeployment | Mapping[str, Any] | None = None,
        description: str | None = None,
        external_endpoint: Mapping[str, Any] | None = None,
    ) -> DeploymentConfig:
        """Create a deployment config; an existing one of that name is fetched and returned."""
        call = "create_deployment_config"
        nim = nim_deployment.model_dump(mode="json") if isinstance(nim_deployment, NimDeployment) else nim_deployment
        body = drop_none(
            {
                "name": name,
                "namespace": namespace,
                "model": model,
                "nim_deployment": dict(nim) if nim is not None else None,
                "description": description,
                "external_endpoint": dict(external_endpoint) if external_endpoint is not None else None,
            }
        )
        response = await self._http.request(
            "POST", "/v1/deployment/configs", call=call, json_body=body, accept_status=frozenset({409})
        )
        if response.status_code == 409:
            logger.info("deployment config %s/%s already exists", namespace, name)
            return await self.get_config(namespace, name)
        logger.info("deployment config %s/%s created", namespace, name)
        return self._http.parse(DeploymentConfig, response, call)

    async def get_config(self, namespace: str, name: str) -> DeploymentConfig:
        """Fetch a deployment config."""
        call = "get_deployment_config"
        response = await self._http.request("GET", _path("configs", namespace, name), call=call)
        return self._http.parse(DeploymentConfig, response, call)

    async def create(
        self,
        *,
        name: str,
        namespace: str,
        config: str | Mapping[str, Any],
        description: str | None = None,
        models: list[str] | None = None,
        async_enabled: bool | None = None,
        on_conflict: OnConflict = "fail",
    ) -> ModelDeployment:
        """Create a model deployment.

        When one of that name exists (409) and serves the same models (from ``models``, else
        the config's ``model``), it is returned: a re-run is not an error. When it serves other
        models, ``on_conflict`` decides: ``"fail"`` raises :class:`ConflictError` naming both,
        ``"update"`` points it at ``config`` (PATCH; the platform restarts it), ``"replace"``
        deletes it and creates it again. Either way the answer is the deployment as it now is.
        """
        call = "create_model_deployment"
        body = drop_none(
            {
                "name": name,
                "namespace": namespace,
                "config": config if isinstance(config, str) else dict(config),
                "description": description,
                "models": models,
                "async_enabled": async_enabled,
            }
        )
        response = await self._http.request(
            "POST", "/v1/deployment/model-deployments", call=call, json_body=body, accept_status=frozenset({409})
        )
        if response.status_code == 409:
            return await self._existing(body, on_conflict, call)
        logger.info("model deployment %s/%s created", namespace, name)
        return self._http.parse(ModelDeployment, response, call)

    async def _existing(self, body: dict[str, Any], on_conflict: OnConflict, call: str) -> ModelDeployment:
        """The answer to a 409: the existing deployment if it serves what was asked, else per ``on_conflict``."""
        namespace, name = body["namespace"], body["name"]
        existing = await self.get(namespace, name)
        wanted = await self._served(body.get("models"), body["config"])
        serving = await self._served(existing.models, existing.config)
        if serving == wanted:
            logger.info("model deployment %s/%s already exists and serves %s", namespace, name, ", ".join(wanted))
            return existing
        what = f"model deployment {namespace}/{name} already exists and serves {_names(serving)}, not {_names(wanted)}"
        if on_conflict == "fail":
            raise ConflictError(
                "deployment",
                call,
                409,
                f"{what}: update it (on_conflict='update': point it at the new config) or replace it "
                "(on_conflict='replace': delete and create it again), or choose another deployment name",
            )
        if on_conflict == "update":
            logger.warning("%s: updating it to %s", what, _names(wanted))
            models = body.get("models") or [m for m in wanted if not m.startswith("config ")] or None
            return await self.update(namespace, name, config=body["config"], models=models)
        logger.warning("%s: replacing it", what)
        await self.delete(namespace, name)
        response = await self._http.request(
            "POST", "/v1/deployment/model-deployments", call=call, json_body=body, idempotent=False
        )
        return self._http.parse(ModelDeployment, response, call)

    async def _served(self, models: list[str] | None, config: str | Mapping[str, Any] | None) -> list[str]:
        """The models a deployment serves: its ``models``, else its config's ``model``, else the config's name."""
        if models:
            return sorted(models)
        if isinstance(config, str):
            model = (await self.get_config(*config.split("/", 1))).model if "/" in config else None
            return [str(model)] if model else [f"config {config}"]
        model = (config or {}).get("model")
        return [str(model)] if model else []

    async def update(
        self,
        namespace: str,
        name: str,
        *,
        config: str | Mapping[str, Any] | None = None,
        models: list[str] | None = None,
        description: str | None = None,
    ) -> ModelDeployment:
        """Update a model deployment (PATCH): a new config or models restart it on the platform."""
        call = "update_model_deployment"
        body = drop_none(
            {
                "config": config if config is None or isinstance(config, str) else dict(config),
                "models": models,
                "description": description,
            }
        )
        response = await self._http.request(
            "PATCH",
            _path("model-deployments", namespace, name),
            call=call,
            json_body=body,
        )
        logger.info("model deployment %s/%s updated", namespace, name)
        return self._http.parse(ModelDeployment, response, call)

    async def delete(self, namespace: str, name: str) -> None:
        """Delete a model deployment."""
        call = "delete_model_deployment"
        await self._http.request(
            "DELETE",
            _path("model-deployments", namespace, name),
            call=call,
        )
        logger.info("model deployment %s/%s deleted", namespace, name)

    async def get(self, namespace: str, name: str) -> ModelDeployment:
        """Fetch a model deployment (its ``status_details`` tell pending/ready/failed)."""
        call = "get_model_deployment"
        response = await self._http.request(
            "GET",
            _path("model-deployments", namespace, name),
            call=call,
        )
        return self._http.parse(ModelDeployment, response, call)

    def iter_deployments(self, *, page_size: int = 100) -> AsyncIterator[ModelDeployment]:
        """Every model deployment, across all pages."""
        return self._http.iter_pages(
            "/v1/deployment/model-deployments", ModelDeployment, call="list_model_deployments", page_size=page_size
        )

    async def list(self, *, page_size: int = 100) -> list[ModelDeployment]:
        """Every model deployment, as a list."""
        return [d async for d in self.iter_deployments(page_size=page_size)]


def _names(models: list[str]) -> str:
    return ", ".join(models) if models else "no model"
