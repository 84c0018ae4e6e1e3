"""Configuration of the emulator: its clock, storage, authentication and injected faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .clock import ClockMode

FaultKind = Literal["503", "429", "drop", "slow", "503_after", "429_after", "drop_after", "late", "trickle", "fake_ok"]
"""An HTTP fault. Refused before the service sees the request: ``503``, ``429`` (with
``Retry-After``), ``drop`` (the connection closed without an answer), ``fake_ok`` (a 200 with a
body that is no answer, :attr:`StagedFault.body`, as a misconfigured proxy gives). After the
service did the work: ``503_after`` (its answer replaced by a 503, as a gateway that timed out
gives), ``429_after`` (by a 429), ``drop_after`` (the answer lost). Later: ``late`` (the connection closed at once, the
request served after :attr:`FaultConfig.late_after_requests` further requests, as a queue that
creates a job a moment after its client gave up). Slow: ``slow`` (the answer delayed by
:attr:`FaultConfig.slow_seconds`), ``trickle`` (its body sent one byte every
:attr:`FaultConfig.trickle_seconds`)."""


class StagedFault(BaseModel):
    """Make the first ``count`` requests whose path starts with ``path_prefix`` fail with ``kind``.

    Staged faults are exact (no randomness), so tests can script a scenario such as "the first
    two status polls answer 503, then the service recovers".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path_prefix: str = Field(description="Requests whose path starts with this are counted.")
    count: int = Field(default=1, ge=1, description="How many matching requests fail.")
    kind: FaultKind = Field(default="503", description="What happens to each of them.")
    method: str | None = Field(default=None, description="Only count this HTTP method (e.g. 'POST').")
    body: Any = Field(default=None, description="The JSON body of a 'fake_ok' answer (default {'message': 'OK'}).")


class FaultConfig(BaseModel):
    """Fault injection. Everything is off by default; randomness is seeded, hence repeatable.

    Random HTTP faults are drawn per request, in this order: dropped connection, 503, 429, slow
    answer. They apply to every path, or only to paths starting with ``path_prefix``. Staged
    faults (``fail_first``) are checked before the random ones and ignore ``path_prefix``.

    Job faults act on the simulated training: a job fails (or is cancelled by the platform) as
    soon as its progress reaches the given percentage; ``job_fault_max_jobs`` limits that to the
    first N jobs created, so a retried submission can succeed.
    """

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, description="Seed of the random generator of HTTP faults.")
    path_prefix: str | None = Field(default=None, description="Limit random HTTP faults to these paths.")
    unavailable_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction answered 503.")
    rate_limit_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction answered 429.")
    retry_after_seconds: float = Field(default=1.0, ge=0.0, description="Retry-After sent with each 429.")
    slow_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction of answers delayed.")
    slow_seconds: float = Field(default=1.0, ge=0.0, description="Delay of a slow answer.")
    drop_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction of connections dropped.")
    unavailable_after_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Fraction served, then answered 503 ('503_after')."
    )
    drop_after_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Fraction served, then the answer lost ('drop_after')."
    )
    late_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction dropped and served later ('late').")
    late_after_requests: int = Field(
        default=2, ge=0, description="A 'late' request is served just before the N-th request after it."
    )
    trickle_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Fraction of answers trickled.")
    trickle_seconds: float = Field(default=0.05, ge=0.0, description="Delay between the bytes of a trickled answer.")
    fake_ok_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Fraction answered a 200 that is no answer ('fake_ok')."
    )
    fail_first: list[StagedFault] = Field(default_factory=list, description="Exact, scripted faults.")
    job_fail_at_percent: float | None = Field(
        default=None, ge=0.0, le=100.0, description="Jobs fail once percentage_done reaches this."
    )
    job_cancel_at_percent: float | None = Field(
        default=None, ge=0.0, le=100.0, description="Jobs are cancelled by the platform at this percentage."
    )
    job_fault_max_jobs: int | None = Field(
        default=None, ge=0, description="Only the first N jobs created get the job faults (None: all)."
    )
    deployment_fails: bool = Field(default=False, description="Model deployments end 'failed', not 'ready'.")


class EmulatorConfig(BaseModel):
    """How the emulator behaves: clock speed, storage, authentication and faults.

    The defaults make a job finish in well under a second, which suits tests and dry runs.
    """

    model_config = ConfigDict(extra="forbid")

    tick_seconds: float = Field(default=0.05, gt=0.0, description="One step of the job clock, in seconds.")
    clock: ClockMode = Field(
        default="wall",
        description="What moves the job clock: 'wall' time, each 'request' (one tick each: deterministic "
        "for tests), or only Emulator.advance ('manual').",
    )
    job_steps: int = Field(default=10, ge=1, description="Training steps from 0% to 100%.")
    epochs: int = Field(default=2, ge=1, description="Epochs of a job whose hyperparameters give none.")
    deployment_ready_after: float = Field(
        default=0.2, ge=0.0, description="Seconds until a model deployment is 'ready'."
    )
    persist_dir: Path | None = Field(
        default=None, description="Keep state (JSON) and uploaded files here, across restarts."
    )
    faults: FaultConfig = Field(default_factory=FaultConfig)
    token: SecretStr | None = Field(
        default=None, description="When set, every request needs 'Authorization: Bearer <token>'."
    )
    lfs_threshold_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Files of at least this size must go through the git-lfs path (preupload answer).",
    )
    require_full_batch: bool = Field(
        default=False,
        description="Fail a job whose training or validation file has fewer records than batch_size.",
    )
    request_log_limit: int = Field(default=10_000, ge=0, description="Requests kept in state.requests.")
    lfs_ticket_seconds: float = Field(
        default=3600.0, gt=0.0, description="An LFS upload URL expires this long after the batch answer (job clock)."
    )

    @field_validator("token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value
