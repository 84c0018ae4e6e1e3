"""Pair-building settings: the reference builder's keys, defaults and validation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from dpo_frames.candidates import DEFAULT_STEP_NAME


class PairConfig(BaseModel):
    """How preference pairs are built from scored candidates.

    Same fields, defaults and validation as NAT's reference ``dpo_traj_builder``, so a
    reference YAML block validates unchanged.

    Example:
        >>> from dpo_frames import PairConfig
        >>> PairConfig(exhaustive_pairs=False, min_score_diff=0.1).max_pairs_per_turn is None
        True
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    ttc_step_name: str = Field(
        default=DEFAULT_STEP_NAME,
        description="Name of the TTC_END intermediate steps that carry scored candidates.")
    exhaustive_pairs: bool = Field(
        default=True,
        description="True: every pair with score(chosen) > score(rejected); False: best vs worst per prompt.")
    min_score_diff: float = Field(
        default=0.0, ge=0.0, allow_inf_nan=False,
        description="Minimum score difference for a pair. Ties never pair, even at 0.")
    max_pairs_per_turn: int | None = Field(
        default=None, ge=1,
        description="Keep at most this many pairs per turn, largest score difference first. None: no limit.")
    reward_from_score_diff: bool = Field(
        default=True,
        description="Trajectory reward: True, the score difference; False, the chosen score.")
    require_multiple_candidates: bool = Field(
        default=True,
        description="Skip (and count) turns with a single candidate. They never yield a pair either way.")
