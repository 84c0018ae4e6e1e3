"""The chat prompt an LLM player would see for one turn: system rules plus the board.

:func:`conversation_messages` is how an LLM player's trace records it instead (NVIDIA's
``dpo_tic_tac_toe`` example with a real model): the conversation *after* the model
answered, its answer appended as the last (assistant) message, with any failed attempt and
the retry request before it.
"""

from __future__ import annotations

import hashlib

from .board import Board

INVALID_ATTEMPT = "I play row 4, column 4."
"""What a failed attempt said (no such cell): the player was asked again."""

SYSTEM_PROMPT = (
    "You are playing tic-tac-toe on a 3x3 board. Rows and columns are numbered 1 to 3 "
    "from the top-left corner. '.' marks an empty cell. Players alternate placing their "
    "mark in an empty cell; three in a row, column or diagonal wins. Answer with exactly "
    "one move in the form 'I play row R, column C.'"
)


def turn_messages(board: Board) -> list[dict[str, str]]:
    """OpenAI-style chat messages (system rules, then the user's board) for the side to move."""
    user = f"{board.to_grid()}\n\nYou play {board.to_move}. It is your move."
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def failed_attempts(turn_id: str, candidate_index: int) -> int:
    """How many invalid answers the simulated player gave before this candidate's (0 or 1, one in four,
    deterministic for the turn and candidate)."""
    digest = hashlib.sha1(f"{turn_id}|{candidate_index}".encode()).digest()
    return 1 if digest[0] % 4 == 0 else 0


def conversation_messages(board: Board, answer: str, attempts: int = 0) -> list[dict[str, str]]:
    """The conversation after the player answered ``answer``: the turn's prompt, ``attempts`` failed
    attempts each followed by the retry request, then the answer itself as the last message."""
    messages = turn_messages(board)
    legal = ", ".join(f"({m.row},{m.col})" for m in board.legal_moves())
    for left in range(attempts, 0, -1):
        retry = (
            f"You made an invalid move. You have {left} attempts left.\nAvailable moves are: {legal}\n"
            f"Current board:\n{board.to_grid()}"
        )
        messages += [{"role": "assistant", "content": INVALID_ATTEMPT}, {"role": "user", "content": retry}]
    return [*messages, {"role": "assistant", "content": answer}]
