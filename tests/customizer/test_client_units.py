"""Unit tests of the Customizer client over ``httpx.MockTransport``: retry policy, error
messages and redaction, pagination, health, the upload protocol, and the job waiting
logic. Everything here is in memory; the sleep seam records waits instead of sleeping."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from dpo_frames.customizer import (
    AuthError,
    ConflictError,
    CustomizerClient,
    CustomizerSettings,
    DeploymentFailedError,
    Hyperparameters,
    InvalidRequestError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobTimeoutError,
    LocalDatasetError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    StatusUnreadableError,
    TransportError,
    submit_dataset_job,
    wait_for_deployment,
    wait_for_job,
)
from dpo_frames.customizer.flow import RUN_ID_FIELD
from dpo_frames.customizer.transport import parse_retry_after

TOKEN = "tok-SECRET-1234567890"
HF_TOKEN = "hf-SECRET-abcdef"
HOST = "http://nmp.test"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and delegates to a function."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        self.requests.append(request)
        self.bodies.append(body)
        request._content = body  # let handlers call request.content / read json
        return self.handler(request)

    def calls(self, method: str, path_part: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and path_part in r.url.path]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_client(
    handler: Handler,
    *,
    token: str | None = TOKEN,
    hf_token: str | None = None,
    attempts: int = 4,
    clock: Callable[[], datetime] | None = None,
    **settings: Any,
) -> tuple[CustomizerClient, Recorder, Sleeps]:
    recorder = Recorder(handler)
    sleeps = Sleeps()
    cfg = CustomizerSettings(
        entity_host=HOST,
        token=token,
        hf_token=hf_token,
        retry=RetryPolicy(attempts=attempts, backoff_base=0.1, backoff_max=1.0, jitter=0.05),
        **settings,
    )
    client = CustomizerClient(cfg, transport=httpx.MockTransport(recorder), sleep=sleeps, clock=clock)
    return client, recorder, sleeps


def scripted(*responses: httpx.Response | Exception) -> Handler:
    """Answer with each response in turn (an exception is raised instead), then repeat the last."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


NAMESPACE_OK = httpx.Response(200, json={"id": "team"})


# --- retry policy ------------------------------------------------------------------


async def test_503_then_200_is_retried_with_backoff() -> None:
    client, rec, sleeps = make_client(scripted(httpx.Response(503, text="busy"), NAMESPACE_OK))
    async with client:
        ns = await client.entity.get_namespace("team")
    assert ns.id == "team"
    assert len(rec.requests) == 2
    assert len(sleeps.waits) == 1 and 0.1 <= sleeps.waits[0] <= 0.1 + 0.05


async def test_backoff_grows_exponentially_and_is_capped() -> None:
    client, rec, sleeps = make_client(scripted(*[httpx.Response(502)] * 5, NAMESPACE_OK), attempts=6)
    async with client:
        await client.entity.get_namespace("team")
    assert len(rec.requests) == 6
    # 0.1, 0.2, 0.4, 0.8, then capped at 1.0; each plus a jitter in [0, 0.05]
    for wait, base in zip(sleeps.waits, [0.1, 0.2, 0.4, 0.8, 1.0], strict=True):
        assert base <= wait <= base + 0.05


async def test_429_retry_after_seconds_is_honoured() -> None:
    client, rec, sleeps = make_client(
        scripted(httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}), NAMESPACE_OK)
    )
    async with client:
        await client.entity.get_namespace("team")
    assert sleeps.waits == [7.0]
    assert len(rec.requests) == 2


async def test_429_retry_after_http_date_is_honoured() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=12), usegmt=True)
    client, _, sleeps = make_client(
        scripted(httpx.Response(429, headers={"Retry-After": later}), NAMESPACE_OK), clock=lambda: now
    )
    async with client:
        await client.entity.get_namespace("team")
    assert sleeps.waits == [12.0]


def test_parse_retry_after_variants() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("3.5", now) == 3.5
    assert parse_retry_after("-4", now) == 0.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past, now) == 0.0


async def test_retry_after_is_capped() -> None:
    client, _, sleeps = make_client(scripted(httpx.Response(503, headers={"Retry-After": "100000"}), NAMESPACE_OK))
    async with client:
        await client.entity.get_namespace("team")
    assert sleeps.waits == [client.settings.retry.retry_after_max]


