"""Stage 2: steps -> the candidates frame (one row per scored candidate) and the rejects frame.

- :mod:`~dpo_frames.candidates.rules`: the rules (reject reasons, value checks), shared by
- :mod:`~dpo_frames.candidates.sql`: the path over a steps frame, vectorized in DuckDB, and
- :mod:`~dpo_frames.candidates.objects`: the path over in-memory NAT step objects;
- :mod:`~dpo_frames.candidates.collect`: one file of any kind -> candidates (what the commands read).
"""

from dpo_frames.candidates.collect import Collected, collect_candidates
from dpo_frames.candidates.extract import extract_candidates
from dpo_frames.candidates.rules import DEFAULT_STEP_NAME, RejectReason
from dpo_frames.candidates.summary import summarize_steps

__all__ = [
    "DEFAULT_STEP_NAME",
    "Collected",
    "RejectReason",
    "collect_candidates",
    "extract_candidates",
    "summarize_steps",
]
