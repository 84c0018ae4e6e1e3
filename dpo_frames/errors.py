"""Every error dpo_frames raises on purpose: one small tree under :class:`DpoFramesError`.

Each class also derives from the built-in exception a caller would catch for that kind of
failure (``ValueError`` for bad input or settings, ``FileNotFoundError`` for a missing local
file, ``TimeoutError``...), so ``except ValueError`` keeps working where it always did.
Network failures of the client are not ``OSError``s: an ``except OSError`` around local file
work never swallows a refused upload::

    DpoFramesError
    ├── SourceError (ValueError)              a steps or candidates source cannot be read
    ├── SchemaError (ValueError)              a frame lacks the columns or dtypes of its contract
    ├── ConfigError (ValueError)              an invalid setting or combination of settings
    ├── JoinTooLargeError (ConfigError)       a self-join that cannot fit; the way out is a setting
    ├── PromptContextError (ConfigError)      a plain export would drop messages of multi-message prompts
    ├── FrameNotFoundError (FileNotFoundError)  no such frame file
    ├── RunDirError (ValueError)              not a directory dpo_frames wrote, or its record is unreadable
    │   └── LegacyRunDirError                 written by 0.1.0: readable, but `dpo-frames upgrade` it to write into it
    ├── OutputExistsError (FileExistsError)   an output is in the way and may not be replaced
    ├── OutputWriteError (OSError)            an output file cannot be written (no space left, permission)
    ├── EmptyResultError (ValueError)         nothing to build from: no candidates, or every pair filtered away
    ├── SqlError (ValueError)                 a query failed
    ├── MissingExtraError (ImportError)       an optional dependency is not installed
    ├── ScaleError                            the out-of-core or cluster build failed
    │   ├── EngineMissingError (MissingExtraError)
    │   └── ClusterError
    ├── CustomizerError                       the NeMo platform client (:mod:`dpo_frames.customizer`)
    │   ├── LocalDatasetError (FileNotFoundError)   local dataset files missing or unreadable
    │   ├── RunConflictError (ValueError)     a run id already has a job trained on other data
    │   ├── TransportError                    service unreachable (connection error / timeout) after retries
    │   │   └── DeadlineExceededError         a call did not finish within its wall-clock deadline
    │   ├── ApiError                          non-2xx answer (after retries, when retryable)
    │   │   ├── InvalidRequestError (ValueError)  400 / 422
    │   │   ├── AuthError                     401 / 403
    │   │   ├── NotFoundError (LookupError)   404
    │   │   ├── ConflictError                 409
    │   │   ├── RateLimitError                429
    │   │   └── ServerError                   5xx
    │   ├── ResponseFormatError               a 2xx answer the client cannot understand
    │   ├── UploadError                       the Data Store refused or lost an uploaded file
    │   ├── StatusUnreadableError             a job's or deployment's status could not be read: no verdict
    │   ├── JobError                          a customization job did not complete
    │   │   ├── JobFailedError
    │   │   ├── JobCancelledError
    │   │   └── JobTimeoutError (TimeoutError)
    │   └── DeploymentError
    │       ├── DeploymentFailedError
    │       └── DeploymentTimeoutError (TimeoutError)
    ├── EmulatorStartError (RuntimeError)     the local platform emulator could not start
    │   └── EmulatorStateError (ValueError)   its persisted state is corrupt
    ├── HubError                              a Hugging Face Hub (compatible) endpoint refused or failed a push
    └── NatPluginError                        the NAT finetuning plugin (:mod:`dpo_frames.nat`)
        ├── PluginClashError (RuntimeError)   NVIDIA's reference plugin is installed too
        ├── CollectionError (RuntimeError)    a data collection run did not complete
        ├── PlatformUnavailableError (ConnectionError)
        ├── TrainingJobError (RuntimeError)   the job failed (or its deployment did)
        │   └── TrainingStatusUnreadableError (PlatformUnavailableError)  gave up reading the job's status
        ├── EmptyDatasetError (ValueError)    no preference pairs to train on
        ├── RunInProgressError (ValueError)   start_run of a run id already started
        ├── UnknownRunError (ValueError)      finalize of a run id never started
        └── UnknownJobError (ValueError)      a job reference the adapter cannot resolve

Messages of the client errors name the service, the call and (for HTTP errors) the status
and an excerpt of the body, with every known secret redacted before it is stored.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "ClusterError",
    "CollectionError",
    "ConfigError",
    "ConflictError",
    "CustomizerError",
    "DeadlineExceededError",
    "DeploymentError",
    "DeploymentFailedError",
    "DeploymentTimeoutError",
    "DistributedError",
    "DpoFramesError",
    "EmptyDatasetError",
    "EmptyResultError",
    "EmulatorStartError",
    "EmulatorStateError",
    "EngineMissingError",
    "FrameNotFoundError",
    "HubError",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobTimeoutError",
    "JoinTooLargeError",
    "LegacyRunDirError",
    "LocalDatasetError",
    "MissingExtraError",
    "NatPluginError",
    "NotFoundError",
    "OutputExistsError",
    "OutputWriteError",
    "PlatformUnavailableError",
    "PluginClashError",
    "PromptContextError",
    "RateLimitError",
    "ResponseFormatError",
    "RunConflictError",
    "RunDirError",
    "RunInProgressError",
    "ScaleError",
    "SchemaError",
    "ServerError",
    "SourceError",
    "SqlError",
    "StatusUnreadableError",
    "TrainingJobError",
    "TrainingStatusUnreadableError",
    "TransportError",
    "UnknownJobError",
    "UnknownRunError",
    "UploadError",
]


class DpoFramesError(Exception):
    """Base class of every error dpo_frames raises on purpose."""

    def add_context(self, text: str) -> None:
        """Append a line of context (e.g. where local files are) to the message."""
        if self.args:
            self.args = (f"{self.args[0]}\n{text}", *self.args[1:])
        else:
            self.args = (text,)


# --- data: sources, frames, settings, directories -------------------------------------------


class SourceError(DpoFramesError, ValueError):
    """A steps or candidates source could not be read: unknown kind, missing file, wrong shape."""


class SchemaError(DpoFramesError, ValueError):
    """A frame does not have the columns or dtypes its contract requires."""


class ConfigError(DpoFramesError, ValueError):
    """A setting, or a combination of settings, is invalid (the message names it and what it takes)."""


class JoinTooLargeError(ConfigError):
    """Pairing would join more candidate rows than fit; ``max_candidates_per_turn`` bounds it."""


class PromptContextError(ConfigError):
    """A plain (string-prompt) export of prompts of several messages would keep only the last message.

    The message names the choices: a format that keeps the messages, or dropping them on purpose.
    """


class FrameNotFoundError(DpoFramesError, FileNotFoundError):
    """There is no file of the frame asked for."""


class RunDirError(DpoFramesError, ValueError):
    """A directory is missing, is not one dpo_frames wrote, or its record is unreadable."""


class LegacyRunDirError(RunDirError):
    """A directory written by dpo_frames 0.1.0: it opens for reading; ``dpo-frames upgrade`` it to write into it."""


class OutputExistsError(DpoFramesError, FileExistsError):
    """An output path is in the way: it exists and may not be replaced (the message says why)."""


class OutputWriteError(DpoFramesError, OSError):
    """An output file could not be written (no space left, no permission): the message names it."""


class EmptyResultError(DpoFramesError, ValueError):
    """A result would be empty (no candidates, no pairs); the message names what was found instead."""


class SqlError(DpoFramesError, ValueError):
    """A query failed: bad SQL, a missing view, or a directory that is not one dpo_frames wrote."""


class MissingExtraError(DpoFramesError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""

    def __init__(self, feature: str, extra: str, missing: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependencies of dpo_frames[{extra}] (module {missing!r} is "
            f"missing): pip install 'dpo_frames[{extra}]'"
        )
        self.feature, self.extra, self.missing = feature, extra, missing


# --- scale ------------------------------------------------------------------------------------


class ScaleError(DpoFramesError):
    """The out-of-core or cluster build failed."""


DistributedError = ScaleError
"""The name of :class:`ScaleError` in dpo_frames 0.1 (``dpo_frames.distributed``)."""


class EngineMissingError(ScaleError, MissingExtraError):
    """The engine's optional dependencies are not installed."""

    def __init__(self, engine: str, extra: str, missing: str) -> None:
        MissingExtraError.__init__(self, f"engine {engine!r}", extra, missing)
        self.engine = engine


