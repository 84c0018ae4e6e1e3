"""Connection settings for the NeMo microservices platform: one place for hosts, timeouts,
credentials and the retry policy.

Secrets are :class:`pydantic.SecretStr`, so neither ``repr(settings)`` nor
``settings.model_dump()`` shows them; only the transport reads them, to build the
``Authorization`` header.

Environment variables read by :meth:`CustomizerSettings.from_env` (all optional except a
host):

====================================  ==================================================
``NEMO_MICROSERVICES_BASE_URL``       ``entity_host`` (same variable as the official SDK)
``NEMO_DATASTORE_URL``                ``datastore_host`` (defaults to ``entity_host``)
``NEMO_CUSTOMIZER_URL``               ``customizer_host`` (defaults to ``entity_host``)
``NEMO_DEPLOYMENT_URL``               ``deployment_host`` (defaults to ``entity_host``)
``NEMO_API_TOKEN``                    ``token``: bearer token sent to every service
``NEMO_DATASTORE_TOKEN`` / ``HF_TOKEN``  ``hf_token``: bearer token for the Data Store
====================================  ==================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["CustomizerSettings", "RetryPolicy"]


class RetryPolicy(BaseModel):
    """How failed calls are retried.

    Retried: connection errors, timeouts, HTTP 429 and 5xx. A 429 or 503 answer with a
    ``Retry-After`` header waits what the server asks (capped at ``retry_after_max``);
    everything else waits an exponentially growing, jittered delay:
    ``min(backoff_max, backoff_base * 2**n) + uniform(0, jitter)``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: int = Field(default=5, ge=1, le=50, description="Total tries per call, first one included.")
    backoff_base: float = Field(default=0.5, ge=0.0, description="First backoff delay, seconds.")
    backoff_max: float = Field(default=30.0, ge=0.0, description="Cap of one backoff delay, seconds.")
    jitter: float = Field(default=0.5, ge=0.0, description="Uniform random extra delay, seconds.")
    retry_after_max: float = Field(
        default=120.0, ge=0.0, description="Cap on a server-requested Retry-After delay, seconds."
    )

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries (one attempt)."""
        return cls(attempts=1)


class CustomizerSettings(BaseModel):
    """Where the platform is and how to talk to it.

    ``entity_host`` serves the Entity Store and, unless overridden, the Customizer and
    Deployment management; ``datastore_host`` serves the Data Store (``/v1/datastore``)
    and its Hugging Face compatible API (``/v1/hf``).

    The Data Store is sent ``hf_token`` when set, else ``token``; no ``Authorization``
    header at all is sent when the relevant token is unset or empty (an empty bearer
    breaks real servers).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity_host: str = Field(description="Base URL of the Entity Store, e.g. http://nmp.example.com")
    datastore_host: str | None = Field(default=None, description="Data Store base URL (default: entity_host).")
    customizer_host: str | None = Field(default=None, description="Customizer base URL (default: entity_host).")
    deployment_host: str | None = Field(
        default=None, description="Deployment management base URL (default: entity_host)."
    )
    token: SecretStr | None = Field(default=None, description="Bearer token for the platform APIs.")
    hf_token: SecretStr | None = Field(default=None, description="Bearer token for the Data Store.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Read/write/pool timeout of one request.")
    connect_timeout_seconds: float = Field(default=10.0, gt=0, description="TCP connect timeout.")
    upload_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Read timeout for large-file uploads (server hashes the bytes)."
    )
    request_deadline_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Wall-clock cap of one attempt of a call (connect, send, read the whole answer), "
        "however slowly the server trickles it.",
    )
    call_deadline_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Wall-clock cap of one call: every attempt and every wait between attempts.",
    )
    upload_min_bytes_per_second: float = Field(
        default=256 * 1024,
        gt=0,
        description="Slowest upload rate tolerated: an upload's deadlines grow by its size at this rate.",
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    upload_chunk_bytes: int = Field(
        default=1024 * 1024, ge=3 * 1024, description="Read size when hashing or streaming files."
    )
    user_agent: str = Field(default="dpo-frames-customizer/0.1")

    @field_validator("entity_host", "datastore_host", "customizer_host", "deployment_host")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"host must be an http(s) URL, got {value!r}")
        return value

    @field_validator("token", "hf_token")
    @classmethod
    def _empty_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @model_validator(mode="after")
    def _default_hosts(self) -> CustomizerSettings:
        for name in ("datastore_host", "customizer_host", "deployment_host"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, self.entity_host)
        return self

    # Resolved hosts (never None after validation).
    @property
    def datastore_url(self) -> str:
        """Data Store base URL."""
        return self.datastore_host or self.entity_host

    @property
    def customizer_url(self) -> str:
        """Customizer base URL."""
        return self.customizer_host or self.entity_host

    @property
    def deployment_url(self) -> str:
        """Deployment management base URL."""
        return self.deployment_host or self.entity_host

    @property
    def datastore_token(self) -> SecretStr | None:
        """The token sent to the Data Store: ``hf_token`` if set, else ``token``."""
        return self.hf_token or self.token

    def secrets(self) -> list[str]:
        """Every secret value, for redaction of messages (never log this)."""
        return [s.get_secret_value() for s in (self.token, self.hf_token) if s is not None]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> CustomizerSettings:
        """Build settings from environment variables (see the module docstring); keyword
        arguments win over the environment."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        mapping = {
            "entity_host": ("NEMO_MICROSERVICES_BASE_URL",),
            "datastore_host": ("NEMO_DATASTORE_URL",),
            "customizer_host": ("NEMO_CUSTOMIZER_URL",),
            "deployment_host": ("NEMO_DEPLOYMENT_URL",),
            "token": ("NEMO_API_TOKEN",),
            "hf_token": ("NEMO_DATASTORE_TOKEN", "HF_TOKEN"),
        }
        for field, names in mapping.items():
            for name in names:
                if env.get(name):
                    values[field] = env[name]
                    break
        values.update(overrides)
        return cls.model_validate(values)
