"""Record an agent turn's scored candidates as NAT TTC intermediate steps.

Each candidate becomes a ``TTC_START`` followed by a ``TTC_END`` with the same UUID (NAT
drops an END whose START it has not seen). Both carry a ``TTCEventData`` with
``turn_id``, ``turn_index``, ``candidate_index`` and the prompt as chat messages in
``input``; the END adds the response in ``output`` and the exact minimax ``score``.

With ``recording="conversation"`` the END's ``input`` is what an LLM player's trace holds
instead: the conversation after the answer, which ends with the candidate's own output
(and, for some candidates, a failed attempt and the retry request before it).
"""

from __future__ import annotations

import uuid
from typing import Literal, Protocol

from nat.data_models.intermediate_step import IntermediateStepPayload, IntermediateStepType, TTCEventData

from .game import AgentTurn, Candidate
from .prompts import conversation_messages, failed_attempts

DEFAULT_STEP_NAME = "dpo_candidate_move"
PromptRecording = Literal["prompt", "conversation"]


class StepSink(Protocol):
    """Anything with NAT's ``push_intermediate_step`` (the context's intermediate step manager)."""

    def push_intermediate_step(self, payload: IntermediateStepPayload) -> None:
        """Publish one intermediate step."""


def candidate_metadata(turn: AgentTurn, candidate: Candidate) -> dict[str, object]:
    """Metadata attached to a candidate's TTC_END step."""
    return {
        "is_selected": candidate.is_selected,
        "is_optimal": candidate.is_optimal,
        "player": turn.player,
        "row": candidate.move.row,
        "col": candidate.move.col,
        "board": turn.board.to_text(),
        "best_possible_score": turn.best_possible_score,
    }


def recorded_input(turn: AgentTurn, candidate: Candidate, recording: PromptRecording) -> list[dict[str, str]]:
    """The ``input`` a candidate's TTC_END carries: the turn's prompt, or the conversation after its answer."""
    if recording == "prompt":
        return turn.messages
    attempts = failed_attempts(turn.turn_id, candidate.index)
    return conversation_messages(turn.board, candidate.text, attempts)


def emit_turn(
    turn: AgentTurn, sink: StepSink, *, step_name: str = DEFAULT_STEP_NAME, recording: PromptRecording = "prompt"
) -> None:
    """Push a TTC_START/TTC_END pair for every candidate of ``turn``, in candidate order."""
    for candidate in turn.candidates:
        step_uuid = str(uuid.uuid4())
        sink.push_intermediate_step(
            IntermediateStepPayload(
                event_type=IntermediateStepType.TTC_START,
                name=step_name,
                data=TTCEventData(
                    input=turn.messages,
                    turn_id=turn.turn_id,
                    turn_index=turn.turn_index,
                    candidate_index=candidate.index,
                ),
                UUID=step_uuid,
            )
        )
        sink.push_intermediate_step(
            IntermediateStepPayload(
                event_type=IntermediateStepType.TTC_END,
                name=step_name,
                data=TTCEventData(
                    input=recorded_input(turn, candidate, recording),
                    output=candidate.text,
                    turn_id=turn.turn_id,
                    turn_index=turn.turn_index,
                    candidate_index=candidate.index,
                    score=candidate.score,
                ),
                metadata=candidate_metadata(turn, candidate),
                UUID=step_uuid,
            )
        )
