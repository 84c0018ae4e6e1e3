"""What the pair engine saw, kept and skipped: :class:`PairStats`."""

from __future__ import annotations

from pydantic import BaseModel


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
