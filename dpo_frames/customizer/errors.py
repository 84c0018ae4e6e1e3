"""The client's error hierarchy.

::

    CustomizerError
    ├── LocalDatasetError         local dataset files missing or unreadable
    ├── RunConflictError          a run id already has a job trained on other data
    ├── TransportError            service unreachable (connection error / timeout) after retries
    ├── ApiError                  non-2xx answer (after retries, when retryable)
    │   ├── InvalidRequestError   400 / 422
    │   ├── AuthError             401 / 403
    │   ├── NotFoundError         404
    │   ├── ConflictError         409
    │   ├── RateLimitError        429
    │   └── ServerError           5xx
    ├── ResponseFormatError       a 2xx answer the client cannot understand
    ├── UploadError               the Data Store refused or lost an uploaded file
    ├── JobError                  a customization job did not complete
    │   ├── JobFailedError
    │   ├── JobCancelledError
    │   └── JobTimeoutError
    └── DeploymentError
        ├── DeploymentFailedError
        └── DeploymentTimeoutError

Messages name the service, the call and (for HTTP errors) the status and an excerpt of
the body. Known secrets are redacted from every excerpt before it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "ConflictError",
    "CustomizerError",
    "DeploymentError",
    "DeploymentFailedError",
    "DeploymentTimeoutError",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "LocalDatasetError",
    "NotFoundError",
    "RateLimitError",
    "ResponseFormatError",
    "RunConflictError",
    "ServerError",
    "TransportError",
    "UploadError",
    "redact",
]

BODY_EXCERPT_CHARS = 500
REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class CustomizerError(Exception):
    """Base of every error raised by :mod:`dpo_frames.customizer`."""

    def add_context(self, text: str) -> None:
        """Append a line of context (e.g. where local files are) to the message."""
        if self.args:
            self.args = (f"{self.args[0]}\n{text}", *self.args[1:])
        else:
            self.args = (text,)


class RunConflictError(CustomizerError):
    """A run id already has a job, trained on different data: reuse would be wrong."""


class LocalDatasetError(CustomizerError):
    """The local dataset files to upload are missing or unreadable."""


class TransportError(CustomizerError):
    """The service could not be reached (connection refused/reset, timeout), after retries."""

    def __init__(self, service: str, call: str, detail: str, attempts: int) -> None:
        self.service = service
        self.call = call
        self.detail = detail
        self.attempts = attempts
        super().__init__(f"{service} {call}: unreachable after {attempts} attempt(s): {detail}")


class ApiError(CustomizerError):
    """The service answered with a non-2xx status."""

    def __init__(
        self,
        service: str,
        call: str,
        status_code: int,
        body_excerpt: str,
        *,
        attempts: int = 1,
    ) -> None:
        self.service = service
        self.call = call
        self.status_code = status_code
        self.body_excerpt = body_excerpt
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{service} {call}: HTTP {status_code}{tries}: {body_excerpt or '<empty body>'}")

    @classmethod
    def for_status(
        cls, service: str, call: str, status_code: int, body_excerpt: str, *, attempts: int = 1
    ) -> ApiError:
        """The most specific subclass for ``status_code``."""
        kind: type[ApiError]
        if status_code in (400, 422):
            kind = InvalidRequestError
        elif status_code in (401, 403):
            kind = AuthError
        elif status_code == 404:
            kind = NotFoundError
        elif status_code == 409:
            kind = ConflictError
        elif status_code == 429:
            kind = RateLimitError
        elif status_code >= 500:
            kind = ServerError
        else:
            kind = ApiError
        return kind(service, call, status_code, body_excerpt, attempts=attempts)


class InvalidRequestError(ApiError):
    """400/422: the service rejected the request body or parameters."""


class AuthError(ApiError):
    """401/403: missing, wrong or insufficient credentials."""


class NotFoundError(ApiError):
    """404: the entity does not exist."""


class ConflictError(ApiError):
    """409: the entity exists (and, where the client checks, differs from the request)."""


class RateLimitError(ApiError):
    """429 answered on every attempt."""


class ServerError(ApiError):
    """5xx answered on every attempt."""


class ResponseFormatError(CustomizerError):
    """A 2xx answer whose body does not have the documented shape."""

    def __init__(self, service: str, call: str, detail: str) -> None:
        self.service = service
        self.call = call
        super().__init__(f"{service} {call}: unexpected answer: {detail}")


class UploadError(CustomizerError):
    """The Data Store refused a file (e.g. an LFS batch object error) or lost it."""


class JobError(CustomizerError):
    """A customization job ended without completing, or could not be followed."""

    def __init__(self, message: str, *, job_id: str, status: Any = None) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(message)


class JobFailedError(JobError):
    """The job ended in ``failed`` (or its status could not be read N times in a row)."""


class JobCancelledError(JobError):
    """The job ended in ``cancelled``."""


class JobTimeoutError(JobError):
    """The job did not end within the allowed time (it may still be running)."""


class DeploymentError(CustomizerError):
    """A model deployment did not become ready."""

    def __init__(self, message: str, *, namespace: str, name: str, status: Any = None) -> None:
        self.namespace = namespace
        self.name = name
        self.status = status
        super().__init__(message)


class DeploymentFailedError(DeploymentError):
    """The deployment ended in ``failed``/``error``/``cancelled``."""


class DeploymentTimeoutError(DeploymentError):
    """The deployment did not become ready within the allowed time."""
