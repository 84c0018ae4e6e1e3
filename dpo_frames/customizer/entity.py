"""Entity Store: namespaces, datasets, models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from dpo_frames.errors import ConflictError, ResponseFormatError

from .models import Dataset, Model, Namespace
from .transport import ServiceHttp, drop_none
from .urls import segment, validate_id

__all__ = ["EntityStoreApi"]

logger = logging.getLogger("dpo_frames.customizer")


def _url(files_url: str) -> str:
    return files_url.rstrip("/")


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
        validate_id(namespace, "namespace")
        body = drop_none({"id": namespace, "description": description, "custom_fields": custom_fields})
        response = await self._http.request(
            "POST", "/v1/namespaces", call=call, json_body=body, accept_status=frozenset({409})
        )
        if response.status_code == 409:
            logger.info("entity-store namespace %r already exists", namespace)
            return await self.get_namespace(namespace)
        created = self._http.parse(Namespace, response, call)
        if created.id != namespace:
            raise ResponseFormatError(self._http.service, call, f"created namespace {created.id!r}, not {namespace!r}")
        logger.info("entity-store namespace %r created", namespace)
        return created

    async def get_namespace(self, namespace: str) -> Namespace:
        """Fetch a namespace (:class:`NotFoundError` when missing)."""
        call = "get_namespace"
        response = await self._http.request("GET", f"/v1/namespaces/{segment(namespace, 'namespace')}", call=call)
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
        validate_id(namespace, "namespace")
        validate_id(name, "dataset name")
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
            registered = self._http.parse(Dataset, response, call)
            if (registered.namespace, registered.name) != (namespace, name) or _url(registered.files_url) != _url(
                files_url
            ):
                raise ResponseFormatError(
                    self._http.service,
                    call,
                    f"registered {registered.namespace}/{registered.name} -> {registered.files_url!r}, "
                    f"not {namespace}/{name} -> {files_url!r}",
                )
            logger.info("entity-store dataset %s/%s registered (%s)", namespace, name, files_url)
            return registered
        existing = await self.get_dataset(namespace, name)
        if _url(existing.files_url) != _url(files_url):
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
        path = f"/v1/datasets/{segment(namespace, 'namespace')}/{segment(name, 'dataset name')}"
        response = await self._http.request("GET", path, call=call)
        return self._http.parse(Dataset, response, call)

    async def get_model(self, namespace: str, name: str) -> Model:
        """Fetch a model, e.g. a finished job's ``output_model``."""
        call = "get_model"
        path = f"/v1/models/{segment(namespace, 'namespace')}/{segment(name, 'model name')}"
        response = await self._http.request("GET", path, call=call)
        return self._http.parse(Model, response, call)

    def iter_models(self, *, page_size: int = 100) -> AsyncIterator[Model]:
        """Every model, across all pages."""
        return self._http.iter_pages("/v1/models", Model, call="list_models", page_size=page_size)

    async def list_models(self, *, page_size: int = 100) -> list[Model]:
        """Every model, across all pages, as a list."""
        return [m async for m in self.iter_models(page_size=page_size)]
