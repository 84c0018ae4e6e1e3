"""The async client: one object, one ``httpx.AsyncClient`` per distinct host, four APIs.

::

    async with CustomizerClient(CustomizerSettings(entity_host="http://127.0.0.1:8000")) as client:
        report = await client.health()
        await client.entity.create_namespace("team")
        await client.datastore.create_repo("team", "pairs")
        job = await client.jobs.create(config=..., dataset="team/pairs", hyperparameters=...)
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx

from dpo_frames.errors import ConfigError

from .datastore import DatastoreApi
from .deployments import DeploymentApi
from .entity import EntityStoreApi
from .jobs import CustomizationApi
from .models import HealthReport
from .settings import CustomizerSettings
from .transport import ClockFn, ServiceHttp, SleepFn
from .urls import segment

__all__ = ["CustomizerClient", "SERVICES"]

SERVICES = ("entity-store", "datastore", "customizer", "deployment")


def _repo_id_path(repo_id: str) -> str:
    namespace, _, name = repo_id.partition("/")
    return f"{segment(namespace, 'namespace')}/{segment(name, 'repository name')}"


class CustomizerClient:
    """Async client of the NeMo microservices platform (use as ``async with``).

    Args:
        settings: hosts, tokens, timeouts, retry policy.
        transport: an ``httpx.AsyncBaseTransport`` for every host (test seam, e.g.
            ``httpx.MockTransport``); default: real network.
        sleep: the coroutine used to wait between retries (test seam).
        clock: returns "now" (aware UTC ``datetime``) to interpret HTTP-date ``Retry-After``.
    """

    def __init__(
        self,
        settings: CustomizerSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: SleepFn | None = None,
        clock: ClockFn | None = None,
    ) -> None:
        self.settings = settings
        self.sleep: SleepFn = sleep or asyncio.sleep
        """The coroutine used for every wait (retry backoff, polling); a test seam."""
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        self._clients: dict[str, httpx.AsyncClient] = {}
        secrets = settings.secrets()

        def http_for(service: str, host: str, token: object) -> ServiceHttp:
            client = self._clients.get(host)
            if client is None:
                client = httpx.AsyncClient(
                    transport=transport,
                    timeout=timeout,
                    follow_redirects=True,
                    headers={"User-Agent": settings.user_agent},
                )
                self._clients[host] = client
            return ServiceHttp(
                service,
                client,
                base_url=host,
                token=token,  # type: ignore[arg-type]
                retry=settings.retry,
                secrets=secrets,
                sleep=self.sleep,
                clock=clock,
                attempt_deadline=settings.request_deadline_seconds,
                call_deadline=settings.call_deadline_seconds,
            )

        self._entity_http = http_for("entity-store", settings.entity_host, settings.token)
        self._datastore_http = http_for("datastore", settings.datastore_url, settings.datastore_token)
        self._customizer_http = http_for("customizer", settings.customizer_url, settings.token)
        self._deployment_http = http_for("deployment", settings.deployment_url, settings.token)

        self.entity = EntityStoreApi(self._entity_http)
        """Entity Store: namespaces, datasets, models."""
        self.datastore = DatastoreApi(
            self._datastore_http,
            chunk_bytes=settings.upload_chunk_bytes,
            upload_timeout=httpx.Timeout(
                settings.timeout_seconds,
                connect=settings.connect_timeout_seconds,
                read=settings.upload_timeout_seconds,
            ),
            upload_min_bytes_per_second=settings.upload_min_bytes_per_second,
        )
        """Data Store: namespaces, repositories, uploads."""
        self.jobs = CustomizationApi(self._customizer_http)
        """Customizer: configs and jobs."""
        self.deployments = DeploymentApi(self._deployment_http)
        """Deployment management: configs and model deployments."""

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"CustomizerClient(entity_host={s.entity_host!r}, datastore_host={s.datastore_url!r}, "
            f"customizer_host={s.customizer_url!r}, deployment_host={s.deployment_url!r}, "
            f"token={'set' if s.token else 'unset'}, hf_token={'set' if s.hf_token else 'unset'})"
        )

    async def __aenter__(self) -> CustomizerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection pool."""
        for client in self._clients.values():
            await client.aclose()

    async def health(
        self,
        *,
        services: tuple[str, ...] = SERVICES,
        timeout: float = 5.0,
        probe_repo: str = "dpo-frames-health/probe",
    ) -> HealthReport:
        """Check every service the client uses, concurrently, with one unretried read each.

        * entity-store: ``GET /v1/namespaces?page_size=1``
        * customizer: ``GET /v1/customization/configs?page_size=1``
        * deployment: ``GET /v1/deployment/model-deployments?page_size=1``
        * datastore: ``GET /v1/hf/api/datasets/{probe_repo}/revision/main``; 200 or 404
          (the Hub API answered for an absent repository) both mean the service is up.

        A service is unhealthy on a connection error, a timeout, 401/403 (bad
        credentials), 5xx or any other unexpected status; the report says which.
        """
        page = {"page": 1, "page_size": 1}
        probes = {
            "entity-store": lambda: self._entity_http.probe("/v1/namespaces", params=page, timeout=timeout),
            "customizer": lambda: self._customizer_http.probe(
                "/v1/customization/configs", params=page, timeout=timeout
            ),
            "deployment": lambda: self._deployment_http.probe(
                "/v1/deployment/model-deployments", params=page, timeout=timeout
            ),
            "datastore": lambda: self._datastore_http.probe(
                f"/v1/hf/api/datasets/{_repo_id_path(probe_repo)}/revision/main",
                ok_status=frozenset({404}),
                timeout=timeout,
            ),
        }
        unknown = set(services) - set(probes)
        if unknown:
            raise ConfigError(f"unknown services {sorted(unknown)}; known: {list(probes)}")
        results = await asyncio.gather(*(probes[name]() for name in services))
        return HealthReport(services=list(results))
