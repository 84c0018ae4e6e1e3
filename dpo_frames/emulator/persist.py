"""The files of a persistent emulator: a snapshot, a journal, and a lock on the directory.

::

    PERSIST_DIR/
      emulator.lock     held (flock) by the one emulator using the directory; holds its pid
      state.json        the whole state at sequence number ``seq`` (written atomically)
      journal.jsonl     one line per durable batch of changes after it: {"seq", "changes": [[collection, key, value]]}
      blobs/            uploaded file bytes, by sha256

A write is acknowledged only once its journal line is written (one ``write`` call, so a
``kill -9`` leaves the line whole or a torn last line, which loading skips). Loading applies
the journal lines newer than the snapshot, in sequence order, then compacts: a fresh snapshot
and an empty journal. A second emulator on the same directory is refused
(:class:`~dpo_frames.errors.EmulatorStartError`) instead of corrupting the first one's files.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any

from dpo_frames._atomic import append_line, write_text
from dpo_frames.errors import EmulatorStartError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "emulator.lock"

Change = tuple[str, str, Any]
"""``(collection, key, value)``; ``value`` None removes the key."""


class DirLock:
    """An exclusive lock on a directory for the life of this object (released by :meth:`release`,
    or by the operating system when the process dies, ``kill -9`` included)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / LOCK_FILE
        # Opened in place, never replaced: the lock belongs to the inode.
        self._handle: IO[str] | None = self.path.open("a+", encoding="utf-8")
        if fcntl is None:  # pragma: no cover
            logger.warning("emulator: no file locking on this platform; do not share %s", root)
            return
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._handle.seek(0)
            owner = self._handle.read().strip() or "unknown"
            self._handle.close()
            self._handle = None
            raise EmulatorStartError(
                f"{root} is in use by another emulator (pid {owner}): stop it, or give this one another --persist-dir"
            ) from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(f"{os.getpid()}\n")
        self._handle.flush()

    def release(self) -> None:
        """Let another emulator use the directory."""
        if self._handle is not None:
            if fcntl is not None:
                fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


class Store:
    """Reads and writes the snapshot and the journal of one directory (see the module docstring).

    Not thread-safe by itself: :class:`~.state.EmulatorState` serialises the writers.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = DirLock(root)
        self.journal_bytes = 0
        self.snapshot_bytes = 0

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def journal_file(self) -> Path:
        return self.root / JOURNAL_FILE

    def load(self) -> tuple[dict[str, Any] | None, list[tuple[int, list[Change]]]]:
        """The snapshot (None when there is none) and the journal batches newer than it, in order."""
        snapshot = None
        if self.state_file.exists():
            snapshot = json.loads(self.state_file.read_text(encoding="utf-8"))
        since = int(snapshot.get("seq", 0)) if isinstance(snapshot, dict) else 0
        batches: list[tuple[int, list[Change]]] = []
        if self.journal_file.exists():
            with self.journal_file.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    try:
                        line = json.loads(raw)
                        seq, changes = int(line["seq"]), [tuple(change) for change in line["changes"]]
                    except (ValueError, KeyError, TypeError):
                        logger.warning("emulator: %s line %d is torn or unreadable; skipped", JOURNAL_FILE, number)
                        continue
                    if seq > since:
                        batches.append((seq, changes))
        batches.sort(key=lambda batch: batch[0])  # stable: a batch written twice keeps its order
        return snapshot, batches

    def write_snapshot(self, text: str) -> None:
        """Replace the snapshot (atomically), then empty the journal it covers."""
        write_text(self.state_file, text)
        write_text(self.journal_file, "")
        self.snapshot_bytes = len(text)
        self.journal_bytes = 0

    def append(self, line: str) -> None:
        """Append one batch line to the journal (one ``write`` call)."""
        append_line(self.journal_file, line)
        self.journal_bytes += len(line) + 1

    def wants_compaction(self) -> bool:
        """Whether the journal outgrew the snapshot enough to rewrite it."""
        return self.journal_bytes > max(8 * 1024 * 1024, 2 * self.snapshot_bytes)

    def close(self) -> None:
        self.lock.release()
