"""Stage 1: read NAT intermediate steps from any source into the steps frame."""

from dpo_frames.steps.read import DEFAULT_BATCH_SIZE, StepsSource, iter_steps, read_steps
from dpo_frames.steps.sources import SourceKind, source_kind
from dpo_frames.steps.write import StepsWriter

__all__ = ["DEFAULT_BATCH_SIZE", "SourceKind", "StepsSource", "StepsWriter", "iter_steps", "read_steps", "source_kind"]
