"""Tic-tac-toe positions: parsing, rendering, legal moves and game end.

A position is an immutable :class:`Board` of nine cells (``"X"``, ``"O"`` or ``"."``),
row-major from the top-left corner. Its text form is three rows separated by ``/``,
e.g. ``"X.O/.X./..O"``; a plain nine-character string is accepted too. X always moves
first, so the side to move follows from the counts of marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import IllegalMoveError, InvalidPositionError

Mark = Literal["X", "O"]
EMPTY = "."
_LINES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2),
    (3, 4, 5),
    (6, 7, 8),  # rows
    (0, 3, 6),
    (1, 4, 7),
    (2, 5, 8),  # columns
    (0, 4, 8),
    (2, 4, 6),  # diagonals
)


def other(mark: Mark) -> Mark:
    """Return the opponent's mark."""
    return "O" if mark == "X" else "X"


@dataclass(frozen=True, slots=True)
class Move:
    """A cell on the board, 0-based ``index`` in row-major order (0..8)."""

    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 8:
            raise IllegalMoveError(f"cell index must be in 0..8, got {self.index}")

    @property
    def row(self) -> int:
        """1-based row (1 = top)."""
        return self.index // 3 + 1

    @property
    def col(self) -> int:
        """1-based column (1 = left)."""
        return self.index % 3 + 1

    @classmethod
    def at(cls, row: int, col: int) -> Move:
        """Build a move from 1-based ``row`` and ``col``."""
        if not (1 <= row <= 3 and 1 <= col <= 3):
            raise IllegalMoveError(f"row and column must be in 1..3, got row {row}, column {col}")
        return cls((row - 1) * 3 + (col - 1))

    def to_text(self) -> str:
        """The move as the agent says it, e.g. ``"I play row 2, column 3."``."""
        return f"I play row {self.row}, column {self.col}."


@dataclass(frozen=True, slots=True)
class Board:
    """An immutable tic-tac-toe position."""

    cells: str

    @classmethod
    def parse(cls, text: str) -> Board:
        """Parse ``"X.O/.X./..O"`` (or the nine cells without slashes) and check it is reachable."""
        raw = text.strip()
        flat = raw.replace("/", "")
        if len(flat) != 9 or (("/" in raw) and [len(r) for r in raw.split("/")] != [3, 3, 3]):
            raise InvalidPositionError(
                f"a position is three rows of three cells separated by '/', e.g. 'X.O/.X./..O'; got {text!r}"
            )
        flat = flat.upper()
        bad = sorted(set(flat) - {"X", "O", EMPTY})
        if bad:
            raise InvalidPositionError(f"cells must be 'X', 'O' or '.', got {bad} in {text!r}")
        board = cls(flat)
        board._check_reachable(text)
        return board

    @classmethod
    def empty(cls) -> Board:
        """The empty board (X to move)."""
        return cls(EMPTY * 9)

    def _check_reachable(self, text: str) -> None:
        xs, os_ = self.cells.count("X"), self.cells.count("O")
        if xs not in (os_, os_ + 1):
            raise InvalidPositionError(
                f"X moves first, so X count must equal O count or exceed it by one; got X={xs}, O={os_} in {text!r}"
            )
        x_won, o_won = self._has_line("X"), self._has_line("O")
        if x_won and o_won:
            raise InvalidPositionError(f"both players have three in a row in {text!r}")
        if x_won and xs != os_ + 1:
            raise InvalidPositionError(f"X has three in a row but O moved afterwards in {text!r}")
        if o_won and xs != os_:
            raise InvalidPositionError(f"O has three in a row but X moved afterwards in {text!r}")

    def _has_line(self, mark: Mark) -> bool:
        c = self.cells
        return any(c[a] == c[b] == c[d] == mark for a, b, d in _LINES)

    @property
    def to_move(self) -> Mark:
        """The side to move (X when the counts are equal)."""
        return "X" if self.cells.count("X") == self.cells.count("O") else "O"

    def winner(self) -> Mark | None:
        """The player with three in a row, if any."""
        for mark in ("X", "O"):
            if self._has_line(mark):
                return mark  # type: ignore[return-value]
        return None

    def is_full(self) -> bool:
        """True when no empty cell is left."""
        return EMPTY not in self.cells

    def is_over(self) -> bool:
        """True when someone has won or the board is full."""
        return self.winner() is not None or self.is_full()

    def legal_moves(self) -> list[Move]:
        """Empty cells in row-major order; none once the game is over."""
        if self.is_over():
            return []
        return [Move(i) for i, c in enumerate(self.cells) if c == EMPTY]

    def play(self, move: Move) -> Board:
        """Return the position after the side to move plays ``move``."""
        if self.is_over():
            raise IllegalMoveError(f"the game is over in {self.to_text()!r}")
        if self.cells[move.index] != EMPTY:
            raise IllegalMoveError(f"row {move.row}, column {move.col} is already taken in {self.to_text()!r}")
        i = move.index
        return Board(self.cells[:i] + self.to_move + self.cells[i + 1 :])

    def to_text(self) -> str:
        """Compact text form, e.g. ``"X.O/.X./..O"``."""
        c = self.cells
        return f"{c[0:3]}/{c[3:6]}/{c[6:9]}"

    def to_grid(self) -> str:
        """A human-readable grid with 1-based row and column numbers."""
        lines = ["    1   2   3"]
        for r in range(3):
            row = self.cells[r * 3 : (r + 1) * 3]
            lines.append(f"{r + 1}   " + " | ".join(row))
            if r < 2:
                lines.append("   ---+---+---")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()
