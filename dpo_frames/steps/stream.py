"""The items of a JSON document that is one array (NAT's workflow_output.json), one at a time.

``json.load`` of a workflow_output.json holds the whole document as Python objects (several
times the file's size); reading its items one by one holds one item (one example's steps).
The items, the errors and their line and column are those ``json.loads`` of the whole text
gives, only found as the reading goes.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

from dpo_frames.errors import SourceError

__all__ = ["SURROGATE_ESCAPE", "array_items", "json_too_deep", "starts_an_array"]

_CHUNK_CHARS = 8 << 20
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A surrogate escape: the text's strings may hold half a character."""
_AFTER_A_VALUE = frozenset(",] \t\n\r")


def starts_an_array(path: Path) -> bool:
    """Whether the JSON document of ``path`` is an array (its first character that is not white space is ``[``)."""
    with path.open("rb") as f:
        head = f.read(4096).decode("utf-8-sig", errors="replace").lstrip(" \t\n\r")
    return head.startswith("[")


class _Text:
    """The file's text, decoded a chunk at a time; what was read before ``start`` is dropped (its lines counted)."""

    def __init__(self, path: Path, f: Any) -> None:
        self.path, self._f = path, f
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._bytes_read = 0
        self.buf, self.eof = "", False
        self._lines_before, self._column_before = 1, 1

    def more(self) -> bool:
        """Read the next chunk; False at the end of the file."""
        if self.eof:
            return False
        chunk = self._f.read(_CHUNK_CHARS)
        try:
            self.buf += self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            at = self._bytes_read + exc.start
            raise SourceError(f"{self.path} is not UTF-8 text: can't decode byte {at} ({exc.reason})") from None
        self._bytes_read += len(chunk)
        self.eof = not chunk
        return True

    def drop_before(self, pos: int) -> int:
        """Forget the text before ``pos``; returns the new position of what was at ``pos`` (0)."""
        newlines = self.buf.count("\n", 0, pos)
        if newlines:
            self._lines_before += newlines
            self._column_before = pos - self.buf.rfind("\n", 0, pos)
        else:
            self._column_before += pos
        self.buf = self.buf[pos:]
        return 0

    def skip_space(self, pos: int) -> int:
        """The position of the next character that is not white space (reading on as needed); ``len(buf)`` at the end."""
        while True:
            pos = _SPACE.match(self.buf, pos).end()  # type: ignore[union-attr]  # the pattern matches the empty text
            if pos < len(self.buf) or not self.more():
                return pos

    def error(self, message: str, pos: int) -> SourceError:
        newlines = self.buf.count("\n", 0, pos)
        line = self._lines_before + newlines
        column = pos - self.buf.rfind("\n", 0, pos) if newlines else self._column_before + pos
        return SourceError(f"{self.path} is not valid JSON ({message} at line {line}, column {column})")


def array_items(path: Path) -> Generator[tuple[Any, bool], None, None]:
    """``(item, escapes)`` for each item of the JSON array of ``path``, in order; ``escapes``: whether the
    item's text holds a surrogate escape (its strings may hold half characters). The document must be an
    array (:func:`starts_an_array`); an error in it (or text after it) is a :class:`~dpo_frames.errors.SourceError`
    saying where, as ``json.loads`` would, raised when the reading gets there."""
    with path.open("rb") as f:
        text = _Text(path, f)
        pos = text.skip_space(0)
        if text.buf[pos : pos + 1] != "[":
            raise text.error("Expecting value", pos)
        pos = text.skip_space(pos + 1)
        if text.buf[pos : pos + 1] == "]":
            yield from ()
        else:
            while True:
                item, end = _decode(text, pos)
                yield item, SURROGATE_ESCAPE.search(text.buf, pos, end) is not None
                pos = text.skip_space(end)
                if pos > _CHUNK_CHARS:
                    pos = text.drop_before(pos)
                delimiter = text.buf[pos : pos + 1]
                if delimiter == "]":
                    break
                if delimiter != ",":
                    raise text.error("Expecting ',' delimiter", pos)
                pos = text.skip_space(pos + 1)
        pos = text.skip_space(pos + 1)
        if pos < len(text.buf):
            raise text.error("Extra data", pos)


def json_too_deep(path: Path, exc: ValueError | RecursionError) -> SourceError:
    """The error for JSON that Python's reader refuses though it is valid (an integer beyond the digit
    limit, nesting deeper than the parser goes)."""
    what = "nesting deeper than the JSON reader goes" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
    return SourceError(f"{path} holds JSON no reader takes whole ({what}); write it one step a line (JSONL)")


def _decode(text: _Text, pos: int) -> tuple[Any, int]:
    """The JSON value at ``pos`` and where it ends, reading on until it is whole."""
    while True:
        try:
            item, end = _DECODER.raw_decode(text.buf, pos)
        except json.JSONDecodeError as exc:
            if text.more():  # maybe only cut by the end of the chunk: try again with more text
                continue
            raise text.error(exc.msg, exc.pos) from None
        except (ValueError, RecursionError) as exc:  # the digit limit, or nesting deeper than the parser goes
            raise json_too_deep(text.path, exc) from None
        # A number cut by the end of the chunk parses as a shorter one ("2.5" of "2.5e+16"): a value is whole
        # once a delimiter or white space follows it (or the file ends).
        if text.buf[end : end + 1] in _AFTER_A_VALUE or not text.more():
            return item, end