async def test_connection_error_is_retried() -> None:
    client, rec, _ = make_client(scripted(httpx.ConnectError("refused"), httpx.ReadError("reset"), NAMESPACE_OK))
    async with client:
        ns = await client.entity.get_namespace("team")
    assert ns.id == "team" and len(rec.requests) == 3


async def test_timeout_is_retried_then_reported_as_transport_error() -> None:
    client, rec, _ = make_client(scripted(httpx.ReadTimeout("too slow")), attempts=3)
    async with client:
        with pytest.raises(TransportError) as info:
            await client.entity.get_namespace("team")
    assert len(rec.requests) == 3
    message = str(info.value)
    assert "entity-store" in message and "get_namespace" in message and "3 attempt" in message
    assert "ReadTimeout" in message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, InvalidRequestError),
    ],
)
async def test_4xx_is_not_retried(status: int, kind: type[Exception]) -> None:
    client, rec, sleeps = make_client(scripted(httpx.Response(status, json={"detail": "nope"})))
    async with client:
        with pytest.raises(kind):
            await client.entity.get_namespace("team")
    assert len(rec.requests) == 1 and sleeps.waits == []


async def test_exhausted_retries_raise_server_error_with_attempts() -> None:
    client, rec, _ = make_client(scripted(httpx.Response(500, json={"detail": "db down"})), attempts=3)
    async with client:
        with pytest.raises(ServerError) as info:
            await client.jobs.status("job-1")
    assert len(rec.requests) == 3
    err = info.value
    assert err.status_code == 500 and err.attempts == 3 and err.service == "customizer"
    assert "get_job_status (GET /v1/customization/jobs/job-1/status)" in str(err)
    assert "HTTP 500" in str(err) and "db down" in str(err)


async def test_exhausted_429_is_rate_limit_error() -> None:
    client, _, _ = make_client(scripted(httpx.Response(429)), attempts=2)
    async with client:
        with pytest.raises(RateLimitError):
            await client.entity.get_namespace("team")


async def test_non_idempotent_create_job_not_retried_after_dropped_answer() -> None:
    """A job POST whose answer is lost may have created the job: the transport must not
    repeat it blindly (the flow looks the job up instead)."""
    client, rec, _ = make_client(scripted(httpx.RemoteProtocolError("server disconnected")))
    async with client:
        with pytest.raises(TransportError) as info:
            await client.jobs.create(config="c", dataset="team/ds", hyperparameters=Hyperparameters())
    assert len(rec.requests) == 1 and info.value.attempts == 1


async def test_non_idempotent_create_job_retried_on_connect_error_only() -> None:
    """A refused connection never reached the server: repeated. A 503 (or 429) may come from a
    gateway after the service created the job: raised, for the flow to look the job up (this
    test used to assert that a 503 was repeated blindly, which made duplicate jobs)."""
    job = httpx.Response(200, json={"id": "cust-1", "status": "created"})
    client, rec, _ = make_client(scripted(httpx.ConnectError("refused"), job))
    async with client:
        created = await client.jobs.create(config="c", dataset="team/ds", hyperparameters=Hyperparameters())
    assert created.id == "cust-1" and len(rec.requests) == 2

    for answer in (httpx.Response(503), httpx.Response(429, headers={"Retry-After": "0"})):
        client, rec, sleeps = make_client(scripted(answer, job))
        async with client:
            with pytest.raises((ServerError, RateLimitError)) as info:
                await client.jobs.create(config="c", dataset="team/ds", hyperparameters=Hyperparameters())
        assert len(rec.requests) == 1 and sleeps.waits == [] and info.value.attempts == 1


# --- error messages and secrets ------------------------------------------------------


