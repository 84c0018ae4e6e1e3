"""Errors of the distributed backend (all are :class:`~dpo_frames.errors.DpoFramesError`)."""

from __future__ import annotations

from dpo_frames.errors import DpoFramesError


class DistributedError(DpoFramesError):
    """Base class of the errors the distributed backend raises on purpose."""


class EngineMissingError(DistributedError, ImportError):
    """The engine's optional dependencies are not installed."""

    def __init__(self, engine: str, extra: str, missing: str) -> None:
        super().__init__(f"engine {engine!r} needs the optional dependencies of dpo_frames[{extra}] "
                         f"(module {missing!r} is missing): pip install 'dpo_frames[{extra}]'")
        self.engine, self.extra, self.missing = engine, extra, missing


class ClusterError(DistributedError):
    """The cluster could not be reached, or a task failed on it."""
