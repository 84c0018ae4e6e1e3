"""Injected HTTP faults and the bearer token, as a plain httpx client observes them."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, constants
from huggingface_hub.utils import disable_progress_bars

from dpo_frames.emulator import Emulator, EmulatorConfig, FaultConfig, StagedFault

TOKEN = "s3cr3t-t0ken-value"


def statuses(emu: Emulator, path: str, count: int) -> list[int]:
    with httpx.Client(base_url=emu.url) as client:
        return [client.get(path).status_code for _ in range(count)]


def test_a_seeded_fraction_of_503s_limited_to_a_path_prefix() -> None:
    faults = FaultConfig(seed=3, unavailable_rate=0.3, path_prefix="/v1/namespaces")
    with Emulator(EmulatorConfig(faults=faults)) as emu:
        first = statuses(emu, "/v1/namespaces", 60)
        others = statuses(emu, "/v1/customization/configs", 20)
        answer = httpx.get(f"{emu.url}/v1/namespaces")
        while answer.status_code != 503:
            answer = httpx.get(f"{emu.url}/v1/namespaces")
    with Emulator(EmulatorConfig(faults=faults)) as emu:
        replay = statuses(emu, "/v1/namespaces", 60)
    with Emulator(EmulatorConfig(faults=faults.model_copy(update={"seed": 4}))) as emu:
        other_seed = statuses(emu, "/v1/namespaces", 60)

    assert set(first) == {200, 503} and 8 <= first.count(503) <= 30
    assert replay == first and other_seed != first
    assert others == [200] * 20
    assert answer.json() == {"detail": "Service temporarily unavailable (injected fault)."}


def test_rate_limit_answers_429_with_retry_after() -> None:
    faults = FaultConfig(rate_limit_rate=1.0, retry_after_seconds=2.5)
    with Emulator(EmulatorConfig(faults=faults)) as emu:
        answer = httpx.post(f"{emu.url}/v1/namespaces", json={"id": "x"})
        assert "x" not in emu.state.namespaces  # refused before reaching the service

    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "2.5"
    assert "Too many requests" in answer.json()["detail"]


def test_slow_answers_are_delayed_then_served() -> None:
    faults = FaultConfig(fail_first=[StagedFault(path_prefix="/v1/namespaces", count=1, kind="slow")], slow_seconds=0.5)
    with Emulator(EmulatorConfig(faults=faults)) as emu, httpx.Client(base_url=emu.url) as client:
        started = time.monotonic()
        slow = client.post("/v1/namespaces", json={"id": "slow"})
        slow_elapsed = time.monotonic() - started
        started = time.monotonic()
        fast = client.get("/v1/namespaces/slow")
        fast_elapsed = time.monotonic() - started

    assert slow.status_code == 201 and slow_elapsed >= 0.5
    assert fast.status_code == 200 and fast_elapsed < 0.4


def test_a_slow_answer_outlasts_a_short_client_timeout() -> None:
    config = EmulatorConfig(faults=FaultConfig(slow_rate=1.0, slow_seconds=0.5))
    with Emulator(config) as emu, pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{emu.url}/v1/namespaces", timeout=0.1)


def test_dropped_connection_closes_without_an_answer() -> None:
    faults = FaultConfig(fail_first=[StagedFault(path_prefix="/v1/namespaces", count=2, kind="drop")])
    with Emulator(EmulatorConfig(faults=faults)) as emu, httpx.Client(base_url=emu.url) as client:
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                client.post("/v1/namespaces", json={"id": "dropped"})
        recovered = client.post("/v1/namespaces", json={"id": "dropped"})
        log = emu.state.requests_to("/v1/namespaces")

    assert recovered.status_code == 201
    assert [(r.status, r.fault) for r in log] == [(None, "drop"), (None, "drop"), (201, None)]


def test_random_drops_are_seeded() -> None:
    def outcomes() -> list[str]:
        with Emulator(EmulatorConfig(faults=FaultConfig(seed=11, drop_rate=0.4))) as emu:
            results = []
            for _ in range(20):
                try:
                    results.append(str(httpx.get(f"{emu.url}/health").status_code))
                except httpx.RemoteProtocolError:
                    results.append("drop")
            return results

    first = outcomes()
    assert "drop" in first and "200" in first and outcomes() == first


def test_staged_faults_count_exactly_and_match_the_method() -> None:
    faults = FaultConfig(
        fail_first=[
            StagedFault(path_prefix="/v1/datasets", count=2, kind="503", method="POST"),
            StagedFault(path_prefix="/v1/customization/jobs/", count=1, kind="429"),
        ],
        retry_after_seconds=0,
    )
    body = {"name": "d", "namespace": "n", "files_url": "hf://datasets/n/d"}
    with Emulator(EmulatorConfig(faults=faults)) as emu, httpx.Client(base_url=emu.url) as client:
        listing = client.get("/v1/datasets").status_code
        creates = [client.post("/v1/datasets", json=body).status_code for _ in range(4)]
        polls = [client.get("/v1/customization/jobs/cust-x/status") for _ in range(2)]

    assert listing == 200
    assert creates == [503, 503, 201, 409]
    assert [p.status_code for p in polls] == [429, 404] and polls[0].headers["Retry-After"] == "0"


def test_bearer_token_is_required_when_configured() -> None:
    with Emulator(EmulatorConfig(token=TOKEN)) as emu, httpx.Client(base_url=emu.url) as client:
        missing = client.get("/v1/namespaces")
        wrong = client.get("/v1/namespaces", headers={"Authorization": "Bearer nope"})
        basic = client.get("/v1/namespaces", headers={"Authorization": f"Basic {TOKEN}"})
        right = client.get("/v1/namespaces", headers={"Authorization": f"Bearer {TOKEN}"})
        health = client.get("/health")
        ready = client.get("/v1/health/ready")
        log = [(r.path, r.status, r.fault) for r in emu.state.requests]

    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing.headers["WWW-Authenticate"] == "Bearer" and missing.json() == {"detail": "Not authenticated"}
    assert right.status_code == 200 and health.status_code == 200 and ready.json() == {"status": "ready"}
    assert log[:3] == [("/v1/namespaces", 401, "401")] * 3


def test_lfs_upload_works_under_a_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HfApi PUTs LFS bytes without credentials (as to a presigned URL): the ticket authorises it."""
    disable_progress_bars()
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5000))
    with Emulator(EmulatorConfig(token=TOKEN, lfs_threshold_bytes=1000)) as emu:
        api = HfApi(endpoint=emu.hf_endpoint, token=TOKEN)
        api.create_repo("ns/secure", repo_type="dataset")
        api.upload_file(path_or_fileobj=str(big), path_in_repo="big.bin", repo_id="ns/secure", repo_type="dataset")
        anonymous = HfApi(endpoint=emu.hf_endpoint, token=False)
        with pytest.raises(Exception, match="401"):
            anonymous.list_repo_files("ns/secure", repo_type="dataset")

        assert emu.state.file_bytes("ns/secure", "big.bin") == big.read_bytes()


