"""The one way dpo_frames writes files and directories: a temporary sibling, then a rename.

Readers never see a half-written file: :func:`atomic_path` yields a temporary path beside
the target and renames it into place only when the block succeeds (removing it when the
block fails); :func:`atomic_dir` does the same for a whole directory. Temporary names
carry the writer's process id (:func:`dpo_frames.layout.temp_name`), so
:func:`clean_leftovers` can remove what a killed writer left without touching the
temporary files of a writer still running.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from dpo_frames.layout import temp_name, temp_owner

__all__ = ["append_line", "atomic_dir", "atomic_path", "clean_leftovers", "write_bytes", "write_json", "write_text"]


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path to write ``target`` through; renamed into place when the block succeeds.

    The parent directory is created. On failure the temporary file is removed and
    ``target`` is left as it was.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a" / "b.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text(), [p.name for p in target.parent.iterdir()]
        ('done', ['b.txt'])
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(temp_name(path.name))
    try:
        yield tmp
        tmp.replace(path)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; returns the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; returns the path."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], value: Any, *, indent: int | None = 2) -> Path:
    """Write ``value`` as JSON (non-JSON values through ``str``) to ``target`` atomically."""
    return write_text(target, json.dumps(value, indent=indent, default=str) + "\n")


def append_line(target: str | os.PathLike[str], line: str) -> Path:
    """Append one line to a log file (JSONL progress files) in a single ``write`` call.

    An append is not a replacement: a reader sees the file with or without the line, and
    a crash can at worst leave the last line incomplete (which JSONL readers skip).
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


@contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it to ``target`` only on success.

    Yields the temporary directory. When the block raises, it is removed and ``target`` is
    left as it was; otherwise ``target`` (if any) is replaced as a whole, so readers never
    see a mix of old and new files. The caller decides beforehand whether an existing
    ``target`` may be replaced (:func:`dpo_frames.rundir.check_replaceable`).
    """
    dest = Path(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(temp_name(dest.name))
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = dest.with_name(temp_name(dest.name))
    if dest.exists():
        dest.rename(old)
    try:
        tmp.rename(dest)
    except BaseException:
        if old.exists():
            old.rename(dest)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM  # exists, owned by someone else
    return True


def clean_leftovers(parent: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and directories in ``parent`` whose writer is gone.

    Only names made by :func:`dpo_frames.layout.temp_name` are considered, and only those
    whose process is no longer running on this machine (a writer killed with SIGKILL
    leaves them). Returns what was removed.
    """
    directory = Path(parent)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        pid = temp_owner(entry.name)
        if pid is None or _alive(pid):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed
