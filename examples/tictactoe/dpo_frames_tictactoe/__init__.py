"""Offline NAT example for dpo_frames: a tic-tac-toe agent with no LLM.

Each dataset item is a starting position; the agent samples a few legal moves per turn,
scores them exactly by minimax and records them as TTC steps, which dpo_frames turns into
DPO preference pairs. The game logic (:mod:`.board`, :mod:`.minimax`, :mod:`.game`) does
not import NAT; :mod:`.workflow`, :mod:`.evaluator` and :mod:`.ttc` are the NAT side.
"""

from .board import Board, Move
from .errors import IllegalMoveError, InvalidPositionError, TicTacToeError
from .game import AgentTurn, Candidate, GameRecord, play_game
from .minimax import Value, move_value, score_move, solve, value_to_score

__all__ = [
    "AgentTurn",
    "Board",
    "Candidate",
    "GameRecord",
    "IllegalMoveError",
    "InvalidPositionError",
    "Move",
    "TicTacToeError",
    "Value",
    "move_value",
    "play_game",
    "score_move",
    "solve",
    "value_to_score",
]