class ClusterError(ScaleError):
    """The cluster could not be reached, or a task failed on it."""


# --- the NeMo platform client ---------------------------------------------------------------


class CustomizerError(DpoFramesError):
    """Base of every error raised by :mod:`dpo_frames.customizer`."""


class RunConflictError(CustomizerError, ValueError):
    """A run id already has a job, trained on different data: reuse would be wrong."""


class LocalDatasetError(CustomizerError, FileNotFoundError):
    """The local dataset files to upload are missing or unreadable."""


class TransportError(CustomizerError):
    """The service could not be reached (connection refused/reset, timeout), after retries."""

    def __init__(self, service: str, call: str, detail: str, attempts: int) -> None:
        self.service = service
        self.call = call
        self.detail = detail
        self.attempts = attempts
        super().__init__(f"{service} {call}: unreachable after {attempts} attempt(s): {detail}")


class DeadlineExceededError(TransportError):
    """A call (all its attempts, and the waits between them) did not finish within its wall-clock deadline.

    A server that trickles its answer a byte at a time defeats per-read timeouts; this is the
    cap that holds whatever the server does.
    """

    def __init__(self, service: str, call: str, detail: str, attempts: int) -> None:
        self.service = service
        self.call = call
        self.detail = detail
        self.attempts = attempts
        CustomizerError.__init__(self, f"{service} {call}: {detail} ({attempts} attempt(s))")


