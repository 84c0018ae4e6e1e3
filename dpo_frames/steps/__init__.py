"""Stage 1: read NAT intermediate steps from any source into the steps frame."""

from dpo_frames.steps.read import StepsSource, read_steps

__all__ = ["StepsSource", "read_steps"]
