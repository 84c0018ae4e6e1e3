"""Every URL path segment is validated and quoted (issue 15, item 6).

``dpo-frames status ../../../v1/namespaces`` used to send ``GET /v1/namespaces/status``: the id
was pasted into the path, and the dot segments resolved. Ids are now validated (a clear usage
error before any request) and every segment is quoted.
"""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner

from dpo_frames.cli import cli
from dpo_frames.cli.errors import EXIT_USAGE
from dpo_frames.customizer import CustomizerClient, CustomizerSettings
from dpo_frames.emulator import Emulator
from dpo_frames.errors import ConfigError
from tests.customizer.support import emulator_config

HOST = "http://nmp.test"


def test_the_cli_refuses_a_job_id_that_is_a_path_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEMO_MICROSERVICES_BASE_URL", raising=False)
    with Emulator(emulator_config()) as emu:
        result = CliRunner().invoke(cli, ["status", "../../../v1/namespaces", "--host", emu.url])
        sent = list(emu.state.requests)
    assert result.exit_code == EXIT_USAGE, result.output
    assert "invalid job id '../../../v1/namespaces'" in result.stderr
    assert sent == []


def _recording_client() -> tuple[CustomizerClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"detail": "no"})

    return CustomizerClient(CustomizerSettings(entity_host=HOST), transport=httpx.MockTransport(handler)), seen


@pytest.mark.parametrize("bad", ["..", ".", "a/b", "a?b#c", "a\x00b", "a b", "", "x" * 256, "-lead", "a\nb"])
async def test_ids_that_would_make_another_url_are_refused_before_sending(bad: str) -> None:
    client, seen = _recording_client()
    async with client:
        for call in (
            lambda: client.jobs.get(bad),
            lambda: client.jobs.status(bad),
            lambda: client.jobs.cancel(bad),
            lambda: client.entity.get_namespace(bad),
            lambda: client.entity.get_dataset("team", bad),
            lambda: client.entity.get_model(bad, "m"),
            lambda: client.datastore.list_repo_files("team", bad),
            lambda: client.datastore.create_repo(bad, "ds"),
        ):
            with pytest.raises(ConfigError, match="invalid"):
                await call()
    assert seen == []


@pytest.mark.parametrize("bad", ["../secret", "a/../b", "/abs", "a\\b", "a\x00b", "a//b", "x" * 1025])
async def test_repository_paths_are_validated(bad: str) -> None:
    client, seen = _recording_client()
    async with client:
        with pytest.raises(ConfigError, match="invalid repository path"):
            await client.datastore.read_file("team", "ds", bad)
    assert seen == []


async def test_valid_ids_are_quoted_as_one_segment_each() -> None:
    client, seen = _recording_client()
    async with client:
        for call in (
            lambda: client.entity.get_model("team", "llama-3.2-1b@cust-7X+A100"),
            lambda: client.datastore.read_file("team", "ds", "training/a b#1.jsonl"),
        ):
            with pytest.raises(Exception, match="404"):
                await call()
    assert [r.url.raw_path for r in seen] == [
        b"/v1/models/team/llama-3.2-1b%40cust-7X%2BA100",
        b"/v1/hf/datasets/team/ds/resolve/main/training/a%20b%231.jsonl",
    ]


def test_the_transport_refuses_dot_segments_whoever_built_the_path() -> None:
    client = CustomizerClient(CustomizerSettings(entity_host=HOST))
    with pytest.raises(ConfigError, match="'.' or '..' segment"):
        client.jobs._http.url("/v1/deployment/model-deployments/team/../../namespaces")