class ApiError(CustomizerError):
    """The service answered with a non-2xx status.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it gave one.
    """

    def __init__(
        self,
        service: str,
        call: str,
        status_code: int,
        body_excerpt: str,
        *,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.service = service
        self.call = call
        self.status_code = status_code
        self.body_excerpt = body_excerpt
        self.attempts = attempts
        self.retry_after = retry_after
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{service} {call}: HTTP {status_code}{tries}: {body_excerpt or '<empty body>'}")

    @classmethod
    def for_status(
        cls,
        service: str,
        call: str,
        status_code: int,
        body_excerpt: str,
        *,
        attempts: int = 1,
        retry_after: float | None = None,
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
        return kind(service, call, status_code, body_excerpt, attempts=attempts, retry_after=retry_after)


class InvalidRequestError(ApiError, ValueError):
    """400/422: the service rejected the request body or parameters."""


class AuthError(ApiError):
    """401/403: missing, wrong or insufficient credentials."""


class NotFoundError(ApiError, LookupError):
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


class StatusUnreadableError(CustomizerError):
    """The status of a job (or deployment) could not be read, several times in a row.

    A platform error, not a verdict on the job: it may well have completed. ``job_id`` names
    it (``namespace/name`` for a deployment), ``status`` is the last status read, if any.
    """

    def __init__(self, message: str, *, job_id: str, status: Any = None, failures: int = 0) -> None:
        self.job_id = job_id
        self.status = status
        self.failures = failures
        super().__init__(message)


class JobError(CustomizerError):
    """A customization job ended without completing, or could not be followed."""

    def __init__(self, message: str, *, job_id: str, status: Any = None) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(message)


class JobFailedError(JobError):
    """The job ended in ``failed``."""


class JobCancelledError(JobError):
    """The job ended in ``cancelled``."""


class JobTimeoutError(JobError, TimeoutError):
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


class DeploymentTimeoutError(DeploymentError, TimeoutError):
    """The deployment did not become ready within the allowed time."""


class EmulatorStartError(DpoFramesError, RuntimeError):
    """The local platform emulator could not start (e.g. the port is taken)."""


class EmulatorStateError(EmulatorStartError, ValueError):
    """The emulator's persisted state is corrupt or not one it wrote (the message names the file)."""


class HubError(DpoFramesError):
    """A Hugging Face Hub (or Hub-compatible) endpoint refused or failed a push; the message says which call."""


# --- the NAT plugin -----------------------------------------------------------------------------


class NatPluginError(DpoFramesError):
    """Base class of every error the NAT plugin raises on purpose."""


class PluginClashError(NatPluginError, RuntimeError):
    """NVIDIA's reference plugin is installed in the same environment: the component names clash."""


class CollectionError(NatPluginError, RuntimeError):
    """A data collection run (the NAT evaluation) did not complete.

    The frames built from whatever the run produced are still written to ``run_dir``.
    """

    def __init__(self, message: str, *, run_id: str, run_dir: str | None = None) -> None:
        self.run_id = run_id
        self.run_dir = run_dir
        super().__init__(message)


class PlatformUnavailableError(NatPluginError, ConnectionError):
    """The NeMo microservices platform is not reachable or not healthy (checked at start-up)."""


class TrainingJobError(NatPluginError, RuntimeError):
    """The customization job failed (or was cancelled before a deployment it should feed).

    ``status`` is the final ``TrainingJobStatus``; the dataset files stay in ``dataset_dir``.
    """

    def __init__(self, message: str, *, status: object = None, dataset_dir: str | None = None) -> None:
        self.status = status
        self.dataset_dir = dataset_dir
        super().__init__(message)


class TrainingStatusUnreadableError(TrainingJobError, PlatformUnavailableError):
    """The adapter gave up reading the job's status (``max_consecutive_status_failures`` failed reads in a
    row): the platform is the problem, the job itself may still be running. A ``RuntimeError`` (as the
    reference's give-up) and a ``ConnectionError`` (as :class:`PlatformUnavailableError`)."""


class EmptyDatasetError(NatPluginError, ValueError):
    """There are no preference pairs to train on."""


class RunInProgressError(NatPluginError, ValueError):
    """``start_run`` with a run id whose evaluation is already in progress (a ``ValueError``, as the reference)."""


class UnknownRunError(NatPluginError, ValueError):
    """``finalize`` of a run id that was never started (a ``ValueError``, as the reference)."""


class UnknownJobError(NatPluginError, ValueError):
    """A training job reference the adapter cannot resolve: no job id in it, none remembered for its run
    id, none found on the platform (a ``ValueError``, as the reference)."""
