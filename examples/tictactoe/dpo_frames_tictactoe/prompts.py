"""The chat prompt an LLM player would see for one turn: system rules plus the board."""

from __future__ import annotations

from .board import Board

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
