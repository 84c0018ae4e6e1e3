"""Where the token goes, and what of a URL reaches a log (issue 15, item 5).

The bearer token goes only to the configured hosts: not to a host a ``Link: rel=next`` names,
not to an LFS ``verify.href`` elsewhere, never to a pre-signed upload URL. Query strings (the
signatures of pre-signed URLs, the emulator's upload tickets) never reach a log line, httpx's
own INFO lines included.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import httpx
import pytest

from dpo_frames.customizer import CustomizerClient, CustomizerSettings, ResponseFormatError, RetryPolicy
from dpo_frames.customizer.transport import redact
from dpo_frames.emulator import Emulator
from tests.customizer.support import client_for, emulator_config, submit, write_dataset

TOKEN = "tok-SECRET-0123456789"
HOST = "http://nmp.test"


class Recorder:
    def __init__(self, handler):  # type: ignore[no-untyped-def]
        self.handler = handler
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return self.handler(request)

    def auth_by_host(self) -> dict[str, set[str | None]]:
        seen: dict[str, set[str | None]] = {}
        for request in self.requests:
            seen.setdefault(request.url.host, set()).add(request.headers.get("Authorization"))
        return seen


def _client(handler) -> tuple[CustomizerClient, Recorder]:  # type: ignore[no-untyped-def]
    recorder = Recorder(handler)
    settings = CustomizerSettings(entity_host=HOST, token=TOKEN, retry=RetryPolicy(attempts=1))
    return CustomizerClient(settings, transport=httpx.MockTransport(recorder)), recorder


async def test_a_next_page_on_another_host_is_not_followed_with_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<http://elsewhere.test/v1/hf/api/datasets/team/ds/tree/main?cursor=2>; rel="next"'
        return httpx.Response(200, json=[{"type": "file", "path": "a", "size": 1, "oid": "1"}], headers={"Link": link})

    client, recorder = _client(handler)
    async with client:
        with pytest.raises(ResponseFormatError, match="next page is on another host"):
            await client.datastore.list_repo_files("team", "ds")
    assert recorder.auth_by_host() == {"nmp.test": {f"Bearer {TOKEN}"}}  # nothing sent elsewhere


async def test_a_verify_href_on_another_host_gets_no_token_nor_the_upload(tmp_path: Path) -> None:
    data = b"x" * 3000
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    oid = hashlib.sha256(data).hexdigest()
    tree: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/tree/main"):
            return httpx.Response(200, json=tree)
        if "/preupload/" in path:
            return httpx.Response(200, json={"files": [{"path": "big.bin", "uploadMode": "lfs"}]})
        if path.endswith("/objects/batch"):
            actions = {
                "upload": {"href": f"http://blobs.test/o/{oid}?X-Amz-Signature=SIG-SECRET"},
                "verify": {"href": f"http://verify.test/v/{oid}", "header": {"X-Verify": "v"}},
            }
            return httpx.Response(200, json={"objects": [{"oid": oid, "size": len(data), "actions": actions}]})
        if "/commit/" in path:
            tree.append({"type": "file", "path": "big.bin", "size": len(data), "oid": "p", "lfs": {"oid": oid}})
            return httpx.Response(200, json={"commitOid": "b" * 40, "commitUrl": f"{HOST}/c"})
        return httpx.Response(200, json={})

    client, recorder = _client(handler)
    async with client:
        await client.datastore.upload_file(local, "big.bin", namespace="team", name="ds")
    seen = recorder.auth_by_host()
    assert seen["nmp.test"] == {f"Bearer {TOKEN}"}
    assert seen["blobs.test"] == {None} and seen["verify.test"] == {None}
    verify = next(r for r in recorder.requests if r.url.host == "verify.test")
    assert verify.headers["X-Verify"] == "v" and json.loads(verify.content) == {"oid": oid, "size": len(data)}


async def test_no_query_string_reaches_a_log_line_httpx_included(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data = write_dataset(tmp_path / "ds", train=300)  # above the threshold below: git-lfs, with a ticket
    with Emulator(emulator_config(lfs_threshold_bytes=4096)) as emu:
        async with client_for(emu) as client:
            ref = await submit(client, data)
        tickets = [r.query for r in emu.state.requests if r.method == "PUT"]
    assert {u.mode for u in ref.uploads} == {"lfs", "regular"} and tickets and all("ticket=" in q for q in tickets)
    assert "HTTP Request: PUT" in caplog.text  # httpx's INFO lines were captured...
    for query in tickets:
        assert query.split("=", 1)[1] not in caplog.text  # ...without the ticket
    assert "?***" in caplog.text


def test_redaction_removes_tokens_and_every_query_string() -> None:
    text = f"PUT https://s3.test/o?X-Amz-Signature=abc&X-Amz-Credential=def failed; Bearer {TOKEN}; /a/b?t=1 ok"
    assert redact(text, [TOKEN]) == "PUT https://s3.test/o?*** failed; Bearer ***; /a/b?*** ok"
