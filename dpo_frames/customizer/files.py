"""Streaming file helpers for uploads: one-pass digests and bounded-memory body streams.

Nothing here reads a whole file into memory: digests hash fixed-size chunks (in a worker
thread, so the event loop keeps running), and bodies are async generators of chunks that
httpx sends as they come.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileDigest", "digest_file", "stream_file", "stream_base64_ndjson_line", "SAMPLE_BYTES"]

SAMPLE_BYTES = 512  # what the Hub's preupload endpoint wants to see of each file


@dataclass(frozen=True)
class FileDigest:
    """Size and hashes of a local file, computed in one streaming pass."""

    path: Path
    size: int
    sha256: str
    git_sha1: str  # the git blob id: sha1(b"blob {size}\0" + content)
    sample: bytes  # the first 512 bytes


def _digest_sync(path: Path, chunk_bytes: int) -> FileDigest:
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(f"blob {size}\0".encode())  # a git blob id, not security
    sample = b""
    read = 0
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            if len(sample) < SAMPLE_BYTES:
                sample += chunk[: SAMPLE_BYTES - len(sample)]
            sha256.update(chunk)
            sha1.update(chunk)
            read += len(chunk)
    if read != size:
        raise OSError(f"{path} changed while being hashed ({size} bytes expected, {read} read)")
    return FileDigest(path=path, size=size, sha256=sha256.hexdigest(), git_sha1=sha1.hexdigest(), sample=sample)


async def digest_file(path: Path, *, chunk_bytes: int = 1024 * 1024) -> FileDigest:
    """Hash ``path`` (sha256 and git blob sha1) without loading it, off the event loop."""
    return await asyncio.to_thread(_digest_sync, Path(path), chunk_bytes)


async def stream_file(
    path: Path, *, chunk_bytes: int = 1024 * 1024, expect: FileDigest | None = None
) -> AsyncIterator[bytes]:
    """Yield the bytes of ``path`` chunk by chunk (reads run in a worker thread).

    With ``expect``, the bytes are re-hashed on the way and an :class:`OSError` is raised
    at the end if the file no longer matches the digest (it changed after hashing).
    """
    sha = hashlib.sha256() if expect is not None else None
    read = 0
    handle = await asyncio.to_thread(Path(path).open, "rb")
    try:
        while True:
            chunk = await asyncio.to_thread(handle.read, chunk_bytes)
            if not chunk:
                break
            if sha is not None:
                sha.update(chunk)
            read += len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
    if expect is not None and sha is not None and (read != expect.size or sha.hexdigest() != expect.sha256):
        raise OSError(f"{path} changed after it was hashed; not uploading a mismatching file")


async def stream_base64_ndjson_line(
    path: Path, path_in_repo: str, *, chunk_bytes: int = 1024 * 1024
) -> AsyncIterator[bytes]:
    """One NDJSON commit line ``{"key": "file", "value": {"content": <base64>, "path", "encoding"}}``
    with the base64 content streamed (chunks are multiples of 3 bytes, so the pieces join
    into one valid base64 string)."""
    step = max(3, chunk_bytes - chunk_bytes % 3)
    yield b'{"key": "file", "value": {"content": "'
    pending = b""
    async for chunk in stream_file(path, chunk_bytes=step):
        pending += chunk
        usable = len(pending) - len(pending) % 3
        if usable:
            yield base64.b64encode(pending[:usable])
            pending = pending[usable:]
    if pending:
        yield base64.b64encode(pending)
    tail = {"path": path_in_repo, "encoding": "base64"}
    yield b'", ' + json.dumps(tail)[1:].encode() + b"}\n"
