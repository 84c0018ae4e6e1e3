"""Data Store namespaces (``/v1/datastore/namespaces``), created with form data ``namespace=NAME``."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .entity import deleted
from .http import Conflict, NotFound, Unprocessable, now_iso, paginated, read_body
from .state import EmulatorState

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


async def _form_field(request: Request, name: str) -> str | None:
    raw = await read_body(request)  # bounded, like every body
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        value = form.get(name)
        return value if isinstance(value, str) else None
    fields = parse_qs(raw.decode("utf-8", "replace"))
    values = fields.get(name)
    return values[0] if values else None


def routes(state: EmulatorState) -> list[Route]:
    """The Data Store namespace routes over ``state``."""

    async def create(request: Request) -> Response:
        namespace = await _form_field(request, "namespace")
        if not namespace:
            raise Unprocessable(
                [{"type": "missing", "loc": ["body", "namespace"], "msg": "Field required", "input": None}]
            )
        if not _NAME.fullmatch(namespace):
            raise Unprocessable(
                [
                    {
                        "type": "string_pattern_mismatch",
                        "loc": ["body", "namespace"],
                        "msg": f"String should match pattern '{_NAME.pattern}'",
                        "input": namespace,
                    }
                ]
            )
        with state.lock:
            if namespace in state.datastore_namespaces:
                raise Conflict(f"Namespace '{namespace}' already exists.")
            document = {"namespace": namespace, "created_at": now_iso()}
            state.datastore_namespaces[namespace] = document
            state.touch("datastore_namespaces", namespace)
        return JSONResponse(document, status_code=201)

    async def list_all(request: Request) -> Response:
        return paginated(request, list(state.datastore_namespaces.values()), default_sort="namespace")

    async def get_one(request: Request) -> Response:
        namespace = request.path_params["namespace"]
        if namespace not in state.datastore_namespaces:
            raise NotFound(f"Namespace '{namespace}' not found.")
        return JSONResponse(state.datastore_namespaces[namespace])

    async def delete_one(request: Request) -> Response:
        namespace = request.path_params["namespace"]
        with state.lock:
            if state.datastore_namespaces.pop(namespace, None) is None:
                raise NotFound(f"Namespace '{namespace}' not found.")
            state.touch("datastore_namespaces", namespace)
        return deleted(namespace)

    return [
        Route("/v1/datastore/namespaces", create, methods=["POST"]),
        Route("/v1/datastore/namespaces", list_all, methods=["GET"]),
        Route("/v1/datastore/namespaces/{namespace}", get_one, methods=["GET"]),
        Route("/v1/datastore/namespaces/{namespace}", delete_one, methods=["DELETE"]),
    ]
