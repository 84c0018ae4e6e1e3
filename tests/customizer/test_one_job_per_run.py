"""One job per run id, whatever happens (issue 15, item 1): the three ways a second job was made.

1. a 503 or 429 answered *after* the service created the job (a gateway's timeout) was retried as
   "not processed";
2. an answer lost while the service creates the job a moment later: the look-up finds none and
   creates again;
3. two submissions of one run id at once.

Faults are injected by the emulator over loopback; a platform that does not enforce unique job
names (which the emulator cannot be) is played by a MockTransport.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from dpo_frames.customizer import CustomizerClient, CustomizerSettings, Hyperparameters, RetryPolicy
from dpo_frames.customizer.flow import IDEMPOTENCY_KEY_FIELD, RUN_ID_FIELD, idempotency_key, submit_dataset_job
from dpo_frames.emulator import Emulator, FaultConfig, StagedFault
from tests.customizer.support import client_for, emulator_config, jobs_of_run, submit, write_dataset

JOBS = "/v1/customization/jobs"


def _post_jobs(kind: str, count: int = 1, **faults: Any) -> FaultConfig:
    return FaultConfig(fail_first=[StagedFault(path_prefix=JOBS, method="POST", count=count, kind=kind)], **faults)


@pytest.mark.parametrize("kind", ["503_after", "429_after"])
async def test_an_error_answered_after_the_job_was_created_is_not_a_second_job(tmp_path: Path, kind: str) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=_post_jobs(kind, retry_after_seconds=0))) as emu:
        async with client_for(emu) as client:
            ref = await submit(client, data, run_id="run-a")
        jobs = jobs_of_run(emu, "run-a")
        posts = emu.state.requests_to(JOBS, "POST")

    assert len(jobs) == 1 and ref.job_id == jobs[0]["id"] and ref.reused_job
    assert [(r.fault, r.status) for r in posts if r.path == JOBS] == [(kind, int(kind[:3]))]  # looked up, not re-sent
    assert jobs[0]["name"] == idempotency_key("team", "run-a")


@pytest.mark.parametrize("late_after", [1, 2, 3])
async def test_a_lost_answer_whose_job_appears_later_is_not_a_second_job(tmp_path: Path, late_after: int) -> None:
    """The create's connection is closed without an answer and the service makes the job only
    ``late_after`` requests later: before the look-up (1), between the look-up and the next
    create (2), after the next create (3)."""
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config(faults=_post_jobs("late", late_after_requests=late_after))) as emu:
        async with client_for(emu) as client:
            ref = await submit(client, data, run_id="run-late")
            for _ in range(4):  # "a moment later": the late request is served by now
                await client.jobs.list()
        jobs = jobs_of_run(emu, "run-late")
        late = [r for r in emu.state.requests if r.fault == "late-served"]
        creates = [(r.fault, r.status) for r in emu.state.requests_to(JOBS, "POST") if r.path == JOBS]

    assert len(late) == 1  # the late create was played
    assert len(jobs) == 1, [job["id"] for job in jobs]
    assert ref.job_id == jobs[0]["id"] and jobs[0]["status"] not in ("cancelled", "cancelling")
    expected = {
        1: [("late", None), ("late-served", 201)],  # made before the look-up: found, no second create
        2: [("late", None), ("late-served", 201), (None, 409)],  # made just before the second create: refused
        3: [("late", None), (None, 201), ("late-served", 409)],  # made after it: the twin refused
    }
    assert sorted(creates, key=lambda c: str(c)) == sorted(expected[late_after], key=lambda c: str(c))


async def test_two_submissions_of_one_run_at_once_make_one_job_and_one_create(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config()) as emu:
        async with client_for(emu) as client:
            first, second = await asyncio.gather(
                submit(client, data, run_id="run-c"), submit(client, data, run_id="run-c")
            )
        creates = [r for r in emu.state.requests_to(JOBS, "POST") if r.path == JOBS]
        jobs = jobs_of_run(emu, "run-c")

    assert len(jobs) == 1 and first.job_id == second.job_id == jobs[0]["id"]
    assert sorted([first.reused_job, second.reused_job]) == [False, True]
    assert len(creates) == 1  # the second waited for the first (the lock), then found its job


def test_two_processes_submitting_one_run_make_one_job(tmp_path: Path) -> None:
    """No lock is shared between two event loops (as between two processes): the job name, the
    idempotency key, makes the platform refuse the second create (409), and it is looked up."""
    data = write_dataset(tmp_path / "ds")
    refs: list[Any] = []
    barrier = threading.Barrier(2)

    with Emulator(emulator_config()) as emu:

        def one() -> None:
            async def go() -> Any:
                async with client_for(emu) as client:
                    barrier.wait()
                    return await submit(client, data, run_id="run-p")

            refs.append(asyncio.run(go()))

        threads = [threading.Thread(target=one) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        jobs = jobs_of_run(emu, "run-p")

    assert len(refs) == 2 and len(jobs) == 1
    assert {ref.job_id for ref in refs} == {jobs[0]["id"]}


async def test_a_job_that_failed_is_followed_by_one_new_job_named_after_it(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "ds")
    with Emulator(emulator_config()) as emu:
        async with client_for(emu) as client:
            first = await submit(client, data, run_id="run-f")
            await client.jobs.cancel(first.job_id)
            emu.advance(1)
            second, third = await asyncio.gather(
                submit(client, data, run_id="run-f"), submit(client, data, run_id="run-f")
            )
        jobs = {job["id"]: job for job in jobs_of_run(emu, "run-f")}

    key = idempotency_key("team", "run-f")
    assert second.job_id == third.job_id != first.job_id and len(jobs) == 2
    assert [jobs[first.job_id]["name"], jobs[second.job_id]["name"]] == [key, f"{key}-2"]


# --- a platform without unique job names (MockTransport) ---------------------------------


class LatePlatform:
    """A platform that does not refuse a second job of one name, and whose first create is
    answered by a dropped connection while the job shows up only in a later listing."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.hidden: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.tree: dict[str, dict[str, Any]] = {}
        self.creates = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == JOBS and method == "POST":
            body = json.loads(request.content)
            self.creates += 1
            stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self.creates)
            job = {**body, "id": f"cust-{self.creates}", "status": "created", "created_at": stamp.isoformat()}
            if self.creates == 1:
                self.hidden.append(job)  # made, but seen only later
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            self.jobs.append(job)
            return httpx.Response(200, json=job)
        if path == JOBS:
            listing = list(self.jobs)
            self.jobs.extend(self.hidden)  # the late job appears after this listing
            self.hidden.clear()
            return httpx.Response(200, json={"object": "list", "data": listing, "pagination": {"total_pages": 1}})
        if path.endswith("/cancel"):
            job_id = path.split("/")[-2]
            self.cancelled.append(job_id)
            for job in self.jobs:
                if job["id"] == job_id:
                    job["status"] = "cancelled"
            return httpx.Response(200, json={"id": job_id, "status": "cancelling"})
        return self._storage(request)

    def _storage(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/v1/namespaces", "/v1/datastore/namespaces"):
            return httpx.Response(201, json={"id": "team", "namespace": "team"})
        if path == "/v1/hf/api/repos/create":
            return httpx.Response(200, json={"url": "http://nmp.test/v1/hf/datasets/team/pairs"})
        if path == "/v1/datasets":
            return httpx.Response(201, json=json.loads(request.content))
        if path.endswith("/tree/main"):
            return httpx.Response(200, json=list(self.tree.values()))
        if "/preupload/" in path:
            files = json.loads(request.content)["files"]
            return httpx.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular"} for f in files]})
        if "/commit/" in path:
            import base64
            import hashlib

            for line in request.content.decode().splitlines()[1:]:
                value = json.loads(line)["value"]
                content = base64.b64decode(value["content"])
                oid = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
                self.tree[value["path"]] = {"type": "file", "path": value["path"], "size": len(content), "oid": oid}
            return httpx.Response(200, json={"commitOid": "a" * 40, "commitUrl": "http://nmp.test/c"})
        return httpx.Response(404, json={"detail": "no route"})


async def test_without_unique_names_a_late_twin_is_cancelled_and_the_oldest_kept(tmp_path: Path) -> None:
    platform = LatePlatform()
    settings = CustomizerSettings(
        entity_host="http://nmp.test", retry=RetryPolicy(attempts=4, backoff_base=0.0, jitter=0.0)
    )

    async def no_sleep(_: float) -> None:
        return None

    async with CustomizerClient(settings, transport=httpx.MockTransport(platform), sleep=no_sleep) as client:
        ref = await submit_dataset_job(
            client,
            dataset_dir=write_dataset(tmp_path / "ds"),
            namespace="team",
            dataset_name="pairs",
            run_id="run-m",
            config="meta/x@v1",
            hyperparameters=Hyperparameters(),
        )

    live = [job for job in platform.jobs if job["status"] != "cancelled"]
    assert platform.creates == 2 and len(platform.jobs) == 2  # the platform made a twin...
    assert [job["id"] for job in live] == ["cust-1"] == [ref.job_id]  # ...which was cancelled: the oldest stays
    assert platform.cancelled == ["cust-2"]
    for job in platform.jobs:
        assert job["custom_fields"][IDEMPOTENCY_KEY_FIELD] == idempotency_key("team", "run-m")
        assert job["custom_fields"][RUN_ID_FIELD] == "run-m"
