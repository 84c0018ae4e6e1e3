"""What the pair engine saw, kept and skipped: :class:`PairStats`."""

from __future__ import annotations

from pydantic import BaseModel

PROMPT_MISMATCH_WARN_SHARE = 0.1
"""The share of a run's same-turn candidate pairs lost to prompt mismatch above which it is a warning."""


class PairStats(BaseModel):
    """What :func:`build_pairs` saw, kept and skipped, by reason.

    Candidate pairs are unordered pairs of candidates that share a turn and a prompt.
    They partition as ``candidate_pairs = trimmed_pairs + tied_pairs + below_margin_pairs
    + identical_response_pairs + eligible_pairs`` and the eligible ones as
    ``eligible_pairs = pairs + not_best_vs_worst_pairs + not_selected_pairs + capped_pairs``.
    ``not_best_vs_worst_pairs`` counts what the ``best_vs_worst`` strategy left out,
    ``not_selected_pairs`` what any other non-exhaustive strategy left out (one of the two
    is always 0). ``trimmed_candidates`` are candidates left out of the pairing by
    ``max_candidates_per_turn``; ``trimmed_pairs`` the candidate pairs they were part of.

    :attr:`prompt_mismatch_share` is the share of same-turn candidate pairs lost to prompt
    mismatch; :meth:`prompt_mismatch_warning` says it, with the likely cause, when it is
    noticeable.
    """

    candidates: int = 0
    invalid_candidates: int = 0
    turns: int = 0
    single_candidate_turns: int = 0
    prompt_groups: int = 0
    prompt_mismatch_turns: int = 0
    cross_prompt_pairs: int = 0
    candidate_pairs: int = 0
    tied_pairs: int = 0
    below_margin_pairs: int = 0
    identical_response_pairs: int = 0
    eligible_pairs: int = 0
    not_best_vs_worst_pairs: int = 0
    capped_pairs: int = 0
    pairs: int = 0
    trimmed_candidates: int = 0
    trimmed_pairs: int = 0
    not_selected_pairs: int = 0

    @property
    def prompt_mismatch_share(self) -> float:
        """The share of same-turn candidate pairs not made because their prompts differ."""
        total = self.cross_prompt_pairs + self.candidate_pairs
        return self.cross_prompt_pairs / total if total else 0.0

    def prompt_mismatch_warning(self, threshold: float = PROMPT_MISMATCH_WARN_SHARE) -> str | None:
        """What to warn about when prompt mismatch lost more than ``threshold`` of the pairs, else None.

        Example:
            >>> stats = PairStats(turns=4, prompt_mismatch_turns=3, cross_prompt_pairs=9, candidate_pairs=3)
            >>> stats.prompt_mismatch_warning()[:58]
            'prompt mismatch: 9 of 12 same-turn candidate pairs (75%) i'
            >>> PairStats(turns=4, prompt_mismatch_turns=1, cross_prompt_pairs=1, candidate_pairs=99).prompt_mismatch_warning()
        """
        share = self.prompt_mismatch_share
        if share <= threshold:
            return None
        return (
            f"prompt mismatch: {self.cross_prompt_pairs} of {self.cross_prompt_pairs + self.candidate_pairs} "
            f"same-turn candidate pairs ({share:.0%}) in {self.prompt_mismatch_turns} of {self.turns} turns were "
            "not made, because candidates of one turn were recorded with different prompts; likely cause: the "
            "workflow records each candidate's prompt after its own answer or its retries (earlier failed "
            "attempts in the conversation), or puts candidate-specific text in the prompt. Compare the "
            "prompt_messages of one turn's candidates"
        )

    def skipped(self) -> dict[str, int]:
        """The non-zero skip counts, by reason."""
        keys = (
            "invalid_candidates",
            "single_candidate_turns",
            "prompt_mismatch_turns",
            "cross_prompt_pairs",
            "trimmed_candidates",
            "trimmed_pairs",
            "tied_pairs",
            "below_margin_pairs",
            "identical_response_pairs",
            "not_best_vs_worst_pairs",
            "not_selected_pairs",
            "capped_pairs",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k)}
