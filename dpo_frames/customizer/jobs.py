"""Customizer: configs and customization jobs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from dpo_frames.errors import ConfigError, ResponseFormatError

from .models import CustomizationConfig, CustomizationJob, Hyperparameters, JobStatus, JobStatusDetails
from .transport import ServiceHttp, drop_none
from .urls import segment, validate_id

__all__ = ["CustomizationApi"]

logger = logging.getLogger("dpo_frames.customizer")


class CustomizationApi:
    """Calls to the Customizer (``/v1/customization``)."""

    def __init__(self, http: ServiceHttp) -> None:
        self._http = http

    def iter_configs(self, *, page_size: int = 100) -> AsyncIterator[CustomizationConfig]:
        """Every customization config, across all pages."""
        return self._http.iter_pages(
            "/v1/customization/configs", CustomizationConfig, call="list_configs", page_size=page_size
        )

    async def list_configs(self, *, page_size: int = 100) -> list[CustomizationConfig]:
        """Every customization config (e.g. ``meta/llama-3.2-1b-instruct@v1.0.0+A100``)."""
        return [c async for c in self.iter_configs(page_size=page_size)]

    async def create(
        self,
        *,
        config: str | Mapping[str, Any],
        dataset: str | Mapping[str, str],
        hyperparameters: Hyperparameters | Mapping[str, Any],
        output_model: str | None = None,
        name: str | None = None,
        namespace: str | None = None,
        description: str | None = None,
        custom_fields: Mapping[str, str] | None = None,
        project: str | None = None,
        deadline: float | None = None,
    ) -> CustomizationJob:
        """Submit a customization job.

        Not idempotent on the server, so it is retried only when the request certainly
        was not sent (the connection could not be opened): a 429, a 5xx or a lost answer
        may come after the job was created, and is raised. Use
        :func:`dpo_frames.customizer.flow.submit_dataset_job` for a run-id-idempotent
        submission (it looks the job up by its key before trying again).
        """
        hp = hyperparameters.to_wire() if isinstance(hyperparameters, Hyperparameters) else dict(hyperparameters)
        body: dict[str, Any] = {
            "config": config if isinstance(config, str) else dict(config),
            "dataset": dataset if isinstance(dataset, str) else dict(dataset),
            "hyperparameters": hp,
        }
        optional = {
            "output_model": output_model,
            "name": name,
            "namespace": namespace,
            "description": description,
            "custom_fields": dict(custom_fields) if custom_fields is not None else None,
            "project": project,
        }
        body.update(drop_none(optional))
        call = "create_job"
        response = await self._http.request(
            "POST", "/v1/customization/jobs", call=call, json_body=body, idempotent=False, deadline=deadline
        )
        job = self._checked_job(response, call)
        logger.info("customizer job %s created (config %s, output model %s)", job.id, body["config"], job.output_model)
        return job

    def _checked_job(self, response: Any, call: str) -> CustomizationJob:
        job = self._http.parse(CustomizationJob, response, call)
        try:
            validate_id(job.id, "job id")
        except ConfigError as exc:
            raise ResponseFormatError(self._http.service, call, f"the answer's job id is not an id: {exc}") from None
        return job

    async def get(self, job_id: str, *, deadline: float | None = None) -> CustomizationJob:
        """Fetch a job."""
        call = "get_job"
        path = f"/v1/customization/jobs/{segment(job_id, 'job id')}"
        response = await self._http.request("GET", path, call=call, deadline=deadline)
        return self._checked_job(response, call)

    async def status(self, job_id: str, *, deadline: float | None = None) -> JobStatusDetails:
        """A job's status: status, percentage done, epochs, steps, losses, status logs.

        An answer without a recognised ``status`` (a proxy's ``{"message": "OK"}``, a typo)
        is a :class:`ResponseFormatError`, never read as some status.
        """
        call = "get_job_status"
        path = f"/v1/customization/jobs/{segment(job_id, 'job id')}/status"
        response = await self._http.request("GET", path, call=call, deadline=deadline)
        payload = self._http.parse_json(response, call)
        raw = payload.get("status") if isinstance(payload, dict) else None
        if not isinstance(raw, str) or (JobStatus.parse(raw) is JobStatus.UNKNOWN and raw.lower() != "unknown"):
            shown = repr(raw)[:80] if isinstance(payload, dict) else type(payload).__name__
            raise ResponseFormatError(self._http.service, call, f"no recognised job 'status' in the answer ({shown})")
        return self._http.parse(JobStatusDetails, response, call)

    async def cancel(self, job_id: str, *, deadline: float | None = None) -> CustomizationJob:
        """Ask the service to cancel a job (idempotent: cancelling twice is harmless)."""
        call = "cancel_job"
        path = f"/v1/customization/jobs/{segment(job_id, 'job id')}/cancel"
        response = await self._http.request("POST", path, call=call, deadline=deadline)
        logger.info("customizer job %s: cancel requested", job_id)
        return self._checked_job(response, call)

    async def container_logs(self, job_id: str) -> Any:
        """The job's container logs, as the service returns them (JSON)."""
        call = "get_container_logs"
        path = f"/v1/customization/jobs/{segment(job_id, 'job id')}/container-logs"
        response = await self._http.request("GET", path, call=call)
        return self._http.parse_json(response, call)

    def iter_jobs(
        self, *, page_size: int = 100, params: Mapping[str, Any] | None = None
    ) -> AsyncIterator[CustomizationJob]:
        """Every job, across all pages (``params`` adds query parameters, e.g. ``sort``)."""
        return self._http.iter_pages(
            "/v1/customization/jobs", CustomizationJob, call="list_jobs", page_size=page_size, params=params
        )

    async def list(self, *, page_size: int = 100, params: Mapping[str, Any] | None = None) -> list[CustomizationJob]:
        """Every job, across all pages, as a list."""
        return [j async for j in self.iter_jobs(page_size=page_size, params=params)]
