"""The emulator's HTTP conventions: list pagination, filters and sorting, error shapes, the
Data Store namespace form, entity updates and deletions, and in-process ASGI use."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import httpx
import pytest

from dpo_frames.emulator import Emulator, EmulatorConfig, create_app


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig()) as server:
        yield server


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url) as http:
        yield http


def test_lists_are_paginated_filtered_and_sorted(client: httpx.Client) -> None:
    for index in range(7):
        namespace = "paged-a" if index % 2 == 0 else "paged-b"
        client.post(
            "/v1/datasets",
            json={"name": f"d{index}", "namespace": namespace, "files_url": f"hf://datasets/{namespace}/d{index}"},
        ).raise_for_status()

    page2 = client.get("/v1/datasets", params={"page": 2, "page_size": 3, "filter[namespace]": "paged-a"}).json()
    newest = client.get(
        "/v1/datasets", params={"sort": "-created_at", "page_size": 1, "filter[namespace]": "paged-b"}
    ).json()
    beyond = client.get("/v1/datasets", params={"page": 9, "filter[namespace]": "paged-a"}).json()

    assert page2["object"] == "list" and [d["name"] for d in page2["data"]] == ["d6"]
    assert page2["pagination"] == {
        "page": 2,
        "page_size": 3,
        "current_page_size": 1,
        "total_pages": 2,
        "total_results": 4,
    }
    assert page2["filter"] == {"namespace": "paged-a"} and page2["sort"] == "created_at"
    assert [d["name"] for d in newest["data"]] == ["d5"]
    assert beyond["data"] == [] and beyond["pagination"]["total_results"] == 4
    bad = client.get("/v1/datasets", params={"page_size": 0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "page_size"]


def test_errors_are_json_with_detail(client: httpx.Client) -> None:
    unknown = client.get("/v1/nothing")
    wrong_method = client.put("/v1/namespaces")
    not_json = client.post("/v1/namespaces", content=b"{nope", headers={"Content-Type": "application/json"})
    bad_type = client.post("/v1/datasets", json={"name": "x", "files_url": 3})
    missing = client.get("/v1/datasets/none/none")

    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"detail": "Method Not Allowed"})
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["type"] == "json_invalid"
    assert bad_type.status_code == 422
    assert bad_type.json()["detail"][0] | {"input": None} == {
        "type": "string_type",
        "loc": ["body", "files_url"],
        "msg": "Input should be a valid string",
        "input": None,
    }
    assert (missing.status_code, missing.json()) == (404, {"detail": "Dataset 'none/none' not found."})


def test_datastore_namespaces_take_form_data(client: httpx.Client) -> None:
    created = client.post("/v1/datastore/namespaces", data={"namespace": "form-ns"})
    again = client.post("/v1/datastore/namespaces", data={"namespace": "form-ns"})
    multipart = client.post("/v1/datastore/namespaces", files={"namespace": (None, "multi-ns")})
    missing = client.post("/v1/datastore/namespaces", data={})
    invalid = client.post("/v1/datastore/namespaces", data={"namespace": "bad/name"})

    assert created.status_code == 201 and created.json()["namespace"] == "form-ns"
    assert again.status_code == 409 and again.headers["x-should-retry"] == "false"
    assert multipart.status_code == 201
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "namespace"]
    assert invalid.status_code == 422
    assert client.get("/v1/datastore/namespaces/form-ns").status_code == 200
    assert client.delete("/v1/datastore/namespaces/form-ns").status_code == 200
    assert client.get("/v1/datastore/namespaces/form-ns").status_code == 404


def test_entities_update_and_delete(client: httpx.Client) -> None:
    client.post("/v1/namespaces", json={"id": "life", "description": "old"}).raise_for_status()
    model = client.post("/v1/models", json={"name": "m@1", "namespace": "life", "base_model": "meta/x"})

    patched = client.patch("/v1/namespaces/life", json={"description": "new", "id": "ignored"}).json()
    listed = client.get("/v1/models", params={"filter[namespace]": "life"}).json()["data"]
    deleted = client.delete("/v1/models/life/m@1")

    assert model.status_code == 201 and model.json()["id"].startswith("model-")
    assert (patched["id"], patched["description"]) == ("life", "new")
    assert [m["name"] for m in listed] == ["m@1"]
    assert deleted.status_code == 200 and deleted.json()["id"] == model.json()["id"]
    assert client.get("/v1/models/life/m@1").status_code == 404
    assert client.delete("/v1/namespaces/life").status_code == 200
    assert client.delete("/v1/namespaces/life").status_code == 404


def test_deployment_bodies_are_validated(client: httpx.Client) -> None:
    no_target = client.post("/v1/deployment/configs", json={"name": "c", "namespace": "v"})
    bad_gpu = client.post(
        "/v1/deployment/configs",
        json={"name": "c", "namespace": "v", "nim_deployment": {"image_name": "i", "image_tag": "t", "gpu": -1}},
    )

    assert no_target.status_code == 422 and "nim_deployment" in no_target.json()["detail"][0]["msg"]
    assert bad_gpu.status_code == 422 and bad_gpu.json()["detail"][0]["loc"] == ["body", "nim_deployment", "gpu"]


async def test_the_asgi_app_serves_in_process() -> None:
    transport = httpx.ASGITransport(app=create_app(EmulatorConfig()))
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        created = await client.post("/v1/namespaces", json={"id": "in-process"})
        configs = await client.get("/v1/customization/configs")

    assert created.status_code == 201
    assert configs.json()["pagination"]["total_results"] >= 2


async def test_async_context_manager() -> None:
    async with Emulator(EmulatorConfig()) as emu, httpx.AsyncClient(base_url=emu.url) as client:
        answer = await client.get("/health")
        assert emu.hf_endpoint == f"{emu.url}/v1/hf"

    assert answer.json() == {"status": "healthy"}
    assert repr(emu).startswith("Emulator(http://127.0.0.1:")


def test_serve_runs_in_the_foreground_until_stopped() -> None:
    """``serve`` is what ``dpo-frames emulator --host --port`` runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from dpo_frames.emulator import serve; serve(host='127.0.0.1', port={port})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/customization/configs", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "serve() did not come up"
                time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=10)[0].decode()

    assert answer.status_code == 200 and answer.json()["data"]
    assert process.returncode == 0, output
    assert "GET /v1/customization/configs" in output  # the access log is on for the CLI


def test_the_emulator_docstring_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from dpo_frames.emulator import server

    example = textwrap.dedent((server.Emulator.__doc__ or "").split("Example::")[1].split(":attr:")[0])
    exec(compile(example, "Emulator.__doc__", "exec"), {})

    assert "llama-3.2-1b-instruct@v1.0.0+A100" in capsys.readouterr().out