async def test_error_message_names_service_call_status_and_excerpt_never_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    # A server that echoes the Authorization header back in its error body.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                422, json={"detail": [{"msg": "bad name", "echo": request.headers.get("Authorization")}]}
            )
        return httpx.Response(503, text=f"upstream said {request.headers.get('Authorization')}")

    client, rec, _ = make_client(handler, attempts=2)
    async with client:
        with pytest.raises(InvalidRequestError) as bad:
            await client.entity.create_namespace("refused-name")
        with pytest.raises(ServerError) as down:
            await client.entity.get_namespace("team")
    assert rec.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    for err in (bad.value, down.value):
        text = str(err) + repr(err) + repr(err.args)
        assert TOKEN not in text
        assert "***" in text
    assert "entity-store create_namespace (POST /v1/namespaces): HTTP 422" in str(bad.value)
    assert "bad name" in str(bad.value)
    assert TOKEN not in caplog.text
    assert "retrying" in caplog.text  # the 503 was logged as retried
    assert TOKEN not in repr(client) and TOKEN not in repr(client.settings)
    assert TOKEN not in str(client.settings.model_dump())


async def test_long_bodies_are_excerpted() -> None:
    client, _, _ = make_client(scripted(httpx.Response(404, text="x" * 5000)))
    async with client:
        with pytest.raises(NotFoundError) as info:
            await client.entity.get_namespace("team")
    assert len(str(info.value)) < 700 and str(info.value).endswith("...")


async def test_no_authorization_header_without_token_and_hf_token_for_datastore() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = request.headers.get("Authorization")
        return httpx.Response(201, json={"id": "team"})

    client, _, _ = make_client(handler, token=None)
    async with client:
        await client.entity.create_namespace("team")
        await client.datastore.create_namespace("team")
    assert seen == {"/v1/namespaces": None, "/v1/datastore/namespaces": None}

    client, _, _ = make_client(handler, token=TOKEN, hf_token=HF_TOKEN)
    async with client:
        await client.entity.create_namespace("team")
        await client.datastore.create_namespace("team")
    assert seen == {"/v1/namespaces": f"Bearer {TOKEN}", "/v1/datastore/namespaces": f"Bearer {HF_TOKEN}"}


def test_settings_from_env_and_empty_tokens() -> None:
    env = {
        "NEMO_MICROSERVICES_BASE_URL": "http://a.test/",
        "NEMO_DATASTORE_URL": "http://b.test",
        "NEMO_API_TOKEN": TOKEN,
        "HF_TOKEN": "",
    }
    s = CustomizerSettings.from_env(env)
    assert s.entity_host == "http://a.test" and s.datastore_url == "http://b.test"
    assert s.customizer_url == "http://a.test" and s.token is not None and s.hf_token is None
    assert s.datastore_token is not None and s.datastore_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(s)
    assert CustomizerSettings(entity_host="http://x", token="  ").token is None
    with pytest.raises(ValueError):
        CustomizerSettings(entity_host="ftp://x")


# --- entity store idempotency --------------------------------------------------------


async def test_existing_namespace_and_dataset_are_fine_but_other_files_url_conflicts() -> None:
    files_url = "hf://datasets/team/ds"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409, json={"detail": "exists"})
        if request.url.path == "/v1/namespaces/team":
            return httpx.Response(200, json={"id": "team"})
        return httpx.Response(200, json={"name": "ds", "namespace": "team", "files_url": files_url})

    client, _, _ = make_client(handler)
    async with client:
        assert (await client.entity.create_namespace("team")).id == "team"
        ds = await client.entity.create_dataset(namespace="team", name="ds", files_url=files_url)
        assert ds.files_url == files_url
        assert await client.datastore.create_namespace("team") is False
        assert await client.datastore.create_repo("team", "ds") is False
        with pytest.raises(ConflictError, match="hf://datasets/team/other"):
            await client.entity.create_dataset(namespace="team", name="ds", files_url="hf://datasets/team/other")


# --- pagination ------------------------------------------------------------------------


