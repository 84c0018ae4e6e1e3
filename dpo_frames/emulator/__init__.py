"""A local emulator of the NeMo microservices endpoints dpo_frames uses.

One HTTP server (an ASGI app on uvicorn) plays the Entity Store, the Data Store (with its
Hugging Face Hub compatible API), the Customizer and Deployment management, with the
platform's paths, status codes and JSON shapes. Jobs and deployments move through their
states on a configurable clock; datasets are validated like the real service does; faults
(503, 429 with Retry-After, slow answers, dropped connections, failing or cancelled jobs)
can be injected by configuration. See :class:`Emulator` for an example.
"""

from dpo_frames.errors import EmulatorStartError

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
