"""State and uploaded files survive a restart when the emulator has a ``persist_dir``."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.utils import disable_progress_bars

from dpo_frames.emulator import Emulator, EmulatorConfig

RECORD = {"prompt": "p", "chosen_response": "c", "rejected_response": "r"}


def test_entities_files_and_a_running_job_survive_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disable_progress_bars()
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    config = EmulatorConfig(
        tick_seconds=0.05,
        job_steps=20,
        deployment_ready_after=0.05,
        lfs_threshold_bytes=2048,
        persist_dir=tmp_path / "platform",
    )
    training = "\n".join(json.dumps(RECORD) for _ in range(50)).encode()  # > 2048 bytes: git-lfs
    validation = json.dumps(RECORD).encode()
    assert len(training) > 2048

    with Emulator(config) as emu, httpx.Client(base_url=emu.url) as client:
        api = HfApi(endpoint=emu.hf_endpoint, token=None)
        client.post("/v1/namespaces", json={"id": "keep"}).raise_for_status()
        client.post("/v1/datastore/namespaces", data={"namespace": "keep"}).raise_for_status()
        api.create_repo("keep/pairs", repo_type="dataset")
        api.upload_file(
            path_or_fileobj=training,
            path_in_repo="training/training_file.jsonl",
            repo_id="keep/pairs",
            repo_type="dataset",
        )
        api.upload_file(
            path_or_fileobj=validation,
            path_in_repo="validation/validation_file.jsonl",
            repo_id="keep/pairs",
            repo_type="dataset",
        )
        client.post(
            "/v1/datasets", json={"name": "pairs", "namespace": "keep", "files_url": "hf://datasets/keep/pairs"}
        ).raise_for_status()
        client.post(
            "/v1/deployment/configs",
            json={"name": "c", "namespace": "keep", "nim_deployment": {"image_name": "i", "image_tag": "t", "gpu": 1}},
        ).raise_for_status()
        client.post(
            "/v1/deployment/model-deployments", json={"name": "d", "namespace": "keep", "config": "keep/c"}
        ).raise_for_status()
        job = client.post(
            "/v1/customization/jobs",
            json={
                "config": "meta/llama-3.2-1b-instruct@v1.0.0+A100",
                "dataset": "keep/pairs",
                "hyperparameters": {"training_type": "dpo", "finetuning_type": "lora"},
            },
        ).json()
        while client.get(f"/v1/customization/jobs/{job['id']}/status").json()["percentage_done"] < 20:
            time.sleep(0.01)
        assert training == emu.state.file_bytes("keep/pairs", "training/training_file.jsonl")
        time.sleep(0.1)  # the deployment becomes ready
    stopped_at = json.loads((config.persist_dir / "state.json").read_text())["jobs"][job["id"]]["status_details"]

    time.sleep(0.6)  # downtime of 12 ticks: the clock of a stopped platform does not move
    restart_began = time.monotonic()
    with Emulator(config) as emu, httpx.Client(base_url=emu.url) as client:
        resumed = client.get(f"/v1/customization/jobs/{job['id']}/status").json()
        restart_ticks = math.ceil((time.monotonic() - restart_began) / config.tick_seconds)
        assert client.post("/v1/namespaces", json={"id": "keep"}).status_code == 409
        assert client.post("/v1/datastore/namespaces", data={"namespace": "keep"}).status_code == 409
        assert client.get("/v1/datasets/keep/pairs").json()["files_url"] == "hf://datasets/keep/pairs"
        assert client.get("/v1/deployment/model-deployments/keep/d").json()["status_details"]["status"] == "ready"
        api = HfApi(endpoint=emu.hf_endpoint, token=None)
        assert sorted(api.list_repo_files("keep/pairs", repo_type="dataset")) == [
            "training/training_file.jsonl",
            "validation/validation_file.jsonl",
        ]
        downloaded = hf_hub_download(
            "keep/pairs",
            "training/training_file.jsonl",
            repo_type="dataset",
            endpoint=emu.hf_endpoint,
            cache_dir=tmp_path / "cache",
            token=False,
        )
        deadline = time.monotonic() + 5
        while (final := client.get(f"/v1/customization/jobs/{job['id']}/status").json())["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        namespace, name = job["output_model"].split("/", 1)
        assert client.get(f"/v1/models/{namespace}/{name}").status_code == 200

    assert stopped_at["status"] == "running" and stopped_at["percentage_done"] >= 20
    step = 100 / config.job_steps  # had the clock run while stopped, 12 ticks would show
    assert (
        stopped_at["percentage_done"]
        <= resumed["percentage_done"]
        <= stopped_at["percentage_done"] + step * (restart_ticks + 1)
    )
    assert final["percentage_done"] == 100.0
    assert Path(downloaded).read_bytes() == training
    assert len(os.listdir(config.persist_dir / "blobs")) >= 3  # two files and the tmp directory


def test_a_state_file_of_another_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(json.dumps({"version": 99}))

    with pytest.raises(ValueError, match="unsupported emulator state version 99"):
        Emulator(EmulatorConfig(persist_dir=tmp_path)).start()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 1, "namespaces": 3}'])
def test_a_corrupt_state_file_is_a_clear_error_with_its_own_code(tmp_path: Path, content: str) -> None:
    from click.testing import CliRunner

    from dpo_frames.cli import cli
    from dpo_frames.cli.errors import EXIT_BAD_INPUT
    from dpo_frames.errors import EmulatorStateError

    persist = tmp_path / "platform"
    persist.mkdir()
    (persist / "state.json").write_text(content)
    with pytest.raises(EmulatorStateError, match="state.json is corrupt or not an emulator state"):
        Emulator(EmulatorConfig(persist_dir=persist)).__enter__()
    result = CliRunner().invoke(cli, ["emulator", "--port", "0", "--persist-dir", str(persist)])
    assert result.exit_code == EXIT_BAD_INPUT and "move it away to start afresh" in result.output
    assert (persist / "state.json").read_text() == content  # left as it was, for the user to look at
