"""Exact game values by minimax, and the move score used for DPO candidates.

Both players are assumed to play perfectly: the winner wins as fast as possible and the
loser delays the loss as long as possible. A move is scored from the point of view of the
player who makes it, with ``plies`` counting the move itself and every later move until
the game ends:

* win in ``plies`` moves:  ``(21 - plies) / 20``  -> 1.0 (immediate win) down to 0.6;
* draw:                    ``0.5``;
* loss in ``plies`` moves: ``(plies - 2) / 20``   -> 0.0 (opponent wins at once) up to 0.35.

So every win beats every draw beats every loss, faster wins and slower losses score
higher, and moves with the same outcome and length tie exactly (useful for DPO tests:
ties must never make a preference pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from .board import Board, Move

Outcome = Literal[1, 0, -1]


@dataclass(frozen=True, slots=True)
class Value:
    """Game-theoretic value for the side to move: ``outcome`` (+1 win, 0 draw, -1 loss) and ``plies`` left."""

    outcome: Outcome
    plies: int

    def preference(self) -> tuple[int, int]:
        """Sort key: larger is better for the side to move."""
        if self.outcome == 1:
            return (1, -self.plies)
        if self.outcome == -1:
            return (-1, self.plies)
        return (0, 0)


@cache
def _solve(cells: str) -> Value:
    board = Board(cells)
    if board.winner() is not None:
        return Value(-1, 0)  # the previous mover completed a line: the side to move has lost
    if board.is_full():
        return Value(0, 0)
    best: Value | None = None
    for move in board.legal_moves():
        child = _solve(board.play(move).cells)
        mine = Value(-child.outcome, child.plies + 1)  # type: ignore[arg-type]
        if best is None or mine.preference() > best.preference():
            best = mine
    assert best is not None
    return best


def solve(board: Board) -> Value:
    """Value of ``board`` for its side to move under perfect play by both sides."""
    return _solve(board.cells)


def move_value(board: Board, move: Move) -> Value:
    """Value of playing ``move`` on ``board``, for the player making it (``plies`` includes the move)."""
    child = solve(board.play(move))
    return Value(-child.outcome, child.plies + 1)  # type: ignore[arg-type]


def value_to_score(value: Value) -> float:
    """Map a move value to a score in [0, 1] (see the module docstring)."""
    if value.outcome == 1:
        return (21 - value.plies) / 20
    if value.outcome == -1:
        return (value.plies - 2) / 20
    return 0.5


def score_move(board: Board, move: Move) -> float:
    """Exact score in [0, 1] of ``move`` on ``board`` for the player making it."""
    return value_to_score(move_value(board, move))


def best_score(board: Board) -> float:
    """The highest score any legal move reaches on ``board``."""
    return max(score_move(board, m) for m in board.legal_moves())
