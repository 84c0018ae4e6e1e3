"""Stage 3: candidates -> preference pairs (the vectorized pair engine).

- :mod:`~dpo_frames.pairs.config`: :class:`PairConfig` (the reference builder's keys) and :class:`PairStrategy`;
- :mod:`~dpo_frames.pairs.engine`: :func:`build_pairs`, the narrow self-join, filters, caps and gathers;
- :mod:`~dpo_frames.pairs.strategies`: one selector per strategy;
- :mod:`~dpo_frames.pairs.stats`: :class:`PairStats`, what was kept and skipped.
"""

from dpo_frames.pairs.config import PairConfig, PairStrategy
from dpo_frames.pairs.engine import build_pairs
from dpo_frames.pairs.stats import PairStats

__all__ = ["PairConfig", "PairStats", "PairStrategy", "build_pairs"]
