"""Content-addressed storage of uploaded file bytes on disk (never whole files in memory)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dpo_frames.layout import temp_name

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobMismatch(ValueError):
    """Uploaded bytes do not match the announced sha256 or size."""


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a lowercase hex sha256 digest."""
    return bool(_SHA256.match(text))


class BlobWriter:
    """Receives bytes chunk by chunk into a temporary file, hashing as it goes."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        self._tmp = store.root / "tmp" / temp_name("blob")  # its name (the digest) is known at the end
        self._file: BinaryIO = self._tmp.open("wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``."""
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self, expected_sha256: str | None = None, expected_size: int | None = None) -> str:
        """Close, check against the announced digest and size, store; return the sha256."""
        self._file.close()
        digest = self._hash.hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            self.abort()
            raise BlobMismatch(f"content sha256 is {digest}, announced {expected_sha256}")
        if expected_size is not None and self.size != expected_size:
            self.abort()
            raise BlobMismatch(f"content is {self.size} bytes, announced {expected_size}")
        os.replace(self._tmp, self._store.path(digest))
        return digest

    def abort(self) -> None:
        """Drop what was written."""
        if not self._file.closed:
            self._file.close()
        self._tmp.unlink(missing_ok=True)


class BlobStore:
    """Files named by the sha256 of their content under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this digest lives (it may not exist)."""
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256

    def has(self, sha256: str, size: int | None = None) -> bool:
        """Whether the blob exists (with this size, when given)."""
        if not is_sha256(sha256):
            return False
        path = self.root / sha256
        return path.is_file() and (size is None or path.stat().st_size == size)

    def writer(self) -> BlobWriter:
        """Start writing a new blob incrementally."""
        return BlobWriter(self)

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its sha256."""
        writer = self.writer()
        writer.write(data)
        return writer.finish()

    def read_bytes(self, sha256: str) -> bytes:
        """The whole blob (for small files only)."""
        return self.path(sha256).read_bytes()

    def iter_lines(self, sha256: str) -> Iterator[bytes]:
        """The blob's lines, read lazily."""
        with self.path(sha256).open("rb") as handle:
            yield from handle
