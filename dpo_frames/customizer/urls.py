"""What the client puts in a URL, where it sends credentials, and what of a URL it may log.

* :func:`segment` validates an id (a namespace, a name, a job id) and quotes it as one path
  segment, so ``../../v1/namespaces`` can never become another path on the server;
  :func:`repo_path` does the same for a file path inside a dataset repository.
* :func:`same_origin` decides whether a URL is on a configured host (scheme, host and port):
  only those are sent the bearer token, never a host an answer names (a ``Link: rel=next``,
  an LFS ``verify`` or ``upload`` href).
* :func:`redact_query` removes query strings (pre-signed URL signatures, upload tickets) from
  text; :class:`QueryRedactingFilter` does it to every record of the ``httpx`` logger, whose
  INFO lines show each request URL in full.

Example:
    >>> segment("cust-7Xk2", "job id")
    'cust-7Xk2'
    >>> try:
    ...     segment("../../v1/namespaces", "job id")
    ... except ValueError as exc:
    ...     print(str(exc).split(":")[0])
    invalid job id '../../v1/namespaces'
    >>> repo_path("training/training_file.jsonl")
    'training/training_file.jsonl'
    >>> redact_query("PUT http://blobs.example/o/1?X-Amz-Signature=abc done")
    'PUT http://blobs.example/o/1?*** done'
    >>> same_origin("http://h:80/a", "http://H/b"), same_origin("http://h/a", "http://evil/a")
    (True, False)
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import httpx

from dpo_frames.errors import ConfigError

__all__ = ["QueryRedactingFilter", "redact_query", "repo_path", "same_origin", "segment", "validate_id"]

MAX_ID_CHARS = 255
MAX_REPO_PATH_CHARS = 1024
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+\-]*")
_ID_RULE = f"1-{MAX_ID_CHARS} letters, digits and . _ - @ +, starting with a letter, digit or _"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A URL (or an absolute path) followed by a query string: everything after the '?' goes.
_QUERY = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.\-]*://|/)[^\s?#\"'<>]*)\?[^\s\"'<>]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def validate_id(value: object, what: str) -> str:
    """``value`` if it is a valid platform id or name, else :class:`ConfigError` saying why."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"invalid {what} {value!r}: expected a non-empty string ({_ID_RULE})")
    if len(value) > MAX_ID_CHARS or not _ID.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise ConfigError(f"invalid {what} {shown!r}: {what}s are {_ID_RULE}")
    return value


def segment(value: object, what: str) -> str:
    """``value`` validated (:func:`validate_id`) and quoted as one URL path segment."""
    return quote(validate_id(value, what), safe="")


def repo_path(path: object) -> str:
    """A file path inside a repository, validated and quoted (``/`` kept between its parts).

    Refused: empty, absolute, ``.``/``..`` or empty parts, backslashes, control characters
    (NUL included), more than 1024 characters.
    """
    if not isinstance(path, str) or not path:
        raise ConfigError(f"invalid repository path {path!r}: expected a non-empty relative path")
    parts = path.split("/")
    problem = None
    if len(path) > MAX_REPO_PATH_CHARS:
        problem = f"longer than {MAX_REPO_PATH_CHARS} characters"
    elif "\\" in path:
        problem = "backslashes are not path separators here"
    elif _CONTROL.search(path):
        problem = "control characters are not allowed"
    elif any(part in ("", ".", "..") for part in parts):
        problem = "empty, '.' and '..' parts are not allowed (nor a leading '/')"
    if problem:
        raise ConfigError(f"invalid repository path {path[:80]!r}: {problem}")
    return quote(path, safe="/")


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS.get(scheme)


def same_origin(url: str | httpx.URL, base: str | httpx.URL) -> bool:
    """Whether ``url`` is on the host of ``base`` (same scheme, host and port)."""
    try:
        return _origin(url) == _origin(base)
    except httpx.InvalidURL:
        return False


def redact_query(text: str) -> str:
    """``text`` with the query string of every URL (or absolute path) in it replaced by ``***``."""
    return _QUERY.sub(r"\1?***", text) if "?" in text else text


def _redacted_arg(arg: Any) -> Any:
    if isinstance(arg, httpx.URL):
        return redact_query(str(arg))
    if isinstance(arg, str):
        return redact_query(arg)
    return arg


class QueryRedactingFilter(logging.Filter):
    """Rewrites a log record so that no query string of a URL reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted_arg(value) for key, value in record.args.items()}
        return True


def install_log_redaction(*names: str) -> None:
    """Put a :class:`QueryRedactingFilter` on these loggers (once each)."""
    for name in names:
        target = logging.getLogger(name)
        if not any(isinstance(f, QueryRedactingFilter) for f in target.filters):
            target.addFilter(QueryRedactingFilter())
