"""Everything the emulated platform knows, in memory, optionally persisted to a directory.

Entities are kept as the JSON documents the API returns, so persistence is a JSON dump and
handlers hardly translate anything. The event loop of the server is the only writer; tests
read the state from another thread, so mutations happen under :attr:`EmulatorState.lock`.

Persistence (:mod:`.persist`): a handler notes what it changed (:meth:`EmulatorState.touch`,
or :meth:`EmulatorState.mark_dirty` for "anything may have changed"); before an answer leaves,
:meth:`EmulatorState.flush` writes the changed documents as one journal line, in a worker
thread (the event loop keeps serving ``/health`` while a write is slow), and the answer waits
for it. Writes are O(change), not O(state): a large state is rewritten only on compaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dpo_frames.errors import EmulatorStateError

from .blobs import BlobStore
from .clock import Clock, WallClock
from .persist import STATE_FILE as STATE_FILE
from .persist import Change, Store

_FORMAT_VERSION = 1
_CHANGES_OF_REQUEST: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "dpo_frames_emulator_changes", default=None
)
"""The sequence number of the last change the request being served made (see :meth:`EmulatorState.serving`)."""
_DOCUMENTS = (
    "namespaces",
    "datastore_namespaces",
    "datasets",
    "models",
    "jobs",
    "deployment_configs",
    "deployments",
)
"""Collections kept as the API's JSON documents, journalled as they are."""


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it (never its headers: they may carry a token)."""

    method: str
    path: str
    query: str
    status: int | None
    """The status answered; None when the connection was dropped."""
    fault: str | None
    """The injected fault (``503``, ``429``, ``drop``, ``slow``), ``401`` for a refused token, or None."""
    at: float


@dataclass
class RepoFile:
    """A file in a Hugging Face style repository; its bytes are the blob ``sha256``."""

    path: str
    size: int
    sha256: str
    git_oid: str
    """The git blob id: of the content for a regular file, of the LFS pointer for an LFS file."""
    lfs: bool

    def tree_entry(self) -> dict[str, Any]:
        """The entry ``GET .../tree/{rev}`` lists for this file."""
        entry: dict[str, Any] = {"type": "file", "oid": self.git_oid, "size": self.size, "path": self.path}
        if self.lfs:
            entry["lfs"] = {
                "oid": self.sha256,
                "size": self.size,
                "pointerSize": len(lfs_pointer(self.sha256, self.size)),
            }
        return entry


@dataclass
class Repo:
    """A Hugging Face style repository of the Data Store (one branch, ``main``)."""

    repo_type: str
    repo_id: str
    created_at: str
    files: dict[str, RepoFile] = field(default_factory=dict)
    commits: list[dict[str, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``datasets/ns/name``: how state indexes repositories."""
        return repo_key(self.repo_type, self.repo_id)

    @property
    def head(self) -> str:
        """The id of the last commit."""
        return self.commits[-1]["oid"]

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "created_at": self.created_at,
            "files": [asdict(item) for item in self.files.values()],
            "commits": self.commits,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repo:
        files = {item["path"]: RepoFile(**item) for item in data["files"]}
        return cls(data["repo_type"], data["repo_id"], data["created_at"], files, data["commits"])


@dataclass
class JobRun:
    """Bookkeeping of a simulated training run (not part of the API answers)."""

    ticks_done: int = 0
    step: int = 0
    faults_apply: bool = False
    epochs: int = 1
    origin: float = 0.0
    """Clock time of tick 0 (:attr:`EmulatorState.clock`); rebuilt from ``ticks_done`` after a restart."""


@dataclass
class DeploymentRun:
    """Bookkeeping of a simulated model deployment."""

    elapsed_before: float = 0.0
    """Seconds of life before the last restart."""
    origin: float = 0.0
    """Clock time of the start (or of the last restart)."""

    def elapsed(self, now: float) -> float:
        return self.elapsed_before + (now - self.origin)


def _run_json(run: JobRun) -> dict[str, Any]:
    return {"ticks_done": run.ticks_done, "step": run.step, "faults_apply": run.faults_apply, "epochs": run.epochs}


def repo_key(repo_type: str, repo_id: str) -> str:
    """``datasets/ns/name`` for ``("dataset", "ns/name")``."""
    return f"{repo_type}s/{repo_id}"


