"""Soak: many submissions through a faulty platform, one job per run id, every dataset intact.

Bounded (a fixed number of submissions, a fixed seed) and well under a minute on two cores. Each
run id is submitted three times (twice at once, once after), each with its own dataset, through an
emulator that injects every fault it knows at random: refusals (503, 429), dropped connections,
answers lost after the work was done (503_after, drop_after), requests served late, slow and
trickled answers, 200s that are no answer. A submission that fails with a platform error is
repeated, as a user would. Then:

- every run id has exactly one job (``duplicates``), and every submission of it returned that job;
- every repository holds exactly the bytes of its dataset, and every job, dataset and file is
  still there after the emulator restarts on its persist dir (``lost writes``);
- nothing raised but the client's own errors, and the emulator never answered 500 (``crashes``).

The figures are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from pathlib import Path
from typing import Any

import httpx

from dpo_frames.customizer import CustomizerError, JobRef, RetryPolicy
from dpo_frames.emulator import Emulator, FaultConfig
from tests.customizer.support import client_for, emulator_config, jobs_of_run, submit, write_dataset

SEED = 15
RUNS = 24
FILES = ("training/training_file.jsonl", "validation/validation_file.jsonl")
FAULTS = FaultConfig(
    seed=SEED,
    unavailable_rate=0.03,
    rate_limit_rate=0.03,
    retry_after_seconds=0,
    drop_rate=0.03,
    slow_rate=0.02,
    slow_seconds=0.2,
    unavailable_after_rate=0.03,
    drop_after_rate=0.03,
    late_rate=0.03,
    late_after_requests=2,
    trickle_rate=0.02,
    trickle_seconds=0.01,
    fake_ok_rate=0.02,
)
CLIENT = {
    "retry": RetryPolicy(attempts=6, backoff_base=0.01, backoff_max=0.05, jitter=0.01, retry_after_max=0.05),
    "request_deadline_seconds": 1.0,
    "call_deadline_seconds": 8.0,
}


class Figures:
    def __init__(self) -> None:
        self.submits = 0
        self.failed_submits = 0
        self.crashes: list[str] = []


async def _submit_until_done(client: Any, data: Path, run_id: str, figures: Figures) -> JobRef | None:
    for _ in range(15):
        figures.submits += 1
        try:
            return await submit(client, data, run_id=run_id, dataset_name=f"ds-{run_id}")
        except CustomizerError:
            figures.failed_submits += 1  # a platform error, clearly reported: try again
        except Exception as exc:  # anything else is a crash
            figures.crashes.append(f"{run_id}: {type(exc).__name__}: {exc}")
            return None
    figures.crashes.append(f"{run_id}: never submitted")
    return None


def _lost(emu: Emulator, datasets: dict[str, Path], refs: dict[str, list[JobRef]]) -> list[str]:
    lost = []
    for run_id, data in datasets.items():
        repo = emu.state.repo(f"team/ds-{run_id}")
        for path in FILES:
            if repo is None or path not in repo.files:
                lost.append(f"{run_id}: {path} missing")
            elif emu.state.file_bytes(f"team/ds-{run_id}", path) != (data / path).read_bytes():
                lost.append(f"{run_id}: {path} differs")
        if f"team/ds-{run_id}" not in emu.state.datasets:
            lost.append(f"{run_id}: dataset not registered")
        lost.extend(f"{run_id}: job {ref.job_id} missing" for ref in refs[run_id] if ref.job_id not in emu.state.jobs)
    return lost


async def test_soak_one_job_per_run_and_every_dataset_intact(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    datasets = {f"run-{i}": write_dataset(tmp_path / f"ds{i}", tag=f"r{i} ", train=4 + i) for i in range(RUNS)}
    persist = tmp_path / "platform"
    figures = Figures()
    refs: dict[str, list[JobRef]] = {run_id: [] for run_id in datasets}

    with Emulator(emulator_config(faults=FAULTS, persist_dir=persist)) as emu:
        async with client_for(emu, **CLIENT) as client:
            first = [run_id for run_id in datasets for _ in range(2)]
            rng.shuffle(first)
            second = list(datasets)
            rng.shuffle(second)
            for wave in (first, second):
                done = await asyncio.gather(*(_submit_until_done(client, datasets[r], r, figures) for r in wave))
                for run_id, ref in zip(wave, done, strict=True):
                    if ref is not None:
                        refs[run_id].append(ref)
        with httpx.Client(base_url=emu.url) as http:  # "a moment later": late requests get served
            for _ in range(8):
                with contextlib.suppress(httpx.HTTPError):  # the pings get faults too
                    http.get("/health")
        jobs = {run_id: jobs_of_run(emu, run_id) for run_id in datasets}
        duplicates = sum(max(0, len(found) - 1) for found in jobs.values())
        lost = _lost(emu, datasets, refs)
        errors = [r for r in emu.state.requests if r.status is not None and r.status >= 500 and r.fault is None]
        injected = emu.state.fault_injector.injected
        requests = len(emu.state.requests)

    with Emulator(emulator_config(persist_dir=persist)) as again:  # and all of it is durable
        lost += [f"after restart: {item}" for item in _lost(again, datasets, refs)]
        lost += [f"after restart: {r} jobs" for r, found in jobs.items() if len(jobs_of_run(again, r)) != len(found)]

    crashes = figures.crashes + [f"emulator {r.status} on {r.method} {r.path}" for r in errors]
    print(
        f"\nsoak (seed {SEED}): faults injected {injected} in {requests} requests, submits {figures.submits} "
        f"({figures.failed_submits} failed with a platform error and were repeated), run ids {RUNS}, "
        f"duplicates {duplicates}, lost writes {len(lost)}, crashes {len(crashes)}"
    )
    assert crashes == []
    assert duplicates == 0, {r: [j["id"] for j in found] for r, found in jobs.items() if len(found) > 1}
    assert lost == []
    for run_id, found in jobs.items():
        assert len(refs[run_id]) == 3 and {ref.job_id for ref in refs[run_id]} == {found[0]["id"]}, run_id
    assert injected >= 20  # the faults really happened
