"""Data Store: the Hugging Face Hub compatible API under ``/v1/hf`` (the ``HfApi`` endpoint).

Repositories (``api/repos/create``, ``api/repos/delete``), repository info
(``api/{type}s/{ns}/{name}[/revision/{rev}]``), file listing (``tree``), and commits: the
``preupload`` answer decides per file between an inline base64 upload (``regular``) and the
git-lfs path (``lfs``, files of at least ``lfs_threshold_bytes``); the NDJSON ``commit`` then
names regular files with their content and LFS files by sha256. The git-lfs endpoints and
file downloads (``resolve``) live in :mod:`.lfs`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .blobs import BlobMismatch, is_sha256
from .config import EmulatorConfig
from .http import CLOSE, ApiError, loads, parse_body
from .state import EmulatorState, Repo, RepoFile, commit_oid, git_blob_id, hf_time, lfs_pointer, new_repo, repo_key

HF_PREFIX = "/v1/hf"
REPO_TYPES = {"datasets": "dataset", "models": "model"}
"""URL segment -> repository type."""


class HfError(ApiError):
    """An error as the Hub reports it: ``X-Error-Code`` header and an ``error`` message.

    ``huggingface_hub`` maps ``RepoNotFound``, ``RevisionNotFound`` and ``EntryNotFound`` to
    its own exception classes.
    """

    def __init__(self, status_code: int, message: str, code: str | None = None) -> None:
        shown = " ".join(message.encode("ascii", "backslashreplace").decode().split())[:1000]  # a header line
        headers = {"X-Error-Message": shown, **(CLOSE if status_code == 413 else {})}
        if code is not None:
            headers["X-Error-Code"] = code
        super().__init__(status_code, message, headers, {"error": message})


def hf_endpoint(request: Request) -> str:
    """The ``HfApi`` endpoint as the client reached it (``http://host:port/v1/hf``)."""
    return str(request.base_url).rstrip("/") + HF_PREFIX


def repo_web_url(endpoint: str, repo: Repo) -> str:
    """The repository URL the Hub answers: datasets under ``/datasets/``, models at the root."""
    prefix = "datasets/" if repo.repo_type == "dataset" else ""
    return f"{endpoint}/{prefix}{repo.repo_id}"


def find_repo(state: EmulatorState, repo_type: str, repo_id: str) -> Repo:
    """The repository, or a 404 ``RepoNotFound``."""
    repo = state.repos.get(repo_key(repo_type, repo_id))
    if repo is None:
        raise HfError(404, f"Repository Not Found for url: {repo_type}s/{repo_id}.", "RepoNotFound")
    return repo


def check_revision(repo: Repo, revision: str) -> None:
    """Accept ``main`` or a commit id of the repository; 404 ``RevisionNotFound`` otherwise."""
    if revision == "main" or any(commit["oid"] == revision for commit in repo.commits):
        return
    raise HfError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def repo_type_of(request: Request) -> str:
    """The repository type from the ``{kind}`` path segment (``datasets`` or ``models``)."""
    kind = request.path_params["kind"]
    if kind not in REPO_TYPES:
        raise HfError(404, f"Unknown repository type '{kind}'.")
    return REPO_TYPES[kind]


MAX_PATH_CHARS = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REPO_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$"
"""A Hub repository name (or organization): at most 96 characters, no ``..`` or ``--`` (checked apart)."""


def valid_repo_path(path: str) -> bool:
    """A relative path of at most 1024 characters, without ``.``/``..`` segments, empty parts,
    backslashes or control characters (NUL included)."""
    parts = path.split("/")
    return (
        bool(path)
        and len(path) <= MAX_PATH_CHARS
        and "\\" not in path
        and not _CONTROL.search(path)
        and not path.startswith("/")
        and all(part not in ("", ".", "..") for part in parts)
    )


# --- request bodies ----------------------------------------------------------------------------
class RepoCreate(BaseModel):
    """Body of ``POST /api/repos/create`` as ``HfApi.create_repo`` sends it."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=_REPO_NAME)
    organization: str | None = Field(default=None, pattern=_REPO_NAME)
    type: Literal["dataset", "model"] = "model"
    private: bool | None = None
    visibility: str | None = None

    @field_validator("name", "organization")
    @classmethod
    def _no_double_separators(cls, value: str | None) -> str | None:
        if value is not None and ("--" in value or ".." in value):
            raise ValueError("'--' and '..' are not allowed in a repository name")
        return value


class RepoDelete(BaseModel):
    """Body of ``DELETE /api/repos/delete``."""

    model_config = ConfigDict(extra="ignore")

    name: str
    organization: str | None = None
    type: Literal["dataset", "model"] = "model"


class PreuploadFile(BaseModel):
    """One file announced to ``preupload``: path, size and a base64 sample of its head."""

    model_config = ConfigDict(extra="ignore")

    path: str
    size: int = Field(ge=0)
    sample: str = ""


class Preupload(BaseModel):
    """Body of ``POST /api/{type}s/{ns}/{name}/preupload/{rev}``."""

    model_config = ConfigDict(extra="ignore")

    files: list[PreuploadFile]


# --- commit ------------------------------------------------------------------------------------
@dataclass
class _Change:
    kind: Literal["add", "delete_file", "delete_folder"]
    path: str
    file: RepoFile | None = None


async def _ndjson_lines(request: Request, max_line: int) -> AsyncIterator[tuple[int, bytes]]:
    """The non-empty lines of a streamed NDJSON body, numbered from 1, one in memory at a time;
    a line longer than ``max_line`` bytes is refused (413) before it is all read."""
    buffer = bytearray()
    number = 0
    async for chunk in request.stream():
        scan_from = len(buffer)  # a long line arrives in many chunks: only scan the new bytes
        buffer.extend(chunk)
        while (end := buffer.find(b"\n", scan_from)) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            scan_from = 0
            number += 1
            if line.strip():
                yield number, line
        if len(buffer) > max_line:
            raise HfError(
                413,
                f"Invalid commit payload, line {number + 1}: longer than {max_line} bytes; "
                "files this large go through git-lfs",
            )
    if buffer.strip():
        yield number + 1, bytes(buffer)


def _bad_commit(line: int, message: str) -> HfError:
    return HfError(400, f"Invalid commit payload, line {line}: {message}")


async def _parse_operation(state: EmulatorState, number: int, item: dict[str, Any]) -> _Change:
    key, value = item.get("key"), item.get("value")
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        raise _bad_commit(number, "an operation needs a 'value' object with a 'path'")
    path = value["path"]
    if not valid_repo_path(path.rstrip("/") if key == "deletedFolder" else path):
        raise _bad_commit(number, f"invalid path {path!r}")
    if key == "file":
        if value.get("encoding", "base64") != "base64" or not isinstance(value.get("content"), str):
            raise _bad_commit(number, "a 'file' needs base64 'content'")
        try:
            content = base64.b64decode(value["content"], validate=True)
        except (binascii.Error, ValueError):
            raise _bad_commit(number, f"content of {path!r} is not valid base64") from None
        sha256 = await asyncio.to_thread(state.blobs.put_bytes, content)  # off the event loop
        return _Change("add", path, RepoFile(path, len(content), sha256, git_blob_id(content), lfs=False))
    if key == "lfsFile":
        oid, size = value.get("oid"), value.get("size")
        if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or not is_sha256(oid):
            raise _bad_commit(number, "an 'lfsFile' needs a sha256 'oid'")
        if not state.blobs.has(oid, size if isinstance(size, int) else None):
            raise HfError(
                422,
                f"LFS object {oid} of {path!r} was not uploaded: send it through the git-lfs batch API first.",
            )
        size = state.blobs.path(oid).stat().st_size
        return _Change("add", path, RepoFile(path, size, oid, git_blob_id(lfs_pointer(oid, size)), lfs=True))
    if key == "deletedFile":
        return _Change("delete_file", path)
    if key == "deletedFolder":
        return _Change("delete_folder", path.rstrip("/"))
    raise _bad_commit(number, f"unknown operation key {key!r}")


def _apply(repo: Repo, changes: list[_Change]) -> dict[str, RepoFile]:
    files = dict(repo.files)
    for change in changes:
        if change.kind == "add":
            assert change.file is not None
            files[change.path] = change.file
        elif change.kind == "delete_file":
            if files.pop(change.path, None) is None:
                raise HfError(404, f"A file with this name doesn't exist: {change.path}", "EntryNotFound")
        else:
            inside = [path for path in files if path.startswith(change.path + "/")]
            if not inside:
                raise HfError(404, f"A folder with this name doesn't exist: {change.path}", "EntryNotFound")
            for path in inside:
                del files[path]
    return files


# --- listing -----------------------------------------------------------------------------------
def _tree(repo: Repo, base: str, recursive: bool) -> list[dict[str, Any]]:
    prefix = f"{base}/" if base else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, item in repo.files.items():
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :].split("/")
        for depth in range(1, len(rest)):
            if depth > 1 and not recursive:
                break
            folder = prefix + "/".join(rest[:depth])
            folder_oid = hashlib.sha1(f"{repo.head}:{folder}".encode(), usedforsecurity=False).hexdigest()
            entries.setdefault(folder, {"type": "directory", "oid": folder_oid, "path": folder})
        if recursive or len(rest) == 1:
            entries[path] = item.tree_entry()
    if base and not entries and base not in repo.files:
        raise HfError(404, f"Entry not found: {base}", "EntryNotFound")
    return [entries[path] for path in sorted(entries)]


def repo_info(repo: Repo) -> dict[str, Any]:
    """What ``GET api/{type}s/{ns}/{name}[/revision/{rev}]`` answers (``DatasetInfo`` fields)."""
    siblings = []
    for item in sorted(repo.files.values(), key=lambda f: f.path):
        sibling: dict[str, Any] = {"rfilename": item.path, "size": item.size, "blobId": item.git_oid}
        if item.lfs:
            sibling["lfs"] = {
                "sha256": item.sha256,
                "size": item.size,
                "pointerSize": len(lfs_pointer(item.sha256, item.size)),
            }
        siblings.append(sibling)
    namespace = repo.repo_id.split("/")[0]
    info: dict[str, Any] = {
        "_id": hashlib.sha1(repo.key.encode(), usedforsecurity=False).hexdigest()[:24],
        "id": repo.repo_id,
        "author": namespace,
        "sha": repo.head,
        "createdAt": repo.created_at,
        "lastModified": repo.commits[-1]["date"],
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }
    if repo.repo_type == "model":
        info["modelId"] = repo.repo_id
    return info


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def routes(state: EmulatorState, config: EmulatorConfig) -> list[Route]:
    """The ``/v1/hf/api`` routes over ``state``."""
    api = f"{HF_PREFIX}/api"
    repo_path = f"{api}/{{kind}}/{{namespace}}/{{name}}"

    def repo_of(request: Request) -> Repo:
        repo_id = f"{request.path_params['namespace']}/{request.path_params['name']}"
        return find_repo(state, repo_type_of(request), repo_id)

    async def create_repo(request: Request) -> Response:
        body = await parse_body(request, RepoCreate)
        if body.organization is None:
            raise HfError(400, "This Data Store needs an organization (namespace) in the repository id.")
        repo_id = f"{body.organization}/{body.name}"
        endpoint = hf_endpoint(request)
        with state.lock:
            existing = state.repos.get(repo_key(body.type, repo_id))
            if existing is not None:
                error = HfError(409, f"You already created this {body.type} repo: {repo_id}", "RepoExists")
                error.extra_body["url"] = repo_web_url(endpoint, existing)
                raise error
            repo = new_repo(body.type, repo_id)
            state.repos[repo.key] = repo
            state.touch("repos", repo.key)
        url = repo_web_url(endpoint, repo)
        return JSONResponse({"url": url, "name": repo_id, "id": repo_info(repo)["_id"]})

    async def delete_repo(request: Request) -> Response:
        body = await parse_body(request, RepoDelete)
        repo_id = f"{body.organization}/{body.name}" if body.organization else body.name
        with state.lock:
            find_repo(state, body.type, repo_id)
            del state.repos[repo_key(body.type, repo_id)]
            state.touch("repos", repo_key(body.type, repo_id))
        return Response(status_code=200)

    async def info(request: Request) -> Response:
        repo = repo_of(request)
        check_revision(repo, request.path_params.get("revision", "main"))
        return JSONResponse(repo_info(repo))

    async def preupload(request: Request) -> Response:
        repo = repo_of(request)
        check_revision(repo, request.path_params["revision"])
        body = await parse_body(request, Preupload)
        answers = []
        for item in body.files:
            if not valid_repo_path(item.path):
                raise HfError(400, f"Invalid path {item.path[:200]!r} in preupload.")
            mode = "lfs" if item.size >= config.lfs_threshold_bytes else "regular"
            existing = repo.files.get(item.path)
            oid = None
            if existing is not None and existing.lfs == (mode == "lfs"):
                oid = existing.sha256 if existing.lfs else existing.git_oid
            answers.append({"path": item.path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return JSONResponse({"files": answers, "commitOid": repo.head})

    async def commit(request: Request) -> Response:
        repo = repo_of(request)
        if request.path_params["revision"] != "main":
            raise HfError(400, "This Data Store only commits to the 'main' branch.")
        if _flag(request.query_params.get("create_pr")):
            raise HfError(400, "This Data Store does not support pull requests.")
        header: dict[str, Any] | None = None
        changes: list[_Change] = []
        max_line = config.lfs_threshold_bytes * 4 // 3 + 64 * 1024  # a regular file's base64, and the rest
        try:
            async for number, line in _ndjson_lines(request, max_line):
                try:
                    item = loads(line)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise _bad_commit(number, f"not acceptable JSON ({getattr(exc, 'msg', exc)})") from None
                if not isinstance(item, dict):
                    raise _bad_commit(number, "not a JSON object")
                if item.get("key") == "header":
                    header = item.get("value") if isinstance(item.get("value"), dict) else {}
                else:
                    changes.append(await _parse_operation(state, number, item))
        except BlobMismatch as exc:
            raise HfError(400, str(exc)) from exc
        if header is None:
            raise HfError(400, "Invalid commit payload: the first line must be the 'header'.")
        summary = str(header.get("summary") or "")
        with state.lock:
            if header.get("parentCommit") not in (None, repo.head):
                raise HfError(412, "A commit has happened since. Please refresh and try again.")
            repo.files = _apply(repo, changes)
            oid = commit_oid(repo.head, summary, [f"{c.kind}:{c.path}" for c in changes])
            repo.commits.append(
                {"oid": oid, "summary": summary, "description": str(header.get("description") or ""), "date": hf_time()}
            )
            state.touch("repos", repo.key)
        url = f"{repo_web_url(hf_endpoint(request), repo)}/commit/{oid}"
        return JSONResponse({"success": True, "commitOid": oid, "commitUrl": url, "hookOutput": ""})

    async def tree(request: Request) -> Response:
        repo = repo_of(request)
        check_revision(repo, request.path_params["revision"])
        base = request.path_params.get("path", "").strip("/")
        return JSONResponse(_tree(repo, base, _flag(request.query_params.get("recursive"))))

    async def xet_token(request: Request) -> Response:
        repo_of(request)
        raise HfError(
            501,
            "Xet storage is not supported by this Data Store (neither by NeMo Data Store): upload large "
            "files through git-lfs, e.g. set HF_HUB_DISABLE_XET=1 for huggingface_hub.",
        )

    return [
        Route(f"{api}/repos/create", create_repo, methods=["POST"]),
        Route(f"{api}/repos/delete", delete_repo, methods=["DELETE"]),
        Route(repo_path, info, methods=["GET"]),
        Route(f"{repo_path}/revision/{{revision}}", info, methods=["GET"]),
        Route(f"{repo_path}/preupload/{{revision}}", preupload, methods=["POST"]),
        Route(f"{repo_path}/commit/{{revision}}", commit, methods=["POST"]),
        Route(f"{repo_path}/tree/{{revision}}", tree, methods=["GET"]),
        Route(f"{repo_path}/tree/{{revision}}/{{path:path}}", tree, methods=["GET"]),
        Route(f"{repo_path}/xet-write-token/{{revision}}", xet_token, methods=["GET"]),
        Route(f"{repo_path}/xet-read-token/{{revision}}", xet_token, methods=["GET"]),
    ]
