"""Every call and every wait has a wall-clock deadline (issue 15, item 3).

``timeout_seconds`` is a per-read timeout: a server that trickles its answer a byte at a time
never trips it. The emulator's ``trickle`` fault does exactly that (a byte every 50 ms, so a
listing of a few kilobytes takes minutes); the client must give up within its deadlines. The
assertions bound the time generously ("before N seconds"), they do not time anything exactly.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from dpo_frames.customizer import DeadlineExceededError, JobTimeoutError, RetryPolicy, TransportError, wait_for_job
from dpo_frames.emulator import Emulator, FaultConfig
from tests.customizer.support import client_for, emulator_config, submit, write_dataset

GENEROUS = 20.0  # seconds: far beyond the deadlines below, far below the trickle's minutes


def _trickle(path_prefix: str) -> FaultConfig:
    return FaultConfig(trickle_rate=1.0, trickle_seconds=0.05, path_prefix=path_prefix)


async def test_a_trickled_answer_is_cut_by_the_deadline_of_the_call() -> None:
    with Emulator(emulator_config(faults=_trickle("/v1/customization/configs"))) as emu:
        settings = {"request_deadline_seconds": 0.5, "call_deadline_seconds": 1.5, "timeout_seconds": 30.0}
        async with client_for(emu, **settings) as client:
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError, match="deadline") as info:
                await asyncio.wait_for(client.jobs.list_configs(), GENEROUS)
            elapsed = time.monotonic() - started
    assert elapsed < GENEROUS
    assert isinstance(info.value, TransportError) and info.value.attempts >= 2  # each attempt was capped, then retried


async def test_one_attempt_is_capped_too_and_retried() -> None:
    retry = RetryPolicy(attempts=2, backoff_base=0.01, jitter=0.0)
    with Emulator(emulator_config(faults=_trickle("/v1/customization/configs"))) as emu:
        async with client_for(emu, request_deadline_seconds=0.3, call_deadline_seconds=60.0, retry=retry) as client:
            with pytest.raises(TransportError, match="wall-clock cap of one attempt") as info:
                await asyncio.wait_for(client.jobs.list_configs(), GENEROUS)
    assert info.value.attempts == 2 and not isinstance(info.value, DeadlineExceededError)


async def test_wait_for_job_gives_up_at_its_timeout_while_status_reads_trickle(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=_trickle("/v1/customization/jobs/"))) as emu:
        async with client_for(emu, timeout_seconds=30.0) as client:
            ref = await submit(client, data)
            started = time.monotonic()
            with pytest.raises(JobTimeoutError, match=r"within 1s.*did not answer in time"):
                await asyncio.wait_for(wait_for_job(client, ref.job_id, timeout=1, poll_interval=0.05), GENEROUS)
            elapsed = time.monotonic() - started
    assert elapsed < GENEROUS


async def test_a_health_probe_is_capped_by_its_timeout() -> None:
    with Emulator(emulator_config(faults=_trickle("/v1/namespaces"))) as emu:
        async with client_for(emu) as client:
            report = await asyncio.wait_for(client.health(services=("entity-store",), timeout=0.5), GENEROUS)
    assert not report.ok and "no complete answer within 0.5s" in (report.services[0].error or "")
