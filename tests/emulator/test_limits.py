"""The emulator has the real service's limits (issue 15, item 8): names and ids, repository paths,
body sizes, JSON nesting and numbers, LFS uploads cut at their announced size, tickets that expire.
Whatever is refused is a 4xx, never a 500, and never stored."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from dpo_frames.emulator import Emulator, EmulatorConfig


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(clock="manual", lfs_threshold_bytes=1024, lfs_ticket_seconds=1.0)) as server:
        yield server


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=30) as http:
        yield http


BAD_NAMES = ["..", ".", "a?b#c", "a\x00b", "a/b", "a b", "-x", "", "x" * 256, "tab\there", "new\nline"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_would_make_another_url_are_refused(client: httpx.Client, emu: Emulator, name: str) -> None:
    namespace = client.post("/v1/namespaces", json={"id": name})
    dataset = client.post("/v1/datasets", json={"name": name, "namespace": "ok", "files_url": "hf://datasets/ok/x"})
    repo = client.post("/v1/hf/api/repos/create", json={"name": name, "organization": "ok", "type": "dataset"})
    datastore = client.post("/v1/datastore/namespaces", data={"namespace": name})
    job = client.post(
        "/v1/customization/jobs",
        json={
            "config": "meta/llama-3.2-1b-instruct@v1.0.0+A100",
            "dataset": {"name": "x", "namespace": "ok"},
            "hyperparameters": {"finetuning_type": "lora", "training_type": "dpo"},
            "name": name,
        },
    )
    assert [r.status_code for r in (namespace, dataset, repo, datastore, job)] == [422] * 5
    assert name not in emu.state.namespaces and f"ok/{name}" not in emu.state.datasets


def test_names_the_platform_uses_are_accepted(client: httpx.Client) -> None:
    for name in ("team", "team_1", "a.b-c", "llama-3.2-1b-instruct@cust-7Xk+A100", "x" * 255):
        assert client.post("/v1/namespaces", json={"id": name}).status_code == 201, name
    assert client.post("/v1/hf/api/repos/create", json={"name": "a..b", "organization": "ok"}).status_code == 422
    assert client.post("/v1/hf/api/repos/create", json={"name": "x" * 97, "organization": "ok"}).status_code == 422


def test_a_huge_body_is_refused_before_it_is_stored(client: httpx.Client, emu: Emulator) -> None:
    answer = client.post("/v1/namespaces", json={"id": "big", "description": "x" * (2 * 1024 * 1024)})
    assert answer.status_code == 413 and "too large" in answer.json()["detail"]
    assert "big" not in emu.state.namespaces


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,  # deeper than Python's parser recursion
        b'{"id": "deep", "custom_fields": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}",  # parsed, but too deep
        b'{"id": "huge-int", "custom_fields": {"n": ' + b"9" * 5000 + b"}}",  # beyond int()'s digit limit
        b'{"id": "big-int", "custom_fields": {"n": 99999999999999999999999}}',
        b'{"id": "inf", "custom_fields": {"n": 1e999}}',
        b'{"id": "nan", "custom_fields": {"n": NaN}}',
    ],
    ids=["deep-5000", "deep-100", "int-5000-digits", "int-beyond-64-bits", "1e999", "NaN"],
)
def test_hostile_json_is_a_422_not_a_500(client: httpx.Client, emu: Emulator, body: bytes) -> None:
    answer = client.post("/v1/namespaces", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert not any(name in emu.state.namespaces for name in ("deep", "huge-int", "big-int", "inf", "nan"))
    assert client.get("/v1/namespaces").status_code == 200  # and the service is fine


def _commit(client: httpx.Client, path: str, content: bytes = b"x") -> httpx.Response:
    lines = [
        {"key": "header", "value": {"summary": "s"}},
        {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}},
    ]
    return client.post(
        "/v1/hf/api/datasets/lim/repo/commit/main",
        content="".join(json.dumps(line) + "\n" for line in lines),
        headers={"Content-Type": "application/x-ndjson"},
    )


@pytest.mark.parametrize("path", ["a\\b", "a\x00b", "../up", "/abs", "a//b", "x" * 1025, "ctl\x1b"])
def test_repository_paths_are_checked(client: httpx.Client, emu: Emulator, path: str) -> None:
    client.post("/v1/hf/api/repos/create", json={"name": "repo", "organization": "lim", "type": "dataset"})
    committed = _commit(client, path)
    preupload = client.post(
        "/v1/hf/api/datasets/lim/repo/preupload/main", json={"files": [{"path": path, "size": 1, "sample": ""}]}
    )
    assert committed.status_code == 400 and preupload.status_code == 400
    repo = emu.state.repo("lim/repo")
    assert repo is not None and path not in repo.files


def _ticket_for(client: httpx.Client, data: bytes) -> str:
    client.post("/v1/hf/api/repos/create", json={"name": "lfs", "organization": "lim", "type": "dataset"})
    oid = hashlib.sha256(data).hexdigest()
    batch = client.post(
        "/v1/hf/datasets/lim/lfs.git/info/lfs/objects/batch",
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}]},
    ).json()
    return str(batch["objects"][0]["actions"]["upload"]["href"])


def test_an_lfs_upload_is_cut_off_at_its_announced_size(client: httpx.Client, emu: Emulator) -> None:
    small = b"ten bytes!"
    href = _ticket_for(client, small)
    announced = client.put(href, content=b"y" * 5000)  # Content-Length beyond the ticket
    assert announced.status_code == 413

    href = _ticket_for(client, small)
    sent = {"bytes": 0}

    def endless() -> Iterator[bytes]:  # chunked, no length: 64 MiB offered
        for _ in range(64):
            sent["bytes"] += 1024 * 1024
            yield b"z" * (1024 * 1024)

    try:
        streamed = client.put(href, content=endless()).status_code
    except httpx.TransportError:  # the server may close the connection while the client still writes
        streamed = None
    assert streamed in (413, None)
    assert sent["bytes"] < 32 * 1024 * 1024  # refused long before the end
    assert not emu.state.blobs.has(hashlib.sha256(small).hexdigest())


def test_upload_tickets_expire_and_serve_once(client: httpx.Client, emu: Emulator) -> None:
    data = b"expiring ticket"
    href = _ticket_for(client, data)
    emu.advance(int(1.0 / emu.config.tick_seconds) + 1)  # past lfs_ticket_seconds on the job clock
    assert client.put(href, content=data).status_code == 403

    href = _ticket_for(client, data)
    assert client.put(href, content=data).status_code == 200
    assert client.put(href, content=data).status_code == 403  # used


@pytest.mark.parametrize("line", [b'{"prompt": ' + b"9" * 5000 + b"}", b"[" * 5000 + b"]" * 5000])
def test_a_dataset_line_no_reader_takes_fails_the_job_not_the_service(line: bytes) -> None:
    with Emulator(EmulatorConfig(clock="manual")) as emu, httpx.Client(base_url=emu.url) as client:
        good = b'{"prompt": "p", "chosen_response": "c", "rejected_response": "r"}\n'
        emu.state.put_file("ns/bad", "training/training_file.jsonl", good + line + b"\n")
        emu.state.put_file("ns/bad", "validation/validation_file.jsonl", good)
        emu.state.register_dataset("ns", "bad")
        job = client.post(
            "/v1/customization/jobs",
            json={
                "config": "meta/llama-3.2-1b-instruct@v1.0.0+A100",
                "dataset": "ns/bad",
                "hyperparameters": {"finetuning_type": "lora", "training_type": "dpo"},
            },
        ).json()
        emu.advance(3)
        status = client.get(f"/v1/customization/jobs/{job['id']}/status")
    assert status.status_code == 200 and status.json()["status"] == "failed"
    assert "Dataset validation failed" in status.json()["status_logs"][-1]["message"]