def git_blob_id(content: bytes) -> str:
    """The git object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file standing for an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def hf_time() -> str:
    """The current UTC time as the Hub writes it (``2025-01-31T12:00:00.000Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def commit_oid(parent: str, summary: str, changes: list[str]) -> str:
    """A fresh git-like commit id."""
    seed = json.dumps([parent, summary, changes, hf_time(), time.perf_counter_ns()]).encode()
    return hashlib.sha1(seed, usedforsecurity=False).hexdigest()


def new_repo(repo_type: str, repo_id: str) -> Repo:
    """An empty repository with its initial commit."""
    repo = Repo(repo_type, repo_id, hf_time())
    repo.commits.append(
        {
            "oid": commit_oid("", "initial commit", []),
            "summary": "initial commit",
            "description": "",
            "date": repo.created_at,
        }
    )
    return repo


class EmulatorState:
    """The emulated platform's state; see the module docstring.

    Attributes hold the API documents keyed the way the API addresses them: ``namespaces`` by
    id, ``datasets``/``models``/``deployment_configs``/``deployments`` by ``"ns/name"``,
    ``jobs`` by job id, ``repos`` by ``"datasets/ns/name"``. ``requests`` is the request log.
    """

    def __init__(
        self, persist_dir: Path | None = None, request_log_limit: int = 10_000, clock: Clock | None = None
    ) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock or WallClock()
        """Where jobs and deployments read the time (see :mod:`~dpo_frames.emulator.clock`)."""
        self.persist_dir = persist_dir
        self._remove_scratch: weakref.finalize | None = None
        self._store: Store | None = None
        if persist_dir is None:
            scratch = tempfile.mkdtemp(prefix="dpo-frames-emulator-")
            self._remove_scratch = weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
            blob_root = Path(scratch) / "blobs"
        else:
            self._store = Store(persist_dir)  # refuses a directory another emulator holds
            blob_root = persist_dir / "blobs"
        self.blobs = BlobStore(blob_root)
        self.namespaces: dict[str, dict[str, Any]] = {}
        self.datastore_namespaces: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.repos: dict[str, Repo] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_runs: dict[str, JobRun] = {}
        self.deployment_configs: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.deployment_runs: dict[str, DeploymentRun] = {}
        self.requests: deque[RequestRecord] = deque(maxlen=request_log_limit)
        self.lfs_tickets: dict[str, tuple[str, str, int, float]] = {}
        """Upload ticket -> (repo key, oid, size, expiry on :attr:`clock`): the bearer-less PUT of an LFS object."""
        self.jobs_created = 0
        self.fault_injector: Any = None
        """The :class:`~.faults.FaultInjector` of the server in front (its ``injected`` count), once serving."""
        self._io_lock = threading.Lock()
        self._seq = 0
        self._saved_seq = 0
        self._touched: dict[tuple[str, str], None] = {}
        self._full = False
        if self._store is not None:
            try:
                self._load()
            except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a state file it did not write
                self._store.close()
                raise EmulatorStateError(
                    f"{self._store.state_file} is corrupt or not an emulator state ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); move it away to start afresh, or point --persist-dir elsewhere"
                ) from None
            except BaseException:
                self._store.close()
                raise

    # --- change tracking and persistence -----------------------------------------------------
    def touch(self, collection: str, key: str) -> None:
        """Note that ``collection[key]`` changed (or was removed): it is journalled at the next flush."""
        with self.lock:
            self._touched[(collection, key)] = None
            self._noted()

    def mark_dirty(self) -> None:
        """Note that anything may have changed: the next flush writes a whole snapshot."""
        with self.lock:
            self._full = True
            self._noted()

    def _noted(self) -> None:
        self._seq += 1
        mine = _CHANGES_OF_REQUEST.get()
        if mine is not None:
            mine[0] = self._seq

    @staticmethod
    @contextlib.contextmanager
    def following_changes() -> Iterator[list[int]]:
        """Follow the changes of the request served in this block: the holder's item is the
        sequence number its answer must wait for (0: it changed nothing, it waits for nobody)."""
        holder = [0]
        token = _CHANGES_OF_REQUEST.set(holder)
        try:
            yield holder
        finally:
            _CHANGES_OF_REQUEST.reset(token)

    @property
    def durable(self) -> bool:
        """Whether every change noted so far is on disk (always True without a ``persist_dir``)."""
        return self._store is None or self._saved_seq >= self._seq

    async def flush(self, through: int | None = None) -> None:
        """Make the changes noted so far (up to ``through``, default all) durable, writing in a
        worker thread, so the event loop keeps serving (no-op when not persisted)."""
        target = self._seq if through is None else through
        if self._store is None or self._saved_seq >= target:
            return
        await asyncio.to_thread(self._persist_through, target)

    def save_if_dirty(self) -> None:
        """Make every change noted so far durable, in this thread."""
        if self._store is not None:
            self._persist_through(self._seq)

    def compact(self) -> None:
        """Write a whole snapshot and empty the journal."""
        if self._store is None:
            return
        with self._io_lock:
            with self.lock:
                upto = self._seq
                text = self._snapshot_text(upto)
                self._full = False
                self._touched.clear()
            self._store.write_snapshot(text)
            self._saved_seq = max(self._saved_seq, upto)

    def _persist_through(self, target: int) -> None:
        """Write what is pending, unless another writer already covered ``target`` (group commit)."""
        assert self._store is not None
        with self._io_lock:
            if self._saved_seq >= target:
                return
            with self.lock:
                upto = self._seq
                if self._full or self._store.wants_compaction():
                    kind, text = "snapshot", self._snapshot_text(upto)
                elif self._touched:
                    changes = [[c, k, self._value(c, k)] for c, k in self._touched]
                    kind, text = "journal", json.dumps({"seq": upto, "changes": changes}, separators=(",", ":"))
                else:
                    kind, text = "none", ""
                self._full = False
                self._touched.clear()
            if kind == "snapshot":
                self._store.write_snapshot(text)
            elif kind == "journal":
                self._store.append(text)
            self._saved_seq = max(self._saved_seq, upto)

    def _snapshot_text(self, seq: int) -> str:
        return json.dumps({**self._to_json(), "seq": seq}, separators=(",", ":"))

    def _value(self, collection: str, key: str) -> Any:
        """The journalled form of ``collection[key]`` (None: removed)."""
        if collection in _DOCUMENTS:
            return getattr(self, collection).get(key)
        if collection == "repos":
            repo = self.repos.get(key)
            return repo.to_json() if repo is not None else None
        if collection == "job_runs":
            run = self.job_runs.get(key)
            return None if run is None else _run_json(run)
        if collection == "meta":
            return {"jobs_created": self.jobs_created}[key]
        raise ValueError(f"unknown collection {collection!r}")

    def _apply_change(self, change: Change) -> None:
        collection, key, value = change
        if collection in _DOCUMENTS:
            documents = getattr(self, collection)
            if value is None:
                documents.pop(key, None)
            else:
                documents[key] = value
        elif collection == "repos":
            if value is None:
                self.repos.pop(key, None)
            else:
                self.repos[key] = Repo.from_json(value)
        elif collection == "job_runs":
            if value is None:
                self.job_runs.pop(key, None)
            else:
                self.job_runs[key] = JobRun(**value)
        elif collection == "meta" and key == "jobs_created":
            self.jobs_created = int(value)
        else:
            raise ValueError(f"unknown journal change {collection!r}/{key!r}")

    def _to_json(self) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "version": _FORMAT_VERSION,
            "namespaces": self.namespaces,
            "datastore_namespaces": self.datastore_namespaces,
            "datasets": self.datasets,
            "models": self.models,
            "repos": [repo.to_json() for repo in self.repos.values()],
            "jobs": self.jobs,
            "job_runs": {key: _run_json(run) for key, run in self.job_runs.items()},
            "deployment_configs": self.deployment_configs,
            "deployments": self.deployments,
            "deployment_runs": {key: run.elapsed(now) for key, run in self.deployment_runs.items()},
            "jobs_created": self.jobs_created,
        }

    def _load(self) -> None:
        assert self._store is not None
        data, batches = self._store.load()
        if data is not None:
            self._load_snapshot(data)
        for seq, changes in batches:
            for change in changes:
                self._apply_change(change)
            self._seq = max(self._seq, seq)
        self._saved_seq = self._seq
        if data is not None or batches:
            self.compact()  # a fresh snapshot, an empty journal

    def _load_snapshot(self, data: dict[str, Any]) -> None:
        assert self._store is not None
        path = self._store.state_file
        if data.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported emulator state version {data.get('version')!r}")
        self.namespaces = data["namespaces"]
        self.datastore_namespaces = data["datastore_namespaces"]
        self.datasets = data["datasets"]
        self.models = data["models"]
        self.repos = {repo.key: repo for repo in map(Repo.from_json, data["repos"])}
        self.jobs = data["jobs"]
        self.job_runs = {key: JobRun(**run) for key, run in data["job_runs"].items()}
        self.deployment_configs = data["deployment_configs"]
        self.deployments = data["deployments"]
        now = self.clock.now()
        self.deployment_runs = {
            key: DeploymentRun(elapsed_before=elapsed, origin=now) for key, elapsed in data["deployment_runs"].items()
        }
        self.jobs_created = data["jobs_created"]
        self._seq = int(data.get("seq", 0))

    def rebase_clock(self, tick_seconds: float) -> None:
        """Make every job resume from its last tick, as if the downtime never happened."""
        now = self.clock.now()
        for run in self.job_runs.values():
            run.origin = now - run.ticks_done * tick_seconds

    def close(self) -> None:
        """Save and release the directory of a persistent state; remove the scratch directory of another."""
        if self._store is not None:
            try:
                self.compact()
            finally:
                self._store.close()
        if self._remove_scratch is not None:
            self._remove_scratch()

    # --- request log -----------------------------------------------------------------------
    def log_request(self, record: RequestRecord) -> None:
        """Append to the request log."""
        self.requests.append(record)

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RequestRecord]:
        """Logged requests whose path starts with ``path_prefix`` (and with this method)."""
        with self.lock:
            return [
                record
                for record in list(self.requests)
                if record.path.startswith(path_prefix) and (method is None or record.method == method)
            ]

    # --- direct set-up, for tests ----------------------------------------------------------
    def put_file(self, repo_id: str, path: str, data: bytes, repo_type: str = "dataset") -> RepoFile:
        """Commit ``data`` at ``path`` of repository ``ns/name`` (created if missing), bypassing HTTP."""
        sha256 = self.blobs.put_bytes(data)
        item = RepoFile(path, len(data), sha256, git_blob_id(data), lfs=False)
        with self.lock:
            repo = self.repos.setdefault(repo_key(repo_type, repo_id), new_repo(repo_type, repo_id))
            repo.files[path] = item
            oid = commit_oid(repo.head, f"Upload {path}", [path])
            repo.commits.append({"oid": oid, "summary": f"Upload {path}", "description": "", "date": hf_time()})
            self.touch("repos", repo.key)
        return item

    def register_dataset(self, namespace: str, name: str, files_url: str | None = None) -> dict[str, Any]:
        """Register dataset ``namespace/name`` in the Entity Store, bypassing HTTP."""
        stamp = datetime.now(UTC).isoformat()
        document = {
            "id": f"dataset-{hashlib.sha1(f'{namespace}/{name}'.encode(), usedforsecurity=False).hexdigest()[:22]}",
            "name": name,
            "namespace": namespace,
            "files_url": files_url or f"hf://datasets/{namespace}/{name}",
            "created_at": stamp,
            "updated_at": stamp,
            "schema_version": "1.0",
        }
        with self.lock:
            self.datasets[f"{namespace}/{name}"] = document
            self.touch("datasets", f"{namespace}/{name}")
        return document

    # --- reading helpers for tests -----------------------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo | None:
        """The repository ``ns/name`` of this type, if it exists."""
        return self.repos.get(repo_key(repo_type, repo_id))

    def file_bytes(self, repo_id: str, path: str, repo_type: str = "dataset") -> bytes:
        """The content of a repository file (small files; for tests)."""
        repo = self.repo(repo_id, repo_type)
        if repo is None or path not in repo.files:
            raise KeyError(f"{repo_type}s/{repo_id}: no file {path!r}")
        return self.blobs.read_bytes(repo.files[path].sha256)
