"""Suite-wide settings and fixtures."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from nat.data_models.intermediate_step import (
    IntermediateStep,
    IntermediateStepPayload,
    IntermediateStepType,
    StreamEventData,
    TTCEventData,
)
from nat.data_models.invocation_node import InvocationNode

from tests import hypothesis_profiles  # noqa: F401  (loads the profile the environment asks for)

EXAMPLE_OUTPUT = Path(__file__).resolve().parents[1] / "examples/tictactoe/data/workflow_output.json"


def ttc_step(
    turn_id="t0",
    candidate_index=0,
    score=0.5,
    output="yes",
    prompt="hi?",
    *,
    as_stream=False,
    name="dpo_candidate_move",
    event_type=IntermediateStepType.TTC_END,
    **extra,
) -> IntermediateStep:
    fields = dict(
        turn_id=turn_id,
        turn_index=0,
        candidate_index=candidate_index,
        score=score,
        input=prompt,
        output=output,
        **extra,
    )
    data = StreamEventData(**fields) if as_stream else TTCEventData(**fields)
    payload = IntermediateStepPayload(
        event_type=event_type, name=name, data=data, UUID=str(uuid.uuid4()), metadata={"k": 1}
    )
    return IntermediateStep(
        parent_id="root", function_ancestry=InvocationNode(function_id="f", function_name="wf"), payload=payload
    )


@pytest.fixture
def example_output() -> Path:
    """NAT's real workflow_output.json, made by the project's example workflow."""
    assert EXAMPLE_OUTPUT.is_file(), "run python -m dpo_frames_tictactoe.make_sample"
    return EXAMPLE_OUTPUT
