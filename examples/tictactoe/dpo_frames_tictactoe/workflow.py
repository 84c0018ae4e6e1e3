"""The NAT workflow ``_type: dpo_frames_tictactoe``: play one game per dataset item, no LLM.

The dataset item's question is the starting position (``"X.O/.X./..O"``); the side to
move is the agent. Every agent turn emits its scored candidates as TTC steps (see
:mod:`dpo_frames_tictactoe.ttc`); the answer is the game transcript as compact JSON.
"""

from __future__ import annotations

from nat.builder.builder import Builder
from nat.builder.context import Context
from nat.builder.function_info import FunctionInfo
from nat.cli.register_workflow import register_function
from nat.data_models.function import FunctionBaseConfig
from pydantic import Field

from .board import Board
from .game import AgentTurn, play_game
from .ttc import DEFAULT_STEP_NAME, PromptRecording, emit_turn


class TicTacToeWorkflowConfig(FunctionBaseConfig, name="dpo_frames_tictactoe"):
    """Settings of the tic-tac-toe candidate-generating agent."""

    num_candidates: int = Field(default=4, ge=1, le=9, description="Distinct legal moves sampled and scored per turn.")
    max_agent_turns: int = Field(default=5, ge=1, le=5, description="Stop after this many agent turns.")
    seed: int = Field(default=0, description="Seed of the candidate sampler (same seed, same games).")
    ttc_step_name: str = Field(default=DEFAULT_STEP_NAME, description="Name of the emitted TTC steps.")
    prompt_recording: PromptRecording = Field(
        default="prompt",
        description="What a candidate's TTC_END records as its input: 'prompt' (system rules and board) or "
        "'conversation' (as an LLM player's trace does: the conversation after its answer, which ends with the "
        "candidate's own output, with a failed attempt and the retry request before it for one candidate in four).",
    )


@register_function(config_type=TicTacToeWorkflowConfig)
async def tictactoe_workflow(config: TicTacToeWorkflowConfig, builder: Builder):
    """Build the workflow function (cheap, no side effects: NAT rebuilds it for every eval run)."""

    async def _play(position: str) -> str:
        """Play tic-tac-toe from ``position`` and return the JSON transcript."""
        manager = Context.get().intermediate_step_manager

        def record(turn: AgentTurn) -> None:
            emit_turn(turn, manager, step_name=config.ttc_step_name, recording=config.prompt_recording)

        game = play_game(
            Board.parse(position),
            num_candidates=config.num_candidates,
            max_agent_turns=config.max_agent_turns,
            seed=config.seed,
            on_turn=record,
        )
        return game.transcript()

    yield FunctionInfo.from_fn(
        _play,
        description="Play tic-tac-toe from a starting position; every turn's candidate moves are scored by minimax "
        "and recorded as TTC steps.",
    )
