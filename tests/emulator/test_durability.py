"""An acknowledged write survives ``kill -9``; one emulator per directory; slow writes block nobody
(issue 15, item 7).

The emulator runs in a subprocess with a persist dir; writers in threads record every write
the emulator acknowledged (2xx); the process is killed with SIGKILL while they write; a new
emulator on the same directory must hold every acknowledged write.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from dpo_frames.emulator import Emulator, EmulatorConfig, EmulatorState
from dpo_frames.errors import EmulatorStartError

SCRIPT = """
import sys, threading
from pathlib import Path
from dpo_frames.emulator import Emulator, EmulatorConfig
emu = Emulator(EmulatorConfig(persist_dir=Path(sys.argv[1]), clock="manual")).start()
print(emu.url, flush=True)
threading.Event().wait()
"""
CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
HYPER = {"training_type": "dpo", "finetuning_type": "lora"}
BULK = 6
ACKS = 30


@contextmanager
def emulator_process(persist: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(persist)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().decode().strip()
        assert url.startswith("http://"), process.stderr.read().decode() if process.stderr else ""
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _commit_body(path: str, content: bytes) -> bytes:
    lines = [
        {"key": "header", "value": {"summary": f"add {path}", "description": ""}},
        {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


class Writers:
    """Threads writing entities, files and jobs; every acknowledged write is recorded."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.acked: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def _ack(self, kind: str, what: Any) -> None:
        with self._lock:
            self.acked.append((kind, what))

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            index = 0
            while not self._stop.is_set():
                index += 1
                try:
                    self._one(client, n, index)
                except httpx.HTTPError:
                    return  # the emulator is gone

    def _one(self, client: httpx.Client, n: int, index: int) -> None:
        name = f"w{n}-{index}"
        if client.post("/v1/namespaces", json={"id": name, "description": "x" * 200}).status_code == 201:
            self._ack("namespace", name)
        content = f"file {name}\n".encode() * 20
        committed = client.post(
            "/v1/hf/api/datasets/keep/pairs/commit/main",
            content=_commit_body(f"{name}.txt", content),
            headers={"Content-Type": "application/x-ndjson"},
        )
        if committed.status_code == 200:
            self._ack("file", (f"{name}.txt", content))
        job = client.post(
            "/v1/customization/jobs",
            json={"config": CONFIG, "dataset": "keep/pairs", "hyperparameters": HYPER, "name": name},
        )
        if job.status_code == 201:
            self._ack("job", job.json()["id"])


def _prepare(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        client.post("/v1/hf/api/repos/create", json={"name": "pairs", "organization": "keep", "type": "dataset"})
        for index in range(BULK):  # a state of some megabytes: saving all of it takes a while
            client.post("/v1/namespaces", json={"id": f"bulk-{index}", "description": "y" * 900_000}).raise_for_status()


def test_every_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    persist = tmp_path / "platform"
    with emulator_process(persist) as (process, url):
        _prepare(url)
        with Writers(url) as writers:
            while writers.count() < ACKS and process.poll() is None:
                threading.Event().wait(0.01)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        acked = list(writers.acked)

    with Emulator(EmulatorConfig(persist_dir=persist, clock="manual")) as emu:
        state = emu.state
        lost = []
        for kind, what in acked:
            if kind == "namespace" and what not in state.namespaces or kind == "job" and what not in state.jobs:
                lost.append((kind, what))
            elif kind == "file":
                path, content = what
                repo = state.repo("keep/pairs")
                if repo is None or path not in repo.files or state.file_bytes("keep/pairs", path) != content:
                    lost.append((kind, path))
        bulk = sum(1 for name in state.namespaces if name.startswith("bulk-"))

    assert len(acked) >= ACKS and {kind for kind, _ in acked} == {"namespace", "file", "job"}
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged writes lost: {lost[:5]}"
    assert bulk == BULK


def test_a_second_emulator_on_one_directory_is_refused(tmp_path: Path) -> None:
    persist = tmp_path / "platform"
    with emulator_process(persist) as (process, url):
        with pytest.raises(EmulatorStartError, match=rf"in use by another emulator \(pid {process.pid}\)"):
            Emulator(EmulatorConfig(persist_dir=persist)).start()
        assert httpx.post(f"{url}/v1/namespaces", json={"id": "first"}).status_code == 201
        os.kill(process.pid, signal.SIGKILL)  # the lock dies with its holder
        process.wait(timeout=30)
    with Emulator(EmulatorConfig(persist_dir=persist)) as emu:
        assert "first" in emu.state.namespaces
        with pytest.raises(EmulatorStartError, match="in use by another emulator"):
            Emulator(EmulatorConfig(persist_dir=persist)).start()
    with Emulator(EmulatorConfig(persist_dir=persist)) as emu:  # released by a clean stop
        assert "first" in emu.state.namespaces


def test_a_slow_state_write_blocks_neither_health_nor_other_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write is held in the middle of saving (as a large state or a slow disk would hold
    it): /health and reads are served meanwhile, and the write is not acknowledged until saved."""
    gate, entered = threading.Event(), threading.Event()
    for name in ("_persist_through", "save_if_dirty"):  # whichever saves the state
        if hasattr(EmulatorState, name):
            original = getattr(EmulatorState, name)

            def held(self: EmulatorState, *args: Any, _original: Any = original) -> Any:
                if self.persist_dir is not None and not gate.is_set():
                    entered.set()
                    gate.wait(30)
                return _original(self, *args)

            monkeypatch.setattr(EmulatorState, name, held)
    answers: list[httpx.Response] = []
    with Emulator(EmulatorConfig(persist_dir=tmp_path / "p", clock="manual")) as emu:
        writer = threading.Thread(
            target=lambda: answers.append(httpx.post(f"{emu.url}/v1/namespaces", json={"id": "held"}, timeout=30))
        )
        writer.start()
        try:
            assert entered.wait(10)
            health = httpx.get(f"{emu.url}/health", timeout=10)
            configs = httpx.get(f"{emu.url}/v1/customization/configs", timeout=10)
            acknowledged_early = list(answers)
        finally:
            gate.set()
            writer.join(timeout=30)
    assert health.status_code == 200 and configs.status_code == 200
    assert acknowledged_early == []  # not answered before it was saved
    assert [a.status_code for a in answers] == [201]
