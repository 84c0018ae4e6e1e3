"""Entity Store: namespaces, datasets, models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from dpo_frames.errors import ConflictError

from .models import Dataset, Model, Namespace
from .transport import ServiceHttp, drop_none

__all__ = ["EntityStoreApi"]

logger = logging.getLogger("dpo_frames.customizer")


class EntityStoreApi:
    """Calls to the Entity Store (``/v1/namespaces``, ``/v1/datasets``, ``/v1/models``)."""

    def __init__(self, http: ServiceHttp) -> None:
        self._http = http

    async def create_namespace(
        self,
        namespace: str,
        *,
        description: str | None = None,
        custom_fields: dict[str, Any] | None = None,
    ) -> Namespace:
        """Create ``namespace``; an existing one is fine (it is fetched and returned)."""
        call = "create_namespace"
        body = drop_none({"id": namespace, "description": description, "custom_fields": custom_fields})
        response = await self._http.request(
            "POST", "/v1/namespaces", call=call, json_body=body, accept_status=frozenset({409})
        )
        if response.status_code == 409:
            logger.info("entity-store namespace %r already exists", namespace)
            return await self.get_namespace(namespace)
        logger.info("entity-store namespace %r created", namespace)
        return self._http.parse(Namespace, response, call)

    async def get_namespace(self, namespace: str) -> Namespace:
        """Fetch a namespace (:class:`NotFoundError` when missing)."""
        call = "get_namespace"
        response = await self._http.request("GET", f"/v1/namespaces/{namespace}", call=call)
        return self._http.parse(Namespace, response, call)

    async def create_dataset(
        self,
        *,
        namespace: str,
        name: str,
        files_url: str,
        description: str | None = None,
        format: str | None = None,
        custom_fields: dict[str, Any] | None = None,
    ) -> Dataset:
        """Register a dataset; an existing one with the same ``files_url`` is fine.

        Raises :class:`ConflictError` when a dataset of that name exists but points at
        other files (registering would silently train on the wrong data).
        """
        call = "create_dataset"
        body = drop_none(
            {
                "name": name,
                "namespace": namespace,
                "files_url": files_url,
                "description": description,
                "format": format,
                "custom_fields": custom_fields,
            }
        )
        response = await self._http.request(
            "POST", "/v1/datasets", call=call, json_body=body, accept_status=frozenset({409})
        )
        if response.status_code != 409:
            logger.info("entity-store dataset %s/%s registered (%s)", namespace, name, files_url)
            return self._http.parse(Dataset, response, call)
        existing = await self.get_dataset(namespace, name)
        if existing.files_url.rstrip("/") != files_url.rstrip("/"):
            raise ConflictError(
                self._http.service,
                f"{call} (POST /v1/datasets)",
                409,
                f"dataset {namespace}/{name} exists with files_url {existing.files_url!r}, not {files_url!r}",
            )
        logger.info("entity-store dataset %s/%s already registered", namespace, name)
        return existing

    async def get_dataset(self, namespace: str, name: str) -> Dataset:
        """Fetch a registered dataset (:class:`NotFoundError` when missing)."""
        call = "get_dataset"
        response = await self._http.request("GET", f"/v1/datasets/{namespace}/{name}", call=call)
        return self._http.parse(Dataset, response, call)

    async def get_model(self, namespace: str, name: str) -> Model:
        """Fetch a model, e.g. a finished job's ``output_model``."""
        call = "get_model"
        response = await self._http.request("GET", f"/v1/models/{namespace}/{name}", call=call)
        return self._http.parse(Model, response, call)

    def iter_models(self, *, page_size: int = 100) -> AsyncIterator[Model]:
        """Every model, across all pages."""
        return self._http.iter_pages("/v1/models", Model, call="list_models", page_size=page_size)

    async def list_models(self, *, page_size: int = 100) -> list[Model]:
        """Every model, across all pages, as a list."""
        return [m async for m in self.iter_models(page_size=page_size)]
