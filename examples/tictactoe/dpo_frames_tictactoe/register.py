"""NAT plugin entry point (``nat.components``): importing this module registers the components."""

from .evaluator import optimal_move_rate_evaluator  # noqa: F401  (registers _type: tictactoe_optimal_move_rate)
from .workflow import tictactoe_workflow  # noqa: F401  (registers _type: dpo_frames_tictactoe)
