"""A status that cannot be read is a platform error, never a verdict on the job (issue 15, item 4).

Before: three unreadable statuses in a row raised ``JobFailedError`` and the CLI exited 5 ("job
failed") while the job had completed. Now: :class:`StatusUnreadableError`, exit 4, and the
message says the wait "failed to read" the status.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dpo_frames.cli import cli
from dpo_frames.cli.errors import EXIT_PLATFORM
from dpo_frames.customizer import JobError, RetryPolicy, StatusUnreadableError, wait_for_job
from dpo_frames.emulator import Emulator, FaultConfig, StagedFault
from tests.customizer.support import client_for, emulator_config, submit, write_dataset

STATUS = "/v1/customization/jobs/"


def _unreadable(kind: str) -> FaultConfig:
    return FaultConfig(fail_first=[StagedFault(path_prefix=STATUS, method="GET", kind=kind, count=1000)])


@pytest.mark.parametrize("kind", ["503", "fake_ok", "drop"])
async def test_a_completed_job_whose_status_cannot_be_read_is_not_failed(tmp_path: Path, kind: str) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=_unreadable(kind))) as emu:
        async with client_for(emu, retry=RetryPolicy(attempts=1)) as client:
            ref = await submit(client, data)
            emu.advance(20)  # the job runs to its end
            with pytest.raises(StatusUnreadableError) as info:
                await wait_for_job(client, ref.job_id, poll_interval=0.01, max_consecutive_status_failures=3)
        final = emu.state.jobs[ref.job_id]["status"]

    assert final == "completed"
    assert not isinstance(info.value, JobError)  # not JobFailedError: no verdict
    message = str(info.value)
    assert "failed to read the job status" in message and "status unreadable 3 times in a row" in message
    assert info.value.job_id == ref.job_id and info.value.failures == 3


def test_the_cli_exits_4_not_5_when_the_status_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEMO_MICROSERVICES_BASE_URL", "NEMO_API_TOKEN", "HF_TOKEN", "NEMO_DATASTORE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=_unreadable("fake_ok"))) as emu:
        runner = CliRunner()
        submitted = runner.invoke(
            cli,
            ["submit", str(data), "--namespace", "team", "--dataset-name", "pairs", "--run-id", "r", "--host", emu.url],
            catch_exceptions=False,
        )
        assert submitted.exit_code == 0, submitted.output
        job_id = next(iter(emu.state.jobs))
        emu.advance(20)
        args = ["status", job_id, "--wait", "--poll-interval", "0.01", "--timeout", "10", "--host", emu.url]
        waited = runner.invoke(cli, args, catch_exceptions=False)
        assert emu.state.jobs[job_id]["status"] == "completed"

    assert waited.exit_code == EXIT_PLATFORM, waited.output
    assert "failed to read the job status" in waited.stderr and job_id in waited.stderr
