"""Stage 1: read NAT intermediate steps from any source into the steps frame."""

from dpo_frames.steps.read import StepsSource, read_steps
from dpo_frames.steps.sources import SourceKind, source_kind

__all__ = ["SourceKind", "StepsSource", "read_steps", "source_kind"]
