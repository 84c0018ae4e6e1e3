"""Deployment management: deployment configs and model deployments."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .models import DeploymentConfig, ModelDeployment, NimDeployment
from .transport import ServiceHttp, drop_none

__all__ = ["DeploymentApi"]

logger = logging.getLogger("dpo_frames.customizer")


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
        response = await self._http.request("GET", f"/v1/deployment/configs/{namespace}/{name}", call=call)
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
    ) -> ModelDeployment:
        """Create a model deployment; an existing one of that name is fetched and returned."""
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
            logger.info("model deployment %s/%s already exists", namespace, name)
            return await self.get(namespace, name)
        logger.info("model deployment %s/%s created", namespace, name)
        return self._http.parse(ModelDeployment, response, call)

    async def get(self, namespace: str, name: str) -> ModelDeployment:
        """Fetch a model deployment (its ``status_details`` tell pending/ready/failed)."""
        call = "get_model_deployment"
        response = await self._http.request("GET", f"/v1/deployment/model-deployments/{namespace}/{name}", call=call)
        return self._http.parse(ModelDeployment, response, call)

    def iter_deployments(self, *, page_size: int = 100) -> AsyncIterator[ModelDeployment]:
        """Every model deployment, across all pages."""
        return self._http.iter_pages(
            "/v1/deployment/model-deployments", ModelDeployment, call="list_model_deployments", page_size=page_size
        )

    async def list(self, *, page_size: int = 100) -> list[ModelDeployment]:
        """Every model deployment, as a list."""
        return [d async for d in self.iter_deployments(page_size=page_size)]
