"""Answers the flow depends on are validated, and an upload is verified (issue 15, item 2).

A 200 that is not a commit (a proxy's ``{"message": "OK"}``), or one that looks like a commit
while the repository did not change, must not count as success: the job would train on the
repository's old files while carrying the new data's fingerprint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dpo_frames.customizer import ResponseFormatError, UploadError
from dpo_frames.emulator import Emulator, FaultConfig, StagedFault
from tests.customizer.support import client_for, emulator_config, jobs_of_run, submit, write_dataset

COMMIT = "/v1/hf/api/datasets/team/pairs/commit/main"
TRAIN = "training/training_file.jsonl"


def _fake_commit(body: object) -> FaultConfig:
    return FaultConfig(fail_first=[StagedFault(path_prefix=COMMIT, method="POST", kind="fake_ok", body=body)])


async def test_a_200_that_is_no_commit_fails_the_submission_and_submits_no_job(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=_fake_commit({"message": "OK"}))) as emu:
        async with client_for(emu) as client:
            with pytest.raises(ResponseFormatError, match="no commit id") as info:
                await submit(client, data, run_id="run-g")
        assert emu.state.repo("team/pairs") is not None and emu.state.repo("team/pairs").files == {}  # type: ignore[union-attr]
        assert jobs_of_run(emu, "run-g") == []
    assert f"local dataset files are kept in {data}" in str(info.value)


async def test_a_commit_answer_the_repository_does_not_back_is_an_upload_error(tmp_path: Path) -> None:
    """The repository holds run 1's files; run 2's commit is answered like a commit but not made."""
    old = write_dataset(tmp_path / "old", tag="old ")
    new = write_dataset(tmp_path / "new", tag="new ")
    lying = {"success": True, "commitOid": "c0ffee" * 6 + "abcd", "commitUrl": "http://x/commit/c0ffee"}
    with Emulator(emulator_config()) as emu:
        async with client_for(emu) as client:
            await submit(client, old, run_id="run-1")
            emu.state.fault_injector.stage(StagedFault(path_prefix=COMMIT, method="POST", kind="fake_ok", body=lying))
            with pytest.raises(UploadError, match=rf"after the commit, {TRAIN} in the repository is") as info:
                await submit(client, new, run_id="run-2")
        stored = emu.state.file_bytes("team/pairs", TRAIN)
        assert jobs_of_run(emu, "run-2") == []  # no job trains on run 1's files under run 2's fingerprint
    assert stored == (old / TRAIN).read_bytes()
    assert str(new / TRAIN) in str(info.value)


async def test_an_upload_is_verified_against_the_tree(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config()) as emu:
        async with client_for(emu) as client:
            ref = await submit(client, data)
        paths = [(r.method, r.path) for r in emu.state.requests]
        assert emu.state.file_bytes("team/pairs", TRAIN) == (data / TRAIN).read_bytes()
    assert {u.mode for u in ref.uploads} == {"regular"}
    commit_at = paths.index(("POST", COMMIT))
    assert ("GET", "/v1/hf/api/datasets/team/pairs/tree/main") in paths[commit_at:]  # read back after the commit


async def test_a_status_answer_without_a_status_is_not_read_as_some_status(tmp_path: Path) -> None:
    faults = FaultConfig(
        fail_first=[StagedFault(path_prefix="/v1/customization/jobs/", method="GET", kind="fake_ok", count=1)]
    )
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=faults)) as emu:
        async with client_for(emu) as client:
            ref = await submit(client, data)
            with pytest.raises(ResponseFormatError, match="no recognised job 'status'"):
                await client.jobs.status(ref.job_id)
            assert (await client.jobs.status(ref.job_id)).status == "created"


async def test_a_job_answer_that_is_no_job_is_looked_up_then_created_once(tmp_path: Path) -> None:
    faults = FaultConfig(
        fail_first=[StagedFault(path_prefix="/v1/customization/jobs", method="POST", kind="fake_ok", count=1)]
    )
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=faults)) as emu:
        async with client_for(emu) as client:
            ref = await submit(client, data, run_id="run-j")
        jobs = jobs_of_run(emu, "run-j")
    assert [job["id"] for job in jobs] == [ref.job_id] and not ref.reused_job
