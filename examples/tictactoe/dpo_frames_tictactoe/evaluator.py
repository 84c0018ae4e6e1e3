"""The NAT evaluator ``_type: tictactoe_optimal_move_rate``.

``nvidia-nat-eval`` 1.9 registers no evaluators, and without at least one evaluator
result NAT writes no ``workflow_output.json``; this tiny one scores each game by the
share of agent moves that were minimax-optimal (read from the workflow's transcript).
"""

from __future__ import annotations

import json

from nat.builder.builder import EvalBuilder
from nat.builder.evaluator import EvaluatorInfo
from nat.cli.register_workflow import register_evaluator
from nat.data_models.evaluator import EvalInput, EvaluatorBaseConfig
from nat.plugins.eval.data_models.evaluator_io import EvalOutput, EvalOutputItem


class OptimalMoveRateConfig(EvaluatorBaseConfig, name="tictactoe_optimal_move_rate"):
    """Share of the agent's moves that were optimal (no settings)."""


def score_transcript(output: object) -> tuple[float, dict[str, object]]:
    """Score one workflow answer; returns ``(score, reasoning)``."""
    data = json.loads(output) if isinstance(output, str) else output
    if not isinstance(data, dict) or "agent_turns" not in data:
        raise ValueError(f"not a tic-tac-toe transcript: {str(output)[:120]!r}")
    turns = int(data["agent_turns"])
    optimal = int(data["optimal_moves"])
    score = optimal / turns if turns else 0.0
    return score, {"optimal_moves": optimal, "agent_turns": turns, "result": data.get("result")}


async def evaluate(eval_input: EvalInput) -> EvalOutput:
    """Score every item; an unreadable answer scores 0 with the error recorded."""
    items: list[EvalOutputItem] = []
    for item in eval_input.eval_input_items:
        try:
            score, reasoning = score_transcript(item.output_obj)
            items.append(EvalOutputItem(id=item.id, score=score, reasoning=reasoning))
        except (ValueError, TypeError, KeyError) as exc:
            items.append(EvalOutputItem(id=item.id, score=0.0, reasoning=None, error=str(exc)))
    average = sum(i.score for i in items) / len(items) if items else 0.0
    return EvalOutput(average_score=average, eval_output_items=items)


@register_evaluator(config_type=OptimalMoveRateConfig)
async def optimal_move_rate_evaluator(config: OptimalMoveRateConfig, builder: EvalBuilder):
    """Register the evaluator (no state, no side effects)."""
    yield EvaluatorInfo(config=config, evaluate_fn=evaluate, description="Share of minimax-optimal agent moves")
