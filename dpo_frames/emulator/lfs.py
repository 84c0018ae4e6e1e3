"""Data Store: the git-lfs batch API and file downloads of the Hugging Face compatible API.

``POST {repo}.git/info/lfs/objects/batch`` answers, per object not stored yet, an
``upload`` action (a PUT to this server, authorised by a one-time ticket in its URL, as a
presigned URL would be: ``huggingface_hub`` sends that PUT without credentials) and a
``verify`` action. The PUT body is streamed to disk (in a worker thread) and checked against
the announced sha256 and size: a body announced or sent longer than the ticket's size is cut off
at once (413), and a ticket expires ``lfs_ticket_seconds`` after the batch answer (on the job
clock) and serves one upload. ``GET``/``HEAD {repo}/resolve/{rev}/{path}`` serve file bytes with the headers
``hf_hub_download`` relies on (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``/``X-Linked-Size``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from .blobs import BlobMismatch, is_sha256
from .config import EmulatorConfig
from .hf import HF_PREFIX, HfError, check_revision, find_repo, hf_endpoint, repo_web_url
from .http import parse_body
from .state import EmulatorState, Repo, repo_key

LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"
UPLOAD_PATH = re.compile(r"^/v1/hf/(?:datasets/)?[^/]+/[^/]+\.git/info/lfs/objects/[0-9a-f]{64}$")
"""Paths of LFS object uploads: authorised by their ticket, not by a bearer token."""


class LfsObject(BaseModel):
    """One object of a batch request."""

    model_config = ConfigDict(extra="ignore")

    oid: str
    size: int = Field(ge=0)


class LfsBatch(BaseModel):
    """Body of ``POST {repo}.git/info/lfs/objects/batch``."""

    model_config = ConfigDict(extra="ignore")

    operation: Literal["upload", "download"]
    transfers: list[str] = Field(default_factory=lambda: ["basic"])
    objects: list[LfsObject]
    hash_algo: str = "sha256"


def is_ticketed_upload(method: str, path: str) -> bool:
    """Whether this request is an LFS object PUT, which its URL ticket authorises."""
    return method == "PUT" and bool(UPLOAD_PATH.match(path))


MAX_TICKETS = 100_000
"""Outstanding upload tickets kept at most (expired ones are dropped first)."""


def _issue_ticket(state: EmulatorState, repo: Repo, oid: str, size: int, lifetime: float) -> str:
    ticket = secrets.token_urlsafe(24)
    with state.lock:
        now = state.clock.now()
        tickets = state.lfs_tickets
        if len(tickets) >= MAX_TICKETS:
            for key in [key for key, value in tickets.items() if value[3] <= now]:
                del tickets[key]
            while len(tickets) >= MAX_TICKETS:
                del tickets[next(iter(tickets))]  # the oldest
        tickets[ticket] = (repo.key, oid, size, now + lifetime)
    return ticket


def routes(state: EmulatorState, config: EmulatorConfig) -> list[Route]:
    """The git-lfs and ``resolve`` routes over ``state``, for dataset and model repositories."""

    def repo_of(request: Request, repo_type: str) -> Repo:
        repo_id = f"{request.path_params['namespace']}/{request.path_params['name']}"
        return find_repo(state, repo_type, repo_id)

    def handlers(repo_type: str, base: str) -> list[Route]:
        git = f"{base}/{{namespace}}/{{name}}.git/info/lfs/objects"

        async def batch(request: Request) -> Response:
            repo = repo_of(request, repo_type)
            body = await parse_body(request, LfsBatch)
            if body.operation != "upload":
                raise HfError(422, "Only the 'upload' operation is supported; download files through 'resolve'.")
            if body.hash_algo != "sha256":
                raise HfError(422, f"Unsupported hash_algo {body.hash_algo!r}; use sha256.")
            repo_url = f"{repo_web_url(hf_endpoint(request), repo)}.git/info/lfs/objects"
            objects: list[dict[str, Any]] = []
            for item in body.objects:
                answer: dict[str, Any] = {"oid": item.oid, "size": item.size}
                if not is_sha256(item.oid):
                    answer["error"] = {"code": 422, "message": f"Invalid oid {item.oid!r}: expected a sha256."}
                elif not state.blobs.has(item.oid, item.size):
                    lifetime = config.lfs_ticket_seconds
                    ticket = _issue_ticket(state, repo, item.oid, item.size, lifetime)
                    answer["authenticated"] = True
                    answer["actions"] = {
                        "upload": {"href": f"{repo_url}/{item.oid}?ticket={ticket}", "expires_in": int(lifetime)},
                        "verify": {"href": f"{repo_url}/verify"},
                    }
                objects.append(answer)
            return JSONResponse(
                {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, media_type=LFS_CONTENT_TYPE
            )

        async def upload(request: Request) -> Response:
            oid = request.path_params["oid"]
            ticket = request.query_params.get("ticket", "")
            expected = state.lfs_tickets.get(ticket)
            repo_id = f"{request.path_params['namespace']}/{request.path_params['name']}"
            if expected is not None and expected[3] <= state.clock.now():
                with state.lock:
                    state.lfs_tickets.pop(ticket, None)
                expected = None
            if expected is None or expected[0] != repo_key(repo_type, repo_id) or expected[1] != oid:
                raise HfError(403, "Invalid or expired upload URL: ask the batch API for a new one.")
            size = expected[2]
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > size:
                raise HfError(
                    413, f"Upload of LFS object rejected: {declared} bytes announced, the ticket is for {size}."
                )
            writer = await asyncio.to_thread(state.blobs.writer)
            try:
                async for chunk in request.stream():
                    if writer.size + len(chunk) > size:
                        raise HfError(413, f"Upload of LFS object rejected: more than the {size} bytes of its ticket.")
                    await asyncio.to_thread(writer.write, chunk)
                await asyncio.to_thread(writer.finish, oid, size)
            except BlobMismatch as exc:
                raise HfError(400, f"Upload of LFS object rejected: {exc}.") from exc
            except BaseException:
                writer.abort()
                raise
            with state.lock:
                state.lfs_tickets.pop(ticket, None)
            return Response(status_code=200)

        async def verify(request: Request) -> Response:
            repo_of(request, repo_type)
            body = await parse_body(request, LfsObject)
            if not state.blobs.has(body.oid, body.size):
                raise HfError(404, f"LFS object {body.oid} ({body.size} bytes) not found.")
            return JSONResponse({"message": "Object verified"}, media_type=LFS_CONTENT_TYPE)

        async def resolve(request: Request) -> Response:
            repo = repo_of(request, repo_type)
            check_revision(repo, request.path_params["revision"])
            path = request.path_params["path"]
            item = repo.files.get(path)
            if item is None:
                raise HfError(404, f"Entry not found: {path}", "EntryNotFound")
            etag = item.sha256 if item.lfs else item.git_oid
            headers = {"X-Repo-Commit": repo.head, "ETag": f'"{etag}"'}
            if item.lfs:
                headers |= {"X-Linked-Etag": f'"{item.sha256}"', "X-Linked-Size": str(item.size)}
            return FileResponse(state.blobs.path(item.sha256), headers=headers, media_type="application/octet-stream")

        return [
            Route(f"{git}/batch", batch, methods=["POST"]),
            Route(f"{git}/verify", verify, methods=["POST"]),
            Route(f"{git}/{{oid}}", upload, methods=["PUT"]),
            Route(f"{base}/{{namespace}}/{{name}}/resolve/{{revision}}/{{path:path}}", resolve, methods=["GET"]),
        ]

    return [*handlers("dataset", f"{HF_PREFIX}/datasets"), *handlers("model", HF_PREFIX)]