def test_the_token_never_appears_in_logs_reprs_or_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    faults = FaultConfig(fail_first=[StagedFault(path_prefix="/v1/namespaces", count=1, kind="503")])
    config = EmulatorConfig(token=TOKEN, persist_dir=tmp_path / "state", faults=faults)
    with (
        Emulator(config) as emu,
        httpx.Client(base_url=emu.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):
        client.post("/v1/namespaces", json={"id": "a"})
        client.post("/v1/namespaces", json={"id": "a"})
        httpx.get(f"{emu.url}/v1/namespaces", headers={"Authorization": f"Bearer {TOKEN}x"})
        client.post(
            "/v1/deployment/configs",
            json={
                "name": "c",
                "namespace": "a",
                "external_endpoint": {"host_url": "http://x", "api_key": "key-123"},
            },
        )
        client.post(
            "/v1/deployment/model-deployments",
            json={"name": "m", "namespace": "a", "config": "a/c", "hf_token": "hf-456"},
        )
        texts = [repr(config), str(config), config.model_dump_json(), repr(emu), repr(list(emu.state.requests))]
    persisted = (tmp_path / "state" / "state.json").read_text()

    assert any("injected fault 503" in record.getMessage() for record in caplog.records)  # logging was on
    for text in [caplog.text, *texts, persisted]:
        assert TOKEN not in text
    assert "key-123" not in persisted and "hf-456" not in persisted
