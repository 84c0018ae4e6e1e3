"""NeMo Customizer: an async client for the NeMo microservices platform.

The local emulator of the platform is its own package, :mod:`dpo_frames.emulator`
(the ``emulator`` extra).

Quick start::

    from dpo_frames.customizer import (
        CustomizerClient, CustomizerSettings, Hyperparameters, DpoParameters,
        submit_dataset_job, wait_for_job,
    )

    settings = CustomizerSettings(entity_host="http://127.0.0.1:8000")
    async with CustomizerClient(settings) as client:
        print((await client.health()).summary())
        ref = await submit_dataset_job(
            client, dataset_dir="out/dataset", namespace="team", dataset_name="pairs",
            run_id="run-1", config="meta/llama-3.2-1b-instruct@v1.0.0+A100",
            hyperparameters=Hyperparameters(training_type="dpo", epochs=2, dpo=DpoParameters()),
        )
        final = await wait_for_job(client, ref.job_id, poll_interval=5, on_progress=print)
"""

from dpo_frames.errors import (
    ApiError,
    AuthError,
    ConflictError,
    CustomizerError,
    DeadlineExceededError,
    DeploymentError,
    DeploymentFailedError,
    DeploymentTimeoutError,
    InvalidRequestError,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobTimeoutError,
    LocalDatasetError,
    NotFoundError,
    RateLimitError,
    ResponseFormatError,
    RunConflictError,
    ServerError,
    StatusUnreadableError,
    TransportError,
    UploadError,
)

from .client import SERVICES, CustomizerClient
from .flow import (
    deploy_model,
    find_job_for_run,
    idempotency_key,
    submit_dataset_job,
    wait_for_deployment,
    wait_for_job,
)
from .models import (
    CommitInfo,
    CustomizationConfig,
    CustomizationJob,
    Dataset,
    DatasetRef,
    DeploymentConfig,
    DpoParameters,
    HealthReport,
    Hyperparameters,
    JobRef,
    JobStatus,
    JobStatusDetails,
    LoraParameters,
    Model,
    ModelDeployment,
    Namespace,
    NimDeployment,
    RepoFile,
    ServiceHealth,
    UploadResult,
)
from .settings import CustomizerSettings, RetryPolicy

__all__ = [
    "SERVICES",
    "ApiError",
    "AuthError",
    "CommitInfo",
    "ConflictError",
    "CustomizationConfig",
    "CustomizationJob",
    "CustomizerClient",
    "CustomizerError",
    "CustomizerSettings",
    "Dataset",
    "DeadlineExceededError",
    "DatasetRef",
    "DeploymentConfig",
    "DeploymentError",
    "DeploymentFailedError",
    "DeploymentTimeoutError",
    "DpoParameters",
    "HealthReport",
    "Hyperparameters",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobRef",
    "JobStatus",
    "JobStatusDetails",
    "JobTimeoutError",
    "LocalDatasetError",
    "LoraParameters",
    "Model",
    "ModelDeployment",
    "Namespace",
    "NimDeployment",
    "NotFoundError",
    "RateLimitError",
    "RepoFile",
    "ResponseFormatError",
    "RetryPolicy",
    "RunConflictError",
    "ServerError",
    "ServiceHealth",
    "StatusUnreadableError",
    "TransportError",
    "UploadError",
    "UploadResult",
    "deploy_model",
    "find_job_for_run",
    "idempotency_key",
    "submit_dataset_job",
    "wait_for_deployment",
    "wait_for_job",
]
