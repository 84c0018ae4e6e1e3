"""Small hand-made runs whose SQL answers are known (shared by tests/sql, tests/cli, tests/report).

Run "r1" (and, for the cross-run query, "r2" with the same content):

* example e1, turn t0 (turn_index 0), prompt "p1": scores 1.0, 0.5, 0.0 -> 3 pairs (margins 0.5, 1.0, 0.5)
* example e1, turn t1 (turn_index 1), prompt "p2": scores 0.8, 0.8        -> a tie, no pair
* example e2, turn t0 (turn_index 0), prompt "p1": scores 0.9, 0.2        -> 1 pair (margin 0.7)
* rejects: 2 x missing score, 1 x non-numeric score, 1 x unparsable step (a JSONL line that is not JSON)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

import dpo_frames

EXAMPLE_OUTPUT = Path(__file__).resolve().parents[1] / "examples/tictactoe/data/workflow_output.json"

_CANDIDATES = [
    # example, turn, turn_index, prompt, index, score, response
    ("e1", "t0", 0, "p1", 0, 1.0, "best"),
    ("e1", "t0", 0, "p1", 1, 0.5, "middle"),
    ("e1", "t0", 0, "p1", 2, 0.0, "worst"),
    ("e1", "t1", 1, "p2", 0, 0.8, "tie a"),
    ("e1", "t1", 1, "p2", 1, 0.8, "tie b"),
    ("e2", "t0", 0, "p1", 0, 0.9, "good"),
    ("e2", "t0", 0, "p1", 1, 0.2, "bad"),
]
_BAD = [("e2", "t9", {"score": None}), ("e2", "t9", {}), ("e1", "t9", {"score": "high"})]


def _step(uuid: str, data: dict[str, Any], example: str) -> dict[str, Any]:
    return {
        "example_id": example,
        "payload": {"event_type": "TTC_END", "name": "dpo_candidate_move", "UUID": uuid, "data": data},
    }


def step_dicts(run: str = "r1") -> list[dict[str, Any]]:
    """Serialized steps: the candidates above, then the three malformed ones."""
    steps = []
    for n, (example, turn, turn_index, prompt, index, score, response) in enumerate(_CANDIDATES):
        steps.append(
            _step(
                f"{run}-u{n}",
                {
                    "turn_id": turn,
                    "turn_index": turn_index,
                    "candidate_index": index,
                    "score": score,
                    "input": prompt,
                    "output": response,
                },
                example,
            )
        )
    for n, (example, turn, extra) in enumerate(_BAD):
        data = {"turn_id": turn, "turn_index": 9, "input": "p9", "output": "x"}
        data.update(extra)
        if "score" not in extra:
            data.pop("score", None)
        steps.append(_step(f"{run}-bad{n}", data, example))
    return steps


def write_steps_jsonl(path: Path, run: str = "r1") -> Path:
    """The steps as a JSONL file, plus one line that is not JSON (an unparsable step)."""
    lines = [json.dumps(s) for s in step_dicts(run)] + ["{not json"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def frames(run: str = "r1") -> dict[str, pl.DataFrame]:
    """steps, candidates, rejects, pairs (default PairConfig) and dataset of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        steps = dpo_frames.read_steps(write_steps_jsonl(Path(tmp) / "steps.jsonl", run), run_id=run)
    candidates, rejects = dpo_frames.extract_candidates(steps)
    pairs, _ = dpo_frames.build_pairs(candidates)
    dataset, _ = dpo_frames.finalize_dataset(pairs)
    return {"steps": steps, "candidates": candidates, "rejects": rejects, "pairs": pairs, "dataset": dataset}
