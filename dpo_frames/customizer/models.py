"""Typed answers (and a few typed requests) of the NeMo microservices APIs the client uses.

Field names follow the wire format of the official ``nemo-microservices`` SDK and of
``huggingface_hub``. Every answer model ignores unknown fields (servers add fields over
time) and keeps only what the client needs plus the documented optional fields.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CommitInfo",
    "CustomizationConfig",
    "CustomizationJob",
    "Dataset",
    "DatasetRef",
    "DeploymentConfig",
    "DpoParameters",
    "HealthReport",
    "Hyperparameters",
    "JobRef",
    "JobStatus",
    "JobStatusDetails",
    "LoraParameters",
    "Model",
    "ModelDeployment",
    "ModelDeploymentStatusDetails",
    "Namespace",
    "NimDeployment",
    "RepoFile",
    "ServiceHealth",
    "StatusLog",
    "UploadResult",
]


class _Answer(BaseModel):
    """Base of answer models: tolerant of extra fields, immutable."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class JobStatus(StrEnum):
    """Normalized job (and deployment) statuses of the platform."""

    CREATED = "created"
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    COMPLETED = "completed"
    READY = "ready"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, value: str | None) -> JobStatus:
        """Case-insensitive parse; anything unrecognised is ``UNKNOWN``."""
        if value is None:
            return cls.UNKNOWN
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """Whether a job in this status will not change any more."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


# --- Entity Store --------------------------------------------------------------------


class Namespace(_Answer):
    """An Entity Store namespace."""

    id: str
    description: str | None = None
    created_at: datetime | None = None
    custom_fields: dict[str, Any] | None = None


class Dataset(_Answer):
    """A dataset registered in the Entity Store."""

    name: str
    namespace: str
    files_url: str
    id: str | None = None
    description: str | None = None
    format: str | None = None
    custom_fields: dict[str, Any] | None = None
    created_at: datetime | None = None


class Model(_Answer):
    """A model known to the Entity Store (a finished job's ``output_model`` appears here)."""

    name: str
    namespace: str | None = None
    description: str | None = None
    base_model: str | dict[str, Any] | None = None
    created_at: datetime | None = None
    custom_fields: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


# --- Data Store ----------------------------------------------------------------------


class RepoFile(_Answer):
    """One entry of a repository tree listing (``type`` is ``file`` or ``directory``)."""

    type: Literal["file", "directory"] = "file"
    path: str
    size: int | None = None
    oid: str | None = None
    lfs: dict[str, Any] | None = None

    @property
    def sha256(self) -> str | None:
        """The LFS sha256 of the file, when the server stores it as an LFS object."""
        if self.lfs:
            value = self.lfs.get("oid") or self.lfs.get("sha256")
            return str(value) if value else None
        return None


class CommitInfo(_Answer):
    """The answer of a commit."""

    commit_url: str | None = Field(default=None, alias="commitUrl")
    commit_oid: str | None = Field(default=None, alias="commitOid")


class UploadResult(BaseModel):
    """What :meth:`DatastoreApi.upload_file` did for one file."""

    model_config = ConfigDict(frozen=True)

    path_in_repo: str
    size: int
    sha256: str
    mode: Literal["regular", "lfs", "skipped"]
    commit: CommitInfo | None = None


# --- Customizer ----------------------------------------------------------------------


class DpoParameters(BaseModel):
    """DPO hyperparameters (``hyperparameters.dpo``)."""

    model_config = ConfigDict(extra="allow")

    ref_policy_kl_penalty: float | None = None
    preference_loss_weight: float | None = None
    preference_average_log_probs: bool | None = None
    sft_loss_weight: float | None = None
    sft_average_log_probs: bool | None = None
    max_grad_norm: float | None = None


class LoraParameters(BaseModel):
    """LoRA hyperparameters (``hyperparameters.lora``)."""

    model_config = ConfigDict(extra="allow")

    adapter_dim: int | None = None
    adapter_dropout: float | None = None
    alpha: int | None = None
    target_modules: list[str] | None = None


class Hyperparameters(BaseModel):
    """Job hyperparameters. Unset fields are not sent; unknown fields pass through."""

    model_config = ConfigDict(extra="allow")

    finetuning_type: Literal["lora", "lora_merged", "all_weights"] | str = "all_weights"
    training_type: str | None = "dpo"
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    max_steps: int | None = None
    seed: int | None = None
    warmup_steps: int | None = None
    weight_decay: float | None = None
    lora: LoraParameters | None = None
    dpo: DpoParameters | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON body fragment (``None`` fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class CustomizationConfig(_Answer):
    """A customization config (``namespace/name@version+gpu``); only the identity is typed."""

    name: str | None = None
    namespace: str | None = None
    description: str | None = None
    max_seq_length: int | None = None
    training_options: list[dict[str, Any]] | None = None

    @property
    def ref(self) -> str:
        """``namespace/name`` when the namespace is known."""
        return f"{self.namespace}/{self.name}" if self.namespace else str(self.name)


class StatusLog(_Answer):
    """One entry of a job's status log."""

    updated_at: datetime | None = None
    message: str | None = None
    detail: str | None = None


class JobStatusDetails(_Answer):
    """The answer of ``GET /v1/customization/jobs/{id}/status`` (also a job's ``status_details``)."""

    status: str = "unknown"
    created_at: datetime | None = None
    updated_at: datetime | None = None
    percentage_done: float | None = None
    epochs_completed: int | None = None
    steps_completed: int | None = None
    steps_per_epoch: int | None = None
    best_epoch: int | None = None
    elapsed_time: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    metrics: dict[str, Any] | None = None
    status_logs: list[StatusLog] = Field(default_factory=list)

    @property
    def state(self) -> JobStatus:
        """``status`` as a :class:`JobStatus`."""
        return JobStatus.parse(self.status)

    def last_messages(self, n: int = 3) -> str:
        """The last ``n`` status log messages and details, joined (for error messages)."""
        parts: list[str] = []
        for log in self.status_logs[-n:]:
            text = " ".join(x for x in (log.message, log.detail) if x)
            if text:
                parts.append(text)
        return " | ".join(parts)


class CustomizationJob(_Answer):
    """A customization job."""

    id: str
    config: str | dict[str, Any] | None = None
    dataset: str | dict[str, Any] | None = None
    hyperparameters: dict[str, Any] | None = None
    output_model: str | None = None
    status: str | None = None
    status_details: JobStatusDetails | None = None
    name: str | None = None
    namespace: str | None = None
    description: str | None = None
    custom_fields: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    warnings: list[Any] | None = None

    @property
    def state(self) -> JobStatus:
        """``status`` as a :class:`JobStatus`."""
        return JobStatus.parse(self.status)


# --- Deployments ---------------------------------------------------------------------


class NimDeployment(BaseModel):
    """The ``nim_deployment`` block of a deployment config."""

    model_config = ConfigDict(extra="allow")

    image_name: str
    image_tag: str = "latest"
    gpu: int = 1


class DeploymentConfig(_Answer):
    """A deployment config."""

    name: str
    namespace: str | None = None
    description: str | None = None
    model: str | dict[str, Any] | None = None
    nim_deployment: dict[str, Any] | None = None
    external_endpoint: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


class ModelDeploymentStatusDetails(_Answer):
    """A deployment's ``status_details``."""

    status: str = "unknown"
    description: str | None = None

    @property
    def state(self) -> JobStatus:
        """``status`` as a :class:`JobStatus`."""
        return JobStatus.parse(self.status)


class ModelDeployment(_Answer):
    """A model deployment."""

    name: str
    namespace: str | None = None
    config: str | dict[str, Any] | None = None
    url: str | None = None
    deployed: bool | None = None
    description: str | None = None
    models: list[str] | None = None
    status_details: ModelDeploymentStatusDetails = Field(default_factory=ModelDeploymentStatusDetails)


# --- client-side results ------------------------------------------------------------


class DatasetRef(BaseModel):
    """Where a dataset lives: the Data Store repo and its Entity Store registration."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    name: str

    @property
    def repo_id(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"

    @property
    def files_url(self) -> str:
        """``hf://datasets/namespace/name``, the URL registered in the Entity Store."""
        return f"hf://datasets/{self.namespace}/{self.name}"


class JobRef(BaseModel):
    """What :func:`submit_dataset_job` returns."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    run_id: str
    dataset: DatasetRef
    output_model: str | None = None
    reused_job: bool = Field(description="True when an existing job for this run id was found.")
    uploads: list[UploadResult] = Field(default_factory=list)
    local_dir: str | None = Field(default=None, description="Where the uploaded files are on disk.")


class ServiceHealth(BaseModel):
    """Health of one service."""

    model_config = ConfigDict(frozen=True)

    service: str
    url: str
    ok: bool
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None


class HealthReport(BaseModel):
    """Health of every service the client uses."""

    model_config = ConfigDict(frozen=True)

    services: list[ServiceHealth]

    @property
    def ok(self) -> bool:
        """True when every service is healthy."""
        return all(s.ok for s in self.services)

    def __bool__(self) -> bool:  # pragma: no cover - convenience
        return self.ok

    def summary(self) -> str:
        """One line per service."""
        lines = []
        for s in self.services:
            mark = "ok" if s.ok else "FAIL"
            latency = f" {s.latency_ms:.0f} ms" if s.latency_ms is not None else ""
            error = f" ({s.error})" if s.error else ""
            lines.append(f"{s.service}: {mark}{latency}{error}")
        return "\n".join(lines)
