"""Customizer: configs and customization jobs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .models import CustomizationConfig, CustomizationJob, Hyperparameters, JobStatusDetails
from .transport import ServiceHttp, drop_none

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
    ) -> CustomizationJob:
        """Submit a customization job.

        Not idempotent on the server, so it is retried only when the request certainly
        did not take effect (connection refused, 429, 503). Use
        :func:`dpo_frames.customizer.flow.submit_dataset_job` for a run-id-idempotent
        submission.
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
            "POST", "/v1/customization/jobs", call=call, json_body=body, idempotent=False
        )
        job = self._http.parse(CustomizationJob, response, call)
        logger.info("customizer job %s created (config %s, output model %s)", job.id, body["config"], job.output_model)
        return job

    async def get(self, job_id: str) -> CustomizationJob:
        """Fetch a job."""
        call = "get_job"
        response = await self._http.request("GET", f"/v1/customization/jobs/{job_id}", call=call)
        return self._http.parse(CustomizationJob, response, call)

    async def status(self, job_id: str) -> JobStatusDetails:
        """A job's status: status, percentage done, epochs, steps, losses, status logs."""
        call = "get_job_status"
        response = await self._http.request("GET", f"/v1/customization/jobs/{job_id}/status", call=call)
        return self._http.parse(JobStatusDetails, response, call)

    async def cancel(self, job_id: str) -> CustomizationJob:
        """Ask the service to cancel a job (idempotent: cancelling twice is harmless)."""
        call = "cancel_job"
        response = await self._http.request("POST", f"/v1/customization/jobs/{job_id}/cancel", call=call)
        logger.info("customizer job %s: cancel requested", job_id)
        return self._http.parse(CustomizationJob, response, call)

    async def container_logs(self, job_id: str) -> Any:
        """The job's container logs, as the service returns them (JSON)."""
        call = "get_container_logs"
        response = await self._http.request("GET", f"/v1/customization/jobs/{job_id}/container-logs", call=call)
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
