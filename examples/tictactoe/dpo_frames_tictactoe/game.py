"""Play one game from a starting position: pure logic, no NAT.

At each of its turns the agent samples a few distinct legal moves (deterministic for a
given start position, seed and turn), scores each exactly by minimax, and plays the best
(the lowest candidate index wins a tie). The opponent answers with a fixed policy: win if
it can, else block, else the first free cell of centre, corners, edges. Nothing here is
random across runs: the same start and settings give the same game.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .board import Board, Mark, Move, other
from .errors import InvalidPositionError
from .minimax import best_score, score_move
from .prompts import turn_messages

Result = Literal["agent_win", "draw", "agent_loss", "unfinished"]
_OPPONENT_ORDER = (4, 0, 2, 6, 8, 1, 3, 5, 7)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One scored candidate move of an agent turn."""

    index: int
    move: Move
    score: float
    is_selected: bool
    is_optimal: bool

    @property
    def text(self) -> str:
        """The response text recorded as the candidate's output."""
        return self.move.to_text()


@dataclass(frozen=True, slots=True)
class AgentTurn:
    """One agent decision: the position, its prompt and every scored candidate."""

    turn_index: int
    turn_id: str
    board: Board
    player: Mark
    messages: list[dict[str, str]]
    candidates: list[Candidate]
    best_possible_score: float

    @property
    def chosen(self) -> Candidate:
        """The candidate the agent played."""
        return next(c for c in self.candidates if c.is_selected)


@dataclass(slots=True)
class GameRecord:
    """Everything that happened in one game."""

    start: Board
    agent: Mark
    turns: list[AgentTurn] = field(default_factory=list)
    moves: list[tuple[Mark, Move]] = field(default_factory=list)
    final: Board | None = None
    result: Result = "unfinished"

    def transcript(self) -> str:
        """The workflow's answer: a compact JSON transcript of the game."""
        return json.dumps(
            {
                "start": self.start.to_text(),
                "agent": self.agent,
                "moves": [f"{mark} r{move.row}c{move.col}" for mark, move in self.moves],
                "final": (self.final or self.start).to_text(),
                "result": self.result,
                "optimal_moves": sum(t.chosen.is_optimal for t in self.turns),
                "agent_turns": len(self.turns),
            },
            separators=(",", ":"),
        )


def opponent_move(board: Board) -> Move:
    """The opponent's fixed policy: win, else block, else centre, corners, edges."""
    legal = {m.index for m in board.legal_moves()}
    me = board.to_move
    for target in (me, other(me)):
        for i in sorted(legal):
            trial = board.cells[:i] + target + board.cells[i + 1 :]
            if Board(trial).winner() == target:
                return Move(i)
    return Move(next(i for i in _OPPONENT_ORDER if i in legal))


def turn_id_for(start: Board, seed: int, turn_index: int) -> str:
    """Stable turn id, unique per (start position, seed, turn)."""
    digest = hashlib.sha1(f"{seed}|{start.to_text()}".encode()).hexdigest()[:8]
    return f"turn_{turn_index}_{digest}"


def sample_candidates(board: Board, *, start: Board, seed: int, turn_index: int, num_candidates: int) -> list[Move]:
    """Distinct legal moves for one turn, deterministic for (seed, start, turn)."""
    legal = board.legal_moves()
    rng = random.Random(f"{seed}|{start.to_text()}|{turn_index}")
    return rng.sample(legal, min(num_candidates, len(legal)))


def play_game(
    start: Board,
    *,
    num_candidates: int = 4,
    max_agent_turns: int = 5,
    seed: int = 0,
    on_turn: Callable[[AgentTurn], None] | None = None,
) -> GameRecord:
    """Play from ``start`` (the side to move is the agent) until the game ends or the turn limit.

    ``on_turn`` is called with each agent turn as soon as it is decided, before the move
    is played, so a caller can record the candidates in play order.
    """
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be at least 1, got {num_candidates}")
    if max_agent_turns < 1:
        raise ValueError(f"max_agent_turns must be at least 1, got {max_agent_turns}")
    if start.is_over():
        raise InvalidPositionError(f"the game is already over in {start.to_text()!r}")
    record = GameRecord(start=start, agent=start.to_move)
    board = start
    while not board.is_over() and len(record.turns) < max_agent_turns:
        turn_index = len(record.turns)
        moves = sample_candidates(board, start=start, seed=seed, turn_index=turn_index, num_candidates=num_candidates)
        scores = [score_move(board, m) for m in moves]
        top = max(scores)
        chosen_at = scores.index(top)
        best = best_score(board)
        turn = AgentTurn(
            turn_index=turn_index,
            turn_id=turn_id_for(start, seed, turn_index),
            board=board,
            player=board.to_move,
            messages=turn_messages(board),
            candidates=[
                Candidate(index=i, move=m, score=s, is_selected=(i == chosen_at), is_optimal=(s == best))
                for i, (m, s) in enumerate(zip(moves, scores))
            ],
            best_possible_score=best,
        )
        if on_turn is not None:
            on_turn(turn)
        record.turns.append(turn)
        record.moves.append((board.to_move, turn.chosen.move))
        board = board.play(turn.chosen.move)
        if not board.is_over():
            reply = opponent_move(board)
            record.moves.append((board.to_move, reply))
            board = board.play(reply)
    record.final = board
    winner = board.winner()
    if winner is not None:
        record.result = "agent_win" if winner == record.agent else "agent_loss"
    elif board.is_full():
        record.result = "draw"
    return record
