"""A local emulator of the NeMo microservices endpoints dpo_frames uses.

One HTTP server (an ASGI app on uvicorn) plays the Entity Store, the Data Store (with its
Hugging Face Hub compatible API), the Customizer and Deployment management, with the
platform's paths, status codes and JSON shapes. Jobs and deployments move through their
states on a configurable clock; datasets are validated like the real service does; faults
(503, 429 with Retry-After, slow answers, dropped connections, failing or cancelled jobs)
can be injected by configuration. See :class:`Emulator` for an example.

Needs the ``emulator`` extra (``pip install 'dpo_frames[emulator]'``: starlette, uvicorn).
"""

from dpo_frames.errors import EmulatorStartError, MissingExtraError

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:
    raise MissingExtraError("the platform emulator", "emulator", exc.name or "starlette") from None

from .app import create_app
from .config import EmulatorConfig, FaultConfig, StagedFault
from .server import Emulator, serve
from .state import EmulatorState, RequestRecord

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorStartError",
    "EmulatorState",
    "FaultConfig",
    "RequestRecord",
    "StagedFault",
    "create_app",
    "serve",
]
