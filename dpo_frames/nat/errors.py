"""Errors of the NAT plugin (the core and the Customizer client have their own)."""

from __future__ import annotations

from dpo_frames.errors import DpoFramesError


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


class EmptyDatasetError(NatPluginError, ValueError):
    """There are no preference pairs to train on."""
