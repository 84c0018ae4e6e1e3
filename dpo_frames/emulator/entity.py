"""Entity Store: namespaces, datasets and models (``/v1/namespaces``, ``/v1/datasets``, ``/v1/models``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .http import Conflict, NotFound, drop_none, new_id, now_iso, paginated, parse_body, read_json
from .state import EmulatorState

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.@+\-]{0,254}$"
"""Names and ids of entities (namespaces, datasets, models, jobs, deployments): 1-255 letters,
digits and ``. _ - @ +``, not starting with ``.``, ``-``, ``@`` or ``+``: never ``..``, a ``/``,
``?``, ``#``, a space or a control character, which would make another URL of it."""


class NamespaceCreate(BaseModel):
    """Body of ``POST /v1/namespaces``."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    custom_fields: dict[str, Any] | None = None
    project: str | None = None
    ownership: dict[str, Any] | None = None


class DatasetCreate(BaseModel):
    """Body of ``POST /v1/datasets``."""

    model_config = ConfigDict(extra="ignore")

    files_url: str
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAME_PATTERN)
    description: str | None = None
    format: str | None = None
    split: str | None = None
    limit: int | None = None
    hf_endpoint: str | None = None
    custom_fields: dict[str, Any] | None = None
    project: str | None = None
    ownership: dict[str, Any] | None = None


class ModelCreate(BaseModel):
    """Body of ``POST /v1/models``: name and namespace checked, the rest kept as given."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAME_PATTERN)


def new_entity(id_prefix: str, fields: dict[str, Any]) -> dict[str, Any]:
    """An entity document: the fields plus id, timestamps and schema version."""
    stamp = now_iso()
    return {
        "id": new_id(id_prefix),
        **drop_none(fields),
        "created_at": stamp,
        "updated_at": stamp,
        "schema_version": "1.0",
    }


def deleted(entity_id: str | None) -> JSONResponse:
    """The platform's answer to a delete."""
    return JSONResponse({"id": entity_id, "deleted_at": now_iso(), "message": "Resource deleted successfully."})


def register_model(state: EmulatorState, fields: dict[str, Any]) -> dict[str, Any]:
    """Add a model to the Entity Store (also used when a customization job completes)."""
    key = f"{fields['namespace']}/{fields['name']}"
    with state.lock:
        if key in state.models:
            raise Conflict(f"Model '{key}' already exists.")
        state.models[key] = document = new_entity("model", fields)
        state.touch("models", key)
    return document


def _patch(document: dict[str, Any], changes: Any, immutable: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(changes, dict):
        document.update({key: value for key, value in changes.items() if key not in immutable})
        document["updated_at"] = now_iso()
    return document


def routes(state: EmulatorState) -> list[Route]:
    """The Entity Store routes over ``state``."""

    def _get(collection: dict[str, dict[str, Any]], key: str, label: str) -> dict[str, Any]:
        try:
            return collection[key]
        except KeyError:
            raise NotFound(f"{label} '{key}' not found.") from None

    # --- namespaces ------------------------------------------------------------------------
    async def create_namespace(request: Request) -> Response:
        body = await parse_body(request, NamespaceCreate)
        with state.lock:
            if body.id in state.namespaces:
                raise Conflict(f"Namespace '{body.id}' already exists.")
            stamp = now_iso()
            document = {**drop_none(body.model_dump()), "created_at": stamp, "updated_at": stamp}
            state.namespaces[body.id] = document
            state.touch("namespaces", body.id)
        return JSONResponse(document, status_code=201)

    async def list_namespaces(request: Request) -> Response:
        return paginated(request, list(state.namespaces.values()))

    async def get_namespace(request: Request) -> Response:
        return JSONResponse(_get(state.namespaces, request.path_params["namespace"], "Namespace"))

    async def patch_namespace(request: Request) -> Response:
        changes = await read_json(request)
        with state.lock:
            document = _get(state.namespaces, request.path_params["namespace"], "Namespace")
            _patch(document, changes, ("id", "created_at"))
            state.touch("namespaces", request.path_params["namespace"])
        return JSONResponse(document)

    async def delete_namespace(request: Request) -> Response:
        namespace = request.path_params["namespace"]
        with state.lock:
            _get(state.namespaces, namespace, "Namespace")
            del state.namespaces[namespace]
            state.touch("namespaces", namespace)
        return deleted(namespace)

    # --- datasets and models ---------------------------------------------------------------
    async def create_dataset(request: Request) -> Response:
        body = await parse_body(request, DatasetCreate)
        fields = body.model_dump()
        entity_id = new_id("dataset")
        fields["name"] = body.name or entity_id
        key = f"{body.namespace}/{fields['name']}"
        with state.lock:
            if key in state.datasets:
                raise Conflict(f"Dataset '{key}' already exists.")
            document = new_entity("dataset", fields)
            document["id"] = entity_id
            state.datasets[key] = document
            state.touch("datasets", key)
        return JSONResponse(document, status_code=201)

    async def create_model(request: Request) -> Response:
        body = await parse_body(request, ModelCreate)
        return JSONResponse(register_model(state, body.model_dump()), status_code=201)

    def namespaced(collection: dict[str, dict[str, Any]], label: str, name_param: str, kind: str) -> list[Route]:
        base = f"/v1/{label.lower()}s"

        def key_of(request: Request) -> str:
            return f"{request.path_params['namespace']}/{request.path_params[name_param]}"

        async def list_all(request: Request) -> Response:
            return paginated(request, list(collection.values()))

        async def get_one(request: Request) -> Response:
            return JSONResponse(_get(collection, key_of(request), label))

        async def patch_one(request: Request) -> Response:
            changes = await read_json(request)
            with state.lock:
                document = _get(collection, key_of(request), label)
                _patch(document, changes, ("id", "name", "namespace", "created_at"))
                state.touch(kind, key_of(request))
            return JSONResponse(document)

        async def delete_one(request: Request) -> Response:
            key = key_of(request)
            with state.lock:
                document = _get(collection, key, label)
                del collection[key]
                state.touch(kind, key)
            return deleted(document.get("id"))

        item = f"{base}/{{namespace}}/{{{name_param}}}"
        return [
            Route(base, list_all, methods=["GET"]),
            Route(item, get_one, methods=["GET"]),
            Route(item, patch_one, methods=["PATCH"]),
            Route(item, delete_one, methods=["DELETE"]),
        ]

    return [
        Route("/v1/namespaces", create_namespace, methods=["POST"]),
        Route("/v1/namespaces", list_namespaces, methods=["GET"]),
        Route("/v1/namespaces/{namespace}", get_namespace, methods=["GET"]),
        Route("/v1/namespaces/{namespace}", patch_namespace, methods=["PATCH"]),
        Route("/v1/namespaces/{namespace}", delete_namespace, methods=["DELETE"]),
        Route("/v1/datasets", create_dataset, methods=["POST"]),
        *namespaced(state.datasets, "Dataset", "dataset_name", "datasets"),
        Route("/v1/models", create_model, methods=["POST"]),
        *namespaced(state.models, "Model", "model_name", "models"),
    ]