def _jobs_pages(total: int, page_size: int, with_totals: bool) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        assert size == page_size
        start = (page - 1) * size
        data = [{"id": f"job-{i}", "status": "running"} for i in range(start, min(start + size, total))]
        body: dict[str, Any] = {"object": "list", "data": data}
        if with_totals:
            pages = -(-total // size)
            body["pagination"] = {
                "page": page,
                "page_size": size,
                "current_page_size": len(data),
                "total_pages": pages,
                "total_results": total,
            }
        return httpx.Response(200, json=body)

    return handler


@pytest.mark.parametrize("with_totals", [True, False])
async def test_list_jobs_iterates_all_pages(with_totals: bool) -> None:
    client, rec, _ = make_client(_jobs_pages(23, 10, with_totals))
    async with client:
        jobs = await client.jobs.list(page_size=10)
    assert [j.id for j in jobs] == [f"job-{i}" for i in range(23)]
    assert [int(r.url.params["page"]) for r in rec.requests] == [1, 2, 3]


async def test_list_stops_on_exact_multiple_without_totals() -> None:
    client, rec, _ = make_client(_jobs_pages(20, 10, with_totals=False))
    async with client:
        jobs = await client.jobs.list(page_size=10)
    assert len(jobs) == 20 and len(rec.requests) == 3  # third page is empty


# --- health ------------------------------------------------------------------------------


async def test_health_reports_each_service() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v1/namespaces"):
            return httpx.Response(200, json={"object": "list", "data": []})
        if path.startswith("/v1/customization"):
            return httpx.Response(500, json={"detail": "customizer broken"})
        if path.startswith("/v1/deployment"):
            raise httpx.ConnectError("connection refused")
        return httpx.Response(404, json={"detail": "repo not found"})  # datastore: up

    client, rec, sleeps = make_client(handler)
    async with client:
        report = await client.health()
    by = {s.service: s for s in report.services}
    assert set(by) == {"entity-store", "datastore", "customizer", "deployment"}
    assert by["entity-store"].ok and by["entity-store"].status_code == 200
    assert by["datastore"].ok and by["datastore"].status_code == 404
    assert not by["customizer"].ok and "customizer broken" in (by["customizer"].error or "")
    assert not by["deployment"].ok and "ConnectError" in (by["deployment"].error or "")
    assert all(s.latency_ms is not None for s in report.services)
    assert report.ok is False and "customizer: FAIL" in report.summary()
    assert len(rec.requests) == 4 and sleeps.waits == []  # probes are not retried


async def test_health_auth_failure_is_unhealthy() -> None:
    client, _, _ = make_client(scripted(httpx.Response(401, json={"detail": "bad token"})))
    async with client:
        report = await client.health(services=("entity-store",))
    assert not report.ok and "401" in (report.services[0].error or "")


# --- upload protocol ----------------------------------------------------------------


class FakeHub:
    """Just enough of the Hub API to check what the client sends."""

    def __init__(self, lfs_threshold: int = 1000, tree: list[dict[str, Any]] | None = None) -> None:
        self.lfs_threshold = lfs_threshold
        self.tree = tree
        self.commits: list[list[dict[str, Any]]] = []
        self.lfs_objects: dict[str, bytes] = {}
        self.put_headers: list[httpx.Headers] = []
        self.verified: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/tree/main"):
            if self.tree is None:
                return httpx.Response(404, json={"detail": "no such repo"})
            return httpx.Response(200, json=self.tree)
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            for f in files:
                assert len(base64.b64decode(f["sample"])) == min(512, f["size"])
            return httpx.Response(
                200,
                json={
                    "files": [
                        {
                            "path": f["path"],
                            "uploadMode": "lfs" if f["size"] >= self.lfs_threshold else "regular",
                            "shouldIgnore": False,
                        }
                        for f in files
                    ]
                },
            )
        if path.endswith("/info/lfs/objects/batch"):
            assert request.headers["Content-Type"] == "application/vnd.git-lfs+json"
            body = json.loads(request.content)
            assert body["operation"] == "upload" and body["transfers"] == ["basic"]
            objs = []
            for o in body["objects"]:
                objs.append(
                    {
                        "oid": o["oid"],
                        "size": o["size"],
                        "actions": {
                            "upload": {"href": f"http://blobs.test/upload/{o['oid']}", "header": {"X-Sig": "abc"}},
                            "verify": {"href": f"{HOST}/v1/hf/verify/{o['oid']}"},
                        },
                    }
                )
            return httpx.Response(200, json={"transfer": "basic", "objects": objs})
        if path.startswith("/upload/"):
            self.put_headers.append(request.headers)
            self.lfs_objects[path.rsplit("/", 1)[1]] = request.content
            return httpx.Response(200)
        if path.startswith("/v1/hf/verify/"):
            self.verified.append(json.loads(request.content))
            return httpx.Response(200, json={})
        if "/commit/" in path:
            assert request.headers["Content-Type"] == "application/x-ndjson"
            lines = [json.loads(line) for line in request.content.decode().splitlines()]
            self.commits.append(lines)
            self._apply(lines)
            oid = hashlib.sha1(request.content).hexdigest()
            return httpx.Response(200, json={"commitUrl": f"http://x/commit/{oid}", "commitOid": oid})
        return httpx.Response(404)

    def _apply(self, lines: list[dict[str, Any]]) -> None:
        """A commit changes the tree, as on the Hub (the client reads it back to verify)."""
        entries = {e["path"]: e for e in self.tree or []}
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                content = base64.b64decode(value["content"])
                oid = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
                entries[value["path"]] = {"type": "file", "path": value["path"], "size": len(content), "oid": oid}
            else:
                lfs = {"oid": value["oid"], "size": value["size"], "pointerSize": 130}
                entries[value["path"]] = {"type": "file", "path": value["path"], "size": value["size"], "oid": "p"}
                entries[value["path"]]["lfs"] = lfs
        self.tree = list(entries.values())


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


async def test_regular_upload_sends_preupload_then_ndjson_commit(tmp_path: Path) -> None:
    data = b'{"prompt": "p", "chosen_response": "a", "rejected_response": "b"}\n' * 7
    local = _write(tmp_path / "train.jsonl", data)
    hub = FakeHub()
    client, rec, _ = make_client(hub, upload_chunk_bytes=4096)
    async with client:
        result = await client.datastore.upload_file(local, "training/training_file.jsonl", namespace="team", name="ds")
    assert result.mode == "regular" and result.sha256 == hashlib.sha256(data).hexdigest()
    (commit,) = hub.commits
    assert commit[0] == {
        "key": "header",
        "value": {"summary": "Upload training/training_file.jsonl", "description": ""},
    }
    assert commit[1]["key"] == "file" and commit[1]["value"]["path"] == "training/training_file.jsonl"
    assert commit[1]["value"]["encoding"] == "base64"
    assert base64.b64decode(commit[1]["value"]["content"]) == data
    assert [r.url.path for r in rec.requests] == [
        "/v1/hf/api/datasets/team/ds/tree/main",
        "/v1/hf/api/datasets/team/ds/preupload/main",
        "/v1/hf/api/datasets/team/ds/commit/main",
        "/v1/hf/api/datasets/team/ds/tree/main",  # the commit is verified: the repository holds the bytes sent
    ]


async def test_base64_streaming_is_exact_for_every_chunk_alignment(tmp_path: Path) -> None:
    hub = FakeHub(lfs_threshold=10**9)
    client, _, _ = make_client(hub, upload_chunk_bytes=3 * 1024)
    async with client:
        for size in (0, 1, 2, 3, 3071, 3072, 3073, 9217):
            data = bytes((i * 7 + size) % 256 for i in range(size))
            local = _write(tmp_path / f"f{size}.bin", data)
            await client.datastore.upload_file(local, f"f{size}.bin", namespace="team", name="ds")
            assert base64.b64decode(hub.commits[-1][1]["value"]["content"]) == data


async def test_lfs_upload_streams_bytes_with_length_and_no_token(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes
    local = _write(tmp_path / "big.jsonl", data)
    hub = FakeHub(lfs_threshold=1000)
    client, rec, _ = make_client(hub, upload_chunk_bytes=4096)
    async with client:
        result = await client.datastore.upload_file(local, "training/training_file.jsonl", namespace="team", name="ds")
    sha = hashlib.sha256(data).hexdigest()
    assert result.mode == "lfs" and result.sha256 == sha
    assert hub.lfs_objects[sha] == data
    (headers,) = hub.put_headers
    assert headers["Content-Length"] == str(len(data)) and "Transfer-Encoding" not in headers
    assert headers["X-Sig"] == "abc" and "Authorization" not in headers
    assert hub.verified == [{"oid": sha, "size": len(data)}]
    assert hub.commits[0][1] == {
        "key": "lfsFile",
        "value": {"path": "training/training_file.jsonl", "algo": "sha256", "oid": sha, "size": len(data)},
    }
    batch = rec.calls("POST", "/info/lfs/objects/batch")[0]
    assert batch.url.path == "/v1/hf/datasets/team/ds.git/info/lfs/objects/batch"
    assert batch.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_lfs_put_is_retried_with_the_whole_body(tmp_path: Path) -> None:
    data = b"z" * 5000
    local = _write(tmp_path / "big.bin", data)
    hub = FakeHub(lfs_threshold=1000)
    failures = {"n": 1}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/upload/") and failures["n"]:
            failures["n"] -= 1
            return httpx.Response(503)
        return hub(request)

    client, rec, _ = make_client(handler, upload_chunk_bytes=3072)
    async with client:
        await client.datastore.upload_file(local, "big.bin", namespace="team", name="ds")
    puts = rec.calls("PUT", "/upload/")
    assert len(puts) == 2 and rec.bodies[rec.requests.index(puts[1])] == data
    assert hub.lfs_objects[hashlib.sha256(data).hexdigest()] == data


async def test_lfs_put_errors_do_not_show_the_presigned_query(tmp_path: Path) -> None:
    local = _write(tmp_path / "big.bin", b"w" * 3000)
    hub = FakeHub(lfs_threshold=10)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/objects/batch"):
            o = json.loads(request.content)["objects"][0]
            href = f"http://blobs.test/upload/{o['oid']}?X-Signature=presigned-SECRET"
            return httpx.Response(200, json={"objects": [{**o, "actions": {"upload": {"href": href}}}]})
        if request.url.path.startswith("/upload/"):
            return httpx.Response(403, text="signature expired")
        return hub(request)

    client, _, _ = make_client(handler)
    async with client:
        with pytest.raises(AuthError) as info:
            await client.datastore.upload_file(local, "big.bin", namespace="team", name="ds")
    assert "lfs_upload (PUT /upload/" in str(info.value) and "signature expired" in str(info.value)
    assert "presigned-SECRET" not in str(info.value)


async def test_identical_files_are_skipped_by_tree_comparison(tmp_path: Path) -> None:
    small = b"small file\n"
    big = b"B" * 4000
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(small) + small).hexdigest()
    tree = [
        {"type": "directory", "path": "training", "size": 0, "oid": "d"},
        {"type": "file", "path": "training/training_file.jsonl", "size": len(small), "oid": git_sha1},
        {
            "type": "file",
            "path": "validation/validation_file.jsonl",
            "size": len(big),
            "oid": "x",
            "lfs": {"oid": hashlib.sha256(big).hexdigest(), "size": len(big), "pointerSize": 130},
        },
    ]
    hub = FakeHub(tree=tree)
    client, rec, _ = make_client(hub)
    files = {
        "training/training_file.jsonl": _write(tmp_path / "t.jsonl", small),
        "validation/validation_file.jsonl": _write(tmp_path / "v.jsonl", big),
    }
    async with client:
        results = await client.datastore.upload_files(files, namespace="team", name="ds")
        assert [r.mode for r in results] == ["skipped", "skipped"]
        assert hub.commits == [] and rec.calls("POST", "/preupload/") == []
        # A changed file (same size, other bytes) is uploaded; the unchanged one is not.
        _write(tmp_path / "t.jsonl", b"SMALL FILE\n")
        results = await client.datastore.upload_files(files, namespace="team", name="ds")
    assert [r.mode for r in results] == ["regular", "skipped"]
    assert [line["value"]["path"] for line in hub.commits[0][1:]] == ["training/training_file.jsonl"]


async def test_tree_listing_follows_link_pagination() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "2":
            return httpx.Response(200, json=[{"type": "file", "path": "b.txt", "size": 1, "oid": "2"}])
        link = f'<{HOST}/v1/hf/api/datasets/team/ds/tree/main?cursor=2>; rel="next"'
        return httpx.Response(
            200, json=[{"type": "file", "path": "a.txt", "size": 1, "oid": "1"}], headers={"Link": link}
        )

    client, rec, _ = make_client(handler)
    async with client:
        assert await client.datastore.list_repo_files("team", "ds") == ["a.txt", "b.txt"]
    assert rec.requests[0].url.params["recursive"] == "true"


async def test_lfs_object_error_is_reported(tmp_path: Path) -> None:
    local = _write(tmp_path / "big.bin", b"q" * 3000)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/objects/batch"):
            o = json.loads(request.content)["objects"][0]
            return httpx.Response(200, json={"objects": [{**o, "error": {"code": 422, "message": "too big"}}]})
        return FakeHub(lfs_threshold=10)(request)

    from dpo_frames.customizer import UploadError

    client, _, _ = make_client(handler)
    async with client:
        with pytest.raises(UploadError, match="big.bin.*422 too big"):
            await client.datastore.upload_file(local, "big.bin", namespace="team", name="ds")


# --- waiting for jobs --------------------------------------------------------------------


def _status(status: str, pct: float = 0.0, logs: list[str] | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "status": status,
            "percentage_done": pct,
            "epochs_completed": int(pct // 50),
            "status_logs": [{"updated_at": "2025-01-01T00:00:00Z", "message": m} for m in (logs or [])],
        },
    )


async def test_wait_for_job_tolerates_fewer_than_n_consecutive_failures() -> None:
    down = httpx.Response(503)
    client, _, _ = make_client(
        scripted(_status("pending"), down, down, _status("running", 50), down, down, _status("completed", 100)),
        attempts=1,
    )
    seen: list[str] = []
    async with client:
        final = await wait_for_job(
            client,
            "job-1",
            poll_interval=1,
            max_consecutive_status_failures=3,
            on_progress=lambda s: seen.append(s.status),
        )
    assert final.status == "completed" and final.percentage_done == 100
    assert seen == ["pending", "running", "completed"]


async def test_wait_for_job_gives_up_after_n_consecutive_failures() -> None:
    """An unreadable status is a platform error, not a verdict (this raised JobFailedError before)."""
    client, rec, _ = make_client(scripted(_status("running", 10), httpx.Response(502, text="bad gateway")), attempts=1)
    async with client:
        with pytest.raises(
            StatusUnreadableError, match=r"failed to read.*unreadable 3 times in a row.*HTTP 502.*bad gateway"
        ) as info:
            await wait_for_job(client, "job-1", poll_interval=1, max_consecutive_status_failures=3)
    assert len(rec.requests) == 4 and info.value.job_id == "job-1"
    assert not isinstance(info.value, JobError) and info.value.status.status == "running"


async def test_wait_for_job_raises_on_not_found_at_once() -> None:
    client, rec, _ = make_client(scripted(httpx.Response(404, json={"detail": "no job"})))
    async with client:
        with pytest.raises(NotFoundError):
            await wait_for_job(client, "job-x", poll_interval=1)
    assert len(rec.requests) == 1


async def test_wait_for_job_failed_and_cancelled_errors_carry_service_messages(tmp_path: Path) -> None:
    logs = ["Validating dataset", "training/training_file.jsonl line 3: missing 'chosen_response'"]
    client, _, _ = make_client(scripted(_status("failed", 0, logs)))
    async with client:
        with pytest.raises(JobFailedError) as info:
            await wait_for_job(client, "job-1", dataset_dir=tmp_path)
    message = str(info.value)
    assert "job-1 failed" in message and "training_file.jsonl line 3" in message and str(tmp_path) in message

    client, _, _ = make_client(scripted(_status("running", 30), _status("cancelled", 40, ["Cancelled by user"])))
    async with client:
        with pytest.raises(JobCancelledError, match=r"cancelled at cancelled 40.0%.*Cancelled by user"):
            await wait_for_job(client, "job-1", poll_interval=0)


async def test_wait_for_job_timeout_uses_clock_and_can_cancel() -> None:
    now = {"t": 0.0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/cancel"):
            return httpx.Response(200, json={"id": "job-1", "status": "cancelling"})
        now["t"] += 10
        return _status("running", 20)

    client, rec, _ = make_client(handler)
    async with client:
        with pytest.raises(JobTimeoutError, match=r"within 25s.*cancel requested"):
            await wait_for_job(
                client, "job-1", poll_interval=10, timeout=25, clock=lambda: now["t"], cancel_on_timeout=True
            )
    assert len(rec.calls("GET", "/status")) == 3 and len(rec.calls("POST", "/cancel")) == 1


async def test_wait_for_job_async_progress_callback() -> None:
    client, _, _ = make_client(scripted(_status("running", 50), _status("completed", 100)))
    seen: list[float | None] = []

    async def progress(status: Any) -> None:
        seen.append(status.percentage_done)

    async with client:
        await wait_for_job(client, "job-1", poll_interval=0, on_progress=progress)
    assert seen == [50.0, 100.0]


async def test_wait_for_deployment_failed() -> None:
    dep = {"name": "d", "namespace": "team", "config": "team/c", "url": ""}
    client, _, _ = make_client(
        scripted(
            httpx.Response(404, json={"detail": "not yet"}),
            httpx.Response(200, json={**dep, "status_details": {"status": "pending"}}),
            httpx.Response(
                200, json={**dep, "status_details": {"status": "failed", "description": "image pull failed"}}
            ),
        )
    )
    async with client:
        with pytest.raises(DeploymentFailedError, match="image pull failed"):
            await wait_for_deployment(client, "team", "d", poll_interval=0)


# --- submission flow: lost answers and local files -------------------------------------


async def test_submit_missing_local_files_names_the_paths(tmp_path: Path) -> None:
    client, rec, _ = make_client(scripted(httpx.Response(500)))
    async with client:
        with pytest.raises(LocalDatasetError, match="training/training_file.jsonl"):
            await submit_dataset_job(
                client,
                dataset_dir=tmp_path,
                namespace="team",
                dataset_name="ds",
                run_id="r1",
                config="c",
                hyperparameters=Hyperparameters(),
            )
    assert rec.requests == []


class FakePlatform:
    """Entity Store + Customizer + Hub in a dict, with a job POST whose answer gets lost."""

    def __init__(self, drop_job_answers: int = 0) -> None:
        self.hub = FakeHub(lfs_threshold=10**9)
        self.jobs: list[dict[str, Any]] = []
        self.drop_job_answers = drop_job_answers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/customization/jobs" and request.method == "POST":
            body = json.loads(request.content)
            job = {
                "id": f"cust-{len(self.jobs) + 1}",
                "status": "created",
                **body,
                "output_model": body.get("output_model") or "team/out",
            }
            self.jobs.append(job)
            if self.drop_job_answers:
                self.drop_job_answers -= 1
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            return httpx.Response(200, json=job)
        if path == "/v1/customization/jobs":
            return httpx.Response(
                200, json={"object": "list", "data": self.jobs, "pagination": {"page": 1, "total_pages": 1}}
            )
        if path in ("/v1/namespaces", "/v1/datastore/namespaces", "/v1/hf/api/repos/create"):
            return httpx.Response(201, json={"id": "team", "url": f"{HOST}/v1/hf/datasets/team/ds"})
        if path == "/v1/datasets":
            return httpx.Response(201, json=json.loads(request.content))
        return self.hub(request)


def _dataset(tmp_path: Path) -> Path:
    line = b'{"prompt": "p", "chosen_response": "a", "rejected_response": "b"}\n'
    _write(tmp_path / "ds" / "training" / "training_file.jsonl", line * 4)
    _write(tmp_path / "ds" / "validation" / "validation_file.jsonl", line * 2)
    return tmp_path / "ds"


async def test_submit_after_lost_job_answer_finds_the_job_instead_of_resubmitting(tmp_path: Path) -> None:
    platform = FakePlatform(drop_job_answers=1)
    client, rec, _ = make_client(platform)
    async with client:
        ref = await submit_dataset_job(
            client,
            dataset_dir=_dataset(tmp_path),
            namespace="team",
            dataset_name="ds",
            run_id="run-7",
            config="meta/x@v1",
            hyperparameters=Hyperparameters(),
        )
    assert len(platform.jobs) == 1 and ref.job_id == "cust-1" and ref.reused_job
    assert platform.jobs[0]["custom_fields"][RUN_ID_FIELD] == "run-7"
    assert len(rec.calls("POST", "/v1/customization/jobs")) == 1


async def test_submit_errors_say_where_local_files_are(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/hf/api/repos/create":
            return httpx.Response(403, json={"detail": "forbidden"})
        return FakePlatform()(request)

    client, _, _ = make_client(handler)
    directory = _dataset(tmp_path)
    async with client:
        with pytest.raises(AuthError) as info:
            await submit_dataset_job(
                client,
                dataset_dir=directory,
                namespace="team",
                dataset_name="ds",
                run_id="r",
                config="c",
                hyperparameters=Hyperparameters(),
            )
    assert f"local dataset files are kept in {directory}" in str(info.value)
    assert "datastore create_repo" in str(info.value) and "HTTP 403" in str(info.value)
    assert (directory / "training" / "training_file.jsonl").exists()
