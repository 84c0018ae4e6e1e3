"""dpo_frames: NeMo Agent Toolkit runs -> Polars frames -> DPO preference data."""

__version__ = "0.1.0"
