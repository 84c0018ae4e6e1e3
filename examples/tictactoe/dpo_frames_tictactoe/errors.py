"""Errors raised by the tic-tac-toe example."""


class TicTacToeError(Exception):
    """Base class of every error raised by this example package."""


class InvalidPositionError(TicTacToeError, ValueError):
    """A board string does not describe a reachable, unfinished tic-tac-toe position."""


class IllegalMoveError(TicTacToeError, ValueError):
    """A move targets an occupied cell, a cell off the board, or a finished game."""
