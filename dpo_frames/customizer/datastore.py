"""Data Store: namespaces and dataset repositories through the Hugging Face compatible API.

The upload follows what ``huggingface_hub.HfApi.upload_file`` sends (the judge of the wire
format), in one commit for several files:

1. ``POST /v1/hf/api/datasets/{repo}/preupload/{rev}`` with each file's path, size and
   base64 sample -> the server picks ``regular`` or ``lfs`` per file;
2. ``lfs`` files: ``POST /v1/hf/datasets/{repo}.git/info/lfs/objects/batch`` (git-lfs
   batch API, ``basic`` transfer), then ``PUT`` the bytes, streamed from disk, to each
   ``actions.upload.href`` and ``POST`` the optional ``actions.verify``;
3. ``POST /v1/hf/api/datasets/{repo}/commit/{rev}`` as NDJSON: a header line, then one line
   per file, regular files inline as base64 (streamed too), LFS files by sha256 pointer.

A file whose size and hash equal the repository's copy (read from the tree listing) is
skipped, which makes re-uploads idempotent and cheap. After a commit the tree is read again
and every file must be there with the size and hash that were sent (an answer that looks
like a commit is not proof of one): :class:`UploadError` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from dpo_frames.errors import NotFoundError, ResponseFormatError, UploadError

from .files import FileDigest, digest_file, stream_base64_ndjson_line, stream_file
from .models import CommitInfo, RepoFile, UploadResult
from .transport import ServiceHttp
from .urls import redact_query, repo_path, segment, validate_id

__all__ = ["DatastoreApi"]

logger = logging.getLogger("dpo_frames.customizer")

_COMMIT_OID = re.compile(r"[0-9a-fA-F]{7,64}")

LFS_HEADERS = {
    "Accept": "application/vnd.git-lfs+json",
    "Content-Type": "application/vnd.git-lfs+json",
}


class DatastoreApi:
    """Calls to the Data Store (``/v1/datastore``) and its Hub API (``/v1/hf``)."""

    def __init__(
        self,
        http: ServiceHttp,
        *,
        chunk_bytes: int = 1024 * 1024,
        upload_timeout: httpx.Timeout | float | None = None,
        repo_type: str = "dataset",
        upload_min_bytes_per_second: float = 256 * 1024,
    ) -> None:
        self._http = http
        self._chunk = chunk_bytes
        self._upload_timeout = upload_timeout
        self._repo_type = repo_type
        self._min_rate = upload_min_bytes_per_second

    # --- paths ------------------------------------------------------------------------

    def _repo(self, namespace: str, name: str) -> str:
        return f"{segment(namespace, 'namespace')}/{segment(name, 'repository name')}"

    def _api(self, namespace: str, name: str, action: str, revision: str) -> str:
        """``/v1/hf/api/datasets/{ns}/{name}/{action}/{revision}``, every part validated and quoted."""
        return f"/v1/hf/api/{self._repo_type}s/{self._repo(namespace, name)}/{action}/{segment(revision, 'revision')}"

    def _upload_deadlines(self, size: int) -> tuple[float, float]:
        """``(attempt, call)`` deadlines of a call that sends ``size`` bytes: the usual ones, plus
        the time those bytes take at the slowest rate tolerated."""
        extra = size / self._min_rate
        return self._http.attempt_deadline + extra, self._http.call_deadline + 2 * extra

    # --- namespaces and repositories -------------------------------------------------

    async def create_namespace(self, namespace: str) -> bool:
        """Create a Data Store namespace (form data). Returns False when it existed
        (the service answers 409 or 422 for an existing namespace)."""
        validate_id(namespace, "namespace")
        response = await self._http.request(
            "POST",
            "/v1/datastore/namespaces",
            call="create_namespace",
            data={"namespace": namespace},
            accept_status=frozenset({409, 422}),
        )
        created = response.status_code not in (409, 422)
        logger.info("datastore namespace %r %s", namespace, "created" if created else "already exists")
        return created

    async def create_repo(self, namespace: str, name: str, *, private: bool | None = None) -> bool:
        """Create the repository ``namespace/name``. Returns False when it existed (409)."""
        call = "create_repo"
        validate_id(namespace, "namespace")
        validate_id(name, "repository name")
        body: dict[str, Any] = {"name": name, "organization": namespace, "type": self._repo_type}
        if private is not None:
            body["private"] = private
        response = await self._http.request(
            "POST", "/v1/hf/api/repos/create", call=call, json_body=body, accept_status=frozenset({409})
        )
        if response.status_code == 409:
            logger.info("datastore repo %s/%s already exists", namespace, name)
            return False
        payload = self._http.parse_json(response, call)
        if not isinstance(payload, dict) or not isinstance(payload.get("url"), str):
            raise ResponseFormatError(self._http.service, call, "answer has no 'url'")
        url = payload["url"].split("?", 1)[0].rstrip("/")
        if not url.endswith(f"/{namespace}/{name}"):
            raise ResponseFormatError(
                self._http.service, call, f"answer's url {redact_query(url)!r} is not the repository {namespace}/{name}"
            )
        logger.info("datastore repo %s/%s created (%s)", namespace, name, url)
        return True

    async def list_repo_tree(
        self, namespace: str, name: str, *, revision: str = "main", recursive: bool = True
    ) -> list[RepoFile]:
        """Every entry of the repository tree (files and directories), across all pages
        (``Link: <...>; rel="next"``). :class:`NotFoundError` when repo/revision is missing."""
        call = "list_repo_tree"
        url: str = self._http.url(self._api(namespace, name, "tree", revision))
        params: dict[str, str] | None = {"recursive": str(recursive).lower(), "expand": "false"}
        entries: list[RepoFile] = []
        for _ in range(100_000):
            response = await self._http.request("GET", url, call=call, params=params)
            payload = self._http.parse_json(response, call)
            if not isinstance(payload, list):
                raise ResponseFormatError(self._http.service, call, "tree answer is not a JSON array")
            for raw in payload:
                entries.append(RepoFile.model_validate(raw))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return entries
            url, params = urljoin(str(response.url), next_url), None
            if not self._http.on_service_host(url):  # a listing from elsewhere says nothing of this repo
                raise ResponseFormatError(
                    self._http.service, call, f"the next page is on another host ({redact_query(url)!r})"
                )
        raise ResponseFormatError(self._http.service, call, "tree pagination does not end")

    async def list_repo_files(self, namespace: str, name: str, *, revision: str = "main") -> list[str]:
        """Paths of every file in the repository."""
        tree = await self.list_repo_tree(namespace, name, revision=revision)
        return [e.path for e in tree if e.type == "file"]

    async def read_file(self, namespace: str, name: str, path_in_repo: str, *, revision: str = "main") -> bytes:
        """The bytes of one file (``GET /v1/hf/datasets/{repo}/resolve/{rev}/{path}``)."""
        path = (
            f"/v1/hf/{self._repo_type}s/{self._repo(namespace, name)}/resolve/{segment(revision, 'revision')}/"
            + repo_path(path_in_repo)
        )
        response = await self._http.request("GET", path, call="read_file")
        return response.content

    # --- upload ---------------------------------------------------------------------

    async def upload_file(
        self,
        local_path: str | Path,
        path_in_repo: str,
        *,
        namespace: str,
        name: str,
        revision: str = "main",
        commit_message: str | None = None,
        skip_identical: bool = True,
    ) -> UploadResult:
        """Upload one file (see :meth:`upload_files`)."""
        results = await self.upload_files(
            {path_in_repo: Path(local_path)},
            namespace=namespace,
            name=name,
            revision=revision,
            commit_message=commit_message,
            skip_identical=skip_identical,
        )
        return results[0]

    async def upload_files(
        self,
        files: Mapping[str, str | Path | FileDigest],
        *,
        namespace: str,
        name: str,
        revision: str = "main",
        commit_message: str | None = None,
        skip_identical: bool = True,
    ) -> list[UploadResult]:
        """Upload ``{path_in_repo: local_path}`` in one commit; files identical to the
        repository's copy are skipped (no commit at all when every file is identical).
        A value may be the file's :class:`FileDigest` when the caller hashed it already
        (the file is then not read an extra time)."""
        for p in files:
            repo_path(p)
        self._repo(namespace, name)
        digests = {
            p: local if isinstance(local, FileDigest) else await digest_file(Path(local), chunk_bytes=self._chunk)
            for p, local in files.items()
        }
        skipped: set[str] = set()
        if skip_identical:
            skipped = await self._identical(namespace, name, revision, digests)
        todo = {p: d for p, d in digests.items() if p not in skipped}
        for p in sorted(skipped):
            logger.info("datastore %s/%s: %s unchanged (%d bytes), skipped", namespace, name, p, digests[p].size)

        commit: CommitInfo | None = None
        modes: dict[str, str] = {}
        if todo:
            modes = await self._preupload(namespace, name, revision, todo)
            lfs = {p: d for p, d in todo.items() if modes[p] == "lfs"}
            if lfs:
                await self._upload_lfs(namespace, name, revision, lfs)
            message = commit_message or f"Upload {', '.join(sorted(todo))}"
            commit = await self._commit(namespace, name, revision, todo, modes, message)
            await self._verify_stored(namespace, name, revision, todo)
            for p in sorted(todo):
                logger.info("datastore %s/%s: uploaded %s (%d bytes, %s)", namespace, name, p, todo[p].size, modes[p])

        return [
            UploadResult(
                path_in_repo=p,
                size=d.size,
                sha256=d.sha256,
                mode="skipped" if p in skipped else modes[p],
                commit=None if p in skipped else commit,
            )
            for p, d in digests.items()
        ]

    async def _identical(self, namespace: str, name: str, revision: str, digests: Mapping[str, FileDigest]) -> set[str]:
        try:
            tree = await self.list_repo_tree(namespace, name, revision=revision)
        except NotFoundError:
            return set()
        remote = {e.path: e for e in tree if e.type == "file"}
        return {path for path, digest in digests.items() if _holds(remote.get(path), digest)}

    async def _verify_stored(self, namespace: str, name: str, revision: str, sent: Mapping[str, FileDigest]) -> None:
        """Read the tree again: every file sent must be there, with its size and hash."""
        tree = await self.list_repo_tree(namespace, name, revision=revision)
        remote = {e.path: e for e in tree if e.type == "file"}
        for path, digest in sent.items():
            entry = remote.get(path)
            if _holds(entry, digest):
                continue
            if entry is not None and entry.size == digest.size and entry.sha256 is None and entry.oid is None:
                # the listing gives no hash: read the file back
                back = await self.read_file(namespace, name, path, revision=revision)
                if hashlib.sha256(back).hexdigest() == digest.sha256:
                    continue
            found = "missing" if entry is None else f"{entry.size} bytes, oid {entry.sha256 or entry.oid}"
            raise UploadError(
                f"{self._http.service} {namespace}/{name}: after the commit, {path} in the repository is {found}, "
                f"not the {digest.size} bytes sent (sha256 {digest.sha256[:12]}, from {digest.path})"
            )

    async def _preupload(
        self, namespace: str, name: str, revision: str, todo: Mapping[str, FileDigest]
    ) -> dict[str, str]:
        call = "preupload"
        body = {
            "files": [
                {"path": p, "sample": base64.b64encode(d.sample).decode("ascii"), "size": d.size}
                for p, d in todo.items()
            ]
        }
        response = await self._http.request(
            "POST", self._api(namespace, name, "preupload", revision), call=call, json_body=body
        )
        payload = self._http.parse_json(response, call)
        modes: dict[str, str] = {}
        try:
            for entry in payload["files"]:
                modes[entry["path"]] = entry["uploadMode"]
        except (KeyError, TypeError):
            raise ResponseFormatError(self._http.service, call, "expected {'files': [{path, uploadMode}]}") from None
        for p, d in todo.items():
            mode = modes.get(p)
            if mode not in ("regular", "lfs"):
                raise ResponseFormatError(self._http.service, call, f"upload mode for {p!r} is {mode!r}")
            if d.size == 0:
                modes[p] = "regular"  # empty files cannot go through LFS (as huggingface_hub does)
        return modes

    async def _upload_lfs(self, namespace: str, name: str, revision: str, lfs: Mapping[str, FileDigest]) -> None:
        call = "lfs_batch"
        batch_path = f"/v1/hf/{self._repo_type}s/{self._repo(namespace, name)}.git/info/lfs/objects/batch"
        body = {
            "operation": "upload",
            "transfers": ["basic"],
            "objects": [{"oid": d.sha256, "size": d.size} for d in lfs.values()],
            "hash_algo": "sha256",
            "ref": {"name": revision},
        }
        response = await self._http.request("POST", batch_path, call=call, json_body=body, headers=LFS_HEADERS)
        payload = self._http.parse_json(response, call)
        objects = payload.get("objects") if isinstance(payload, dict) else None
        if not isinstance(objects, list):
            raise ResponseFormatError(self._http.service, call, "batch answer has no 'objects' list")
        by_oid = {d.sha256: (p, d) for p, d in lfs.items()}
        seen: set[str] = set()
        for obj in objects:
            oid = obj.get("oid") if isinstance(obj, dict) else None
            if oid not in by_oid:
                raise ResponseFormatError(self._http.service, call, f"unknown object {oid!r} in batch answer")
            seen.add(oid)
            path_in_repo, digest = by_oid[oid]
            if "error" in obj:
                err = obj["error"] or {}
                raise UploadError(
                    f"{self._http.service} {call}: {path_in_repo} ({digest.path}) refused: "
                    f"{err.get('code')} {err.get('message')}"
                )
            actions = obj.get("actions") or {}
            upload = actions.get("upload")
            if upload is None:
                logger.info("datastore %s/%s: %s already stored (lfs)", namespace, name, path_in_repo)
                continue
            await self._put_lfs(upload, digest, path_in_repo)
            verify = actions.get("verify")
            if verify is not None:
                # the token goes only to the Data Store's own host (ServiceHttp checks the origin)
                await self._http.request(
                    "POST",
                    _href(verify, call),
                    call="lfs_verify",
                    json_body={"oid": digest.sha256, "size": digest.size},
                    headers={**LFS_HEADERS, **_str_headers(verify.get("header"))},
                )
        missing = set(by_oid) - seen
        if missing:
            raise ResponseFormatError(self._http.service, call, f"batch answer lacks objects {sorted(missing)}")

    async def _put_lfs(self, action: dict[str, Any], digest: FileDigest, path_in_repo: str) -> None:
        headers = _str_headers(action.get("header"))
        if "chunk_size" in headers:
            raise UploadError(
                f"{self._http.service} lfs_upload: server asked for a multipart upload of {path_in_repo}, "
                "but only the 'basic' transfer was requested"
            )
        headers["Content-Length"] = str(digest.size)
        headers.setdefault("Content-Type", "application/octet-stream")

        def body() -> AsyncIterator[bytes]:
            return stream_file(digest.path, chunk_bytes=self._chunk, expect=digest)

        attempt, whole = self._upload_deadlines(digest.size)
        logger.info("datastore: streaming %s (%d bytes) to the LFS store", path_in_repo, digest.size)
        try:
            await self._http.request(
                "PUT",
                _href(action, "lfs_upload"),
                call="lfs_upload",
                content=body,
                headers=headers,
                auth=False,  # like huggingface_hub: the href is pre-signed, may be another host
                timeout=self._upload_timeout,
                attempt_deadline=attempt,
                deadline=whole,
            )
        except OSError as exc:
            raise UploadError(f"{self._http.service} lfs_upload: {exc}") from exc

    async def _commit(
        self,
        namespace: str,
        name: str,
        revision: str,
        todo: Mapping[str, FileDigest],
        modes: Mapping[str, str],
        message: str,
    ) -> CommitInfo:
        call = "commit"
        chunk = self._chunk

        async def ndjson() -> AsyncIterator[bytes]:
            header = {"key": "header", "value": {"summary": message, "description": ""}}
            yield json.dumps(header).encode() + b"\n"
            for p, d in todo.items():
                if modes[p] == "lfs":
                    line = {"key": "lfsFile", "value": {"path": p, "algo": "sha256", "oid": d.sha256, "size": d.size}}
                    yield json.dumps(line).encode() + b"\n"
                else:
                    async for piece in stream_base64_ndjson_line(d.path, p, chunk_bytes=chunk):
                        yield piece

        attempt, whole = self._upload_deadlines(sum(d.size for p, d in todo.items() if modes[p] != "lfs") * 4 // 3)
        try:
            response = await self._http.request(
                "POST",
                self._api(namespace, name, "commit", revision),
                call=call,
                content=ndjson,
                headers={"Content-Type": "application/x-ndjson"},
                timeout=self._upload_timeout,
                attempt_deadline=attempt,
                deadline=whole,
            )
        except OSError as exc:
            raise UploadError(f"{self._http.service} {call}: {exc}") from exc
        commit = self._http.parse(CommitInfo, response, call)
        if not isinstance(commit.commit_oid, str) or not _COMMIT_OID.fullmatch(commit.commit_oid):
            raise ResponseFormatError(
                self._http.service, call, f"no commit id in the answer (commitOid {commit.commit_oid!r})"
            )
        if not isinstance(commit.commit_url, str) or not commit.commit_url:
            raise ResponseFormatError(self._http.service, call, "no commitUrl in the answer")
        return commit


def _holds(entry: RepoFile | None, digest: FileDigest) -> bool:
    """Whether a tree entry is this file: same size and a matching hash (LFS sha256 or git blob id)."""
    if entry is None or entry.size != digest.size:
        return False
    return entry.sha256 == digest.sha256 or entry.oid in (digest.git_sha1, digest.sha256)


def _href(action: Any, call: str) -> str:
    href = action.get("href") if isinstance(action, dict) else None
    if not isinstance(href, str) or not href:
        raise ResponseFormatError("datastore", call, "LFS action without 'href'")
    return href


def _str_headers(header: Any) -> dict[str, str]:
    if not isinstance(header, dict):
        return {}
    return {str(k): str(v) for k, v in header.items()}
