"""HTTP plumbing shared by the emulated services: errors, body parsing, pagination, ids.

Errors follow the platform (a FastAPI service): a non-2xx status with a JSON body
``{"detail": ...}``, where ``detail`` is a string or, for a bad body (422), a list of
validation errors ``{"type", "loc", "msg", "input"}``.

Request bodies have limits, as a real service behind a proxy does, answered with a 4xx (never
a 500, never stored): at most :data:`MAX_JSON_BODY_BYTES` (413), nested at most
:data:`MAX_JSON_DEPTH` deep, numbers within 64-bit integers and finite floats (422).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

ModelT = TypeVar("ModelT", bound=BaseModel)

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

MAX_JSON_BODY_BYTES = 1024 * 1024
"""Largest JSON body accepted (413 beyond)."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a JSON body (422 beyond)."""
_INT64 = 2**63


class JsonUnacceptable(ValueError):
    """Valid JSON the service does not take: too deep, a number out of range, NaN or Infinity."""


class ApiError(Exception):
    """An error answer: raise it from a handler, the app turns it into JSON ``{"detail": ...}``."""

    def __init__(
        self,
        status_code: int,
        detail: Any,
        headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra_body = dict(extra_body or {})


class NotFound(ApiError):
    """404: the entity does not exist."""

    def __init__(self, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(404, detail, headers)


class Conflict(ApiError):
    """409: the entity exists already (or the operation conflicts with its state).

    ``x-should-retry: false`` tells Stainless-generated SDKs (the official one) that retrying
    will not help; they retry 409s by default.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(409, detail, {"x-should-retry": "false"})


class Unprocessable(ApiError):
    """422: the request body is not acceptable."""

    def __init__(self, detail: Any) -> None:
        super().__init__(422, detail)


CLOSE = {"Connection": "close"}
"""Headers of an answer given before the body was read: the connection goes, and the rest with it."""


class PayloadTooLarge(ApiError):
    """413: the body is larger than the service accepts (the connection is closed: the rest unread)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large: at most {limit} bytes are accepted.", CLOSE)


def error_response(error: ApiError) -> JSONResponse:
    """Render an :class:`ApiError` the way the platform does."""
    body = {"detail": error.detail, **error.extra_body}
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def now_iso() -> str:
    """The current UTC time as ISO 8601, as the platform writes timestamps."""
    return datetime.now(UTC).isoformat()


def new_id(prefix: str) -> str:
    """A semantically prefixed base58 uuid4, like the platform's ids (``cust-7Xk...``)."""
    number = uuid.uuid4().int
    chars = []
    while number:
        number, rest = divmod(number, 58)
        chars.append(_BASE58[rest])
    return f"{prefix}-{''.join(reversed(chars))}"


def _validation_detail(error: ValidationError) -> list[dict[str, Any]]:
    details = []
    for item in error.errors(include_url=False):
        entry: dict[str, Any] = {
            "type": item["type"],
            "loc": ["body", *item["loc"]],
            "msg": item["msg"],
            "input": item.get("input"),
        }
        if "ctx" in item:
            entry["ctx"] = {key: str(value) for key, value in item["ctx"].items()}
        details.append(entry)
    return details


async def read_body(request: Request, limit: int = MAX_JSON_BODY_BYTES) -> bytes:
    """The whole body, refused with 413 as soon as it exceeds ``limit`` bytes (announced or sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # what request.body() and request.form() read from now on
    return body


def _int(text: str) -> int:
    if len(text) > 20 or not -_INT64 <= (value := int(text)) < _INT64:
        raise JsonUnacceptable(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is out of range")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonUnacceptable(f"number {text[:24]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise JsonUnacceptable(f"{name} is not a JSON value")


def _check_depth(value: Any, limit: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise JsonUnacceptable(f"nested deeper than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def loads(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` with the service's limits: :class:`JsonUnacceptable` (a ``ValueError``) for
    nesting deeper than ``max_depth``, integers beyond 64 bits, non-finite numbers, NaN."""
    try:
        value = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise JsonUnacceptable(f"nested deeper than {max_depth} levels") from None
    _check_depth(value, max_depth)
    return value


async def read_json(request: Request) -> Any:
    """The JSON body of ``request``; 413 when too large, 422 (FastAPI style) when it is not
    JSON or not acceptable JSON (too deep, a number out of range)."""
    raw = await read_body(request)
    try:
        return loads(raw or b"null")
    except JsonUnacceptable as exc:
        raise Unprocessable(
            [{"type": "value_error", "loc": ["body"], "msg": f"Value error, {exc}", "input": None}]
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", 0)
        raise Unprocessable(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", position],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ]
        ) from None


async def parse_body(request: Request, model: type[ModelT]) -> ModelT:
    """Validate the JSON body against ``model``; 422 with FastAPI-style details otherwise."""
    data = await read_json(request)
    return validate(model, data)


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate ``data`` against ``model``; 422 with FastAPI-style details otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(_validation_detail(exc)) from exc


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise Unprocessable(
            [
                {
                    "type": "int_parsing" if not raw.lstrip("-").isdigit() else "value_error",
                    "loc": ["query", name],
                    "msg": f"Input should be an integer between {low} and {high}",
                    "input": raw,
                }
            ]
        )
    return value


def filters_of(request: Request) -> dict[str, str]:
    """The ``filter[key]=value`` query parameters (the SDK's bracket encoding) as a dict."""
    found = {}
    for key, value in request.query_params.multi_items():
        if key.startswith("filter[") and key.endswith("]"):
            found[key[len("filter[") : -1]] = value
    return found


def paginated(
    request: Request,
    items: Iterable[dict[str, Any]],
    *,
    field_of: Callable[[dict[str, Any], str], Any] | None = None,
    default_sort: str = "created_at",
) -> JSONResponse:
    """Filter, sort and page ``items`` as the platform's list endpoints do.

    Query: ``page`` (from 1), ``page_size`` (1..1000, default 10), ``sort`` (a field name,
    ``-`` in front for descending), ``filter[field]=value`` (equality on the field's string form).
    ``field_of(item, name)`` looks a filter or sort field up; top-level keys by default.
    """
    lookup = field_of or (lambda item, name: item.get(name))
    page = _int_param(request, "page", 1, 1, 1_000_000)
    page_size = _int_param(request, "page_size", 10, 1, 1000)
    sort = request.query_params.get("sort") or default_sort
    filters = filters_of(request)

    def matches(item: dict[str, Any]) -> bool:
        return all(_as_text(lookup(item, key)) == value for key, value in filters.items())

    selected = [item for item in items if matches(item)]
    descending = sort.startswith("-")
    sort_key = sort.lstrip("-")
    selected.sort(key=lambda item: _as_text(lookup(item, sort_key)), reverse=descending)
    total = len(selected)
    start = (page - 1) * page_size
    data = selected[start : start + page_size]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "pagination": {
                "page": page,
                "page_size": page_size,
                "current_page_size": len(data),
                "total_pages": math.ceil(total / page_size),
                "total_results": total,
            },
            "sort": sort,
            "filter": filters or None,
        }
    )


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the keys whose value is None."""
    return {key: value for key, value in data.items() if value is not None}
