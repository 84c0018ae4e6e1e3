"""Pair-building settings: the reference builder's keys, defaults and validation, plus strategies."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dpo_frames.candidates.rules import DEFAULT_STEP_NAME


class PairStrategy(StrEnum):
    """Which eligible pairs of a prompt group become preference pairs.

    Every strategy picks among the *eligible* pairs: chosen scored strictly higher than
    rejected (ties never pair), the difference at least ``min_score_diff``, different
    texts. "The best" candidate of a group is the highest-scoring candidate that has an
    eligible pair; when several tie for the top score, the one with the lowest
    ``candidate_index``, then the first in input order (the tied runners-up never pair
    with it: they are ties).
    """

    EXHAUSTIVE = "exhaustive"
    """Every eligible pair (the reference's ``exhaustive_pairs: true``)."""
    BEST_VS_WORST = "best_vs_worst"
    """The eligible pair with the largest score difference (the reference's ``exhaustive_pairs: false``)."""
    BEST_VS_RANDOM = "best_vs_random"
    """The best against one of its eligible partners, drawn with ``seed`` (a content hash, not row order)."""
    BEST_VS_ALL = "best_vs_all"
    """The best against every eligible partner."""
    BEST_VS_MEAN_MINUS_2SD = "best_vs_mean_minus_2sd"
    """The best against the eligible partner whose score is closest to mean - 2 * sd of the group's scores."""
    ADJACENT = "adjacent"
    """Each candidate against the next lower score among its eligible partners (a chain down the ranking)."""


class PairConfig(BaseModel):
    """How preference pairs are built from scored candidates.

    Same fields, defaults and validation as NAT's reference ``dpo_traj_builder``, so a
    reference YAML block validates unchanged. New fields (``strategy``, ``seed``,
    ``max_candidates_per_turn``) default to the reference behaviour.

    ``strategy`` supersedes ``exhaustive_pairs``: unset, it follows ``exhaustive_pairs``
    (true: ``exhaustive``, false: ``best_vs_worst``). Set, it decides, and
    ``exhaustive_pairs`` is made to say whether it is ``exhaustive`` (so a dumped config
    loads back and readers of the old key are not misled). Giving both is a validation
    error when they disagree: ``exhaustive_pairs: true`` with any other strategy, or
    ``false`` with ``exhaustive``. Read the strategy in effect from :attr:`pair_strategy`.

    Example:
        >>> from dpo_frames import PairConfig
        >>> PairConfig(exhaustive_pairs=False, min_score_diff=0.1).pair_strategy
        <PairStrategy.BEST_VS_WORST: 'best_vs_worst'>
        >>> PairConfig(strategy="best_vs_mean_minus_2sd").pair_strategy.value
        'best_vs_mean_minus_2sd'
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    ttc_step_name: str = Field(
        default=DEFAULT_STEP_NAME, description="Name of the TTC_END intermediate steps that carry scored candidates."
    )
    exhaustive_pairs: bool = Field(
        default=True,
        description="True: every pair with score(chosen) > score(rejected); False: best vs worst per prompt. "
        "Superseded by strategy.",
    )
    min_score_diff: float = Field(
        default=0.0,
        ge=0.0,
        allow_inf_nan=False,
        description="Minimum score difference for a pair. Ties never pair, even at 0.",
    )
    max_pairs_per_turn: int | None = Field(
        default=None,
        ge=1,
        description="Keep at most this many pairs per turn, largest score difference first. None: no limit.",
    )
    reward_from_score_diff: bool = Field(
        default=True, description="Trajectory reward: True, the score difference; False, the chosen score."
    )
    require_multiple_candidates: bool = Field(
        default=True, description="Skip (and count) turns with a single candidate. They never yield a pair either way."
    )
    strategy: PairStrategy | None = Field(
        default=None,
        description="New: exhaustive, best_vs_worst, best_vs_random, best_vs_all, best_vs_mean_minus_2sd or "
        "adjacent. None: from exhaustive_pairs.",
    )
    seed: int = Field(
        default=0, ge=0, lt=2**64, description="New: seed of best_vs_random (the same seed draws the same pairs)."
    )
    max_candidates_per_turn: int | None = Field(
        default=None,
        ge=2,
        description="New: bound on the candidates of one prompt group that are paired: the ceil(k/2) highest "
        "and floor(k/2) lowest scores are kept, the rest counted as trimmed. None: no bound.",
    )

    @model_validator(mode="after")
    def _strategy_agrees_with_exhaustive_pairs(self) -> PairConfig:
        if self.strategy is None:
            return self
        exhaustive = self.strategy is PairStrategy.EXHAUSTIVE
        if "exhaustive_pairs" in self.model_fields_set and self.exhaustive_pairs != exhaustive:
            said = "every pair" if self.exhaustive_pairs else "not every pair"
            raise ValueError(
                f"exhaustive_pairs={self.exhaustive_pairs} ({said}) disagrees with strategy {self.strategy.value!r}; "
                f"set only strategy (exhaustive_pairs is its older spelling)"
            )
        self.__dict__["exhaustive_pairs"] = exhaustive  # no re-validation; keeps model_fields_set as given
        return self

    @property
    def pair_strategy(self) -> PairStrategy:
        """The strategy in effect: ``strategy``, or the one ``exhaustive_pairs`` names."""
        if self.strategy is not None:
            return self.strategy
        return PairStrategy.EXHAUSTIVE if self.exhaustive_pairs else PairStrategy.BEST_VS_WORST
