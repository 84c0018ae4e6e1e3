"""The offline tic-tac-toe example: exact scorer, game logic, and the workflow run through NAT."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from nat.data_models.evaluator import EvalInput, EvalInputItem

from dpo_frames_tictactoe import Board, IllegalMoveError, InvalidPositionError, Move, play_game, score_move, solve
from dpo_frames_tictactoe.evaluator import evaluate, score_transcript
from dpo_frames_tictactoe.game import opponent_move
from dpo_frames_tictactoe.make_sample import DEFAULT_DATASET, EXAMPLE_DIR, run_example_eval
from dpo_frames_tictactoe.make_sample import main as make_sample_main

MOVE_TEXT = re.compile(r"^I play row ([1-3]), column ([1-3])\.$")
BUNDLED_SAMPLE = EXAMPLE_DIR / "data" / "workflow_output.json"


# --------------------------------------------------------------------------- board


@pytest.mark.parametrize(
    "text, reason",
    [
        ("X.O/.X.", "three rows"),
        ("X.O/.X./..Q", "cells must be"),
        ("XX./.../...", "X count"),
        ("OO./.X./...", "X count"),
        ("XXX/OO./O..", "O moved afterwards"),
        ("XXX/OOO/...", "both players"),
    ],
)
def test_parse_rejects_unreachable_positions_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidPositionError, match=reason):
        Board.parse(text)


def test_parse_round_trips_and_infers_side_to_move() -> None:
    board = Board.parse("x.o/.x./..o")
    assert board.to_text() == "X.O/.X./..O"
    assert Board.parse("X.O.X...O") == board
    assert board.to_move == "X"
    assert Board.parse("X../.../...").to_move == "O"


def test_play_rejects_taken_cells_and_finished_games() -> None:
    board = Board.parse("XX./OO./...")
    with pytest.raises(IllegalMoveError, match="already taken"):
        board.play(Move.at(1, 1))
    won = board.play(Move.at(1, 3))
    assert won.winner() == "X" and won.legal_moves() == []
    with pytest.raises(IllegalMoveError, match="over"):
        won.play(Move.at(3, 3))


# --------------------------------------------------------------------------- minimax


def scores(board: Board) -> dict[tuple[int, int], float]:
    return {(m.row, m.col): score_move(board, m) for m in board.legal_moves()}


def test_every_first_move_draws() -> None:
    assert solve(Board.empty()).outcome == 0
    assert set(scores(Board.empty()).values()) == {0.5}


def test_win_now_block_or_lose() -> None:
    # X to move: (1,3) wins at once, (2,3) blocks O's row and holds the draw, anything else lets O win next.
    assert scores(Board.parse("XX./OO./...")) == {
        (1, 3): 1.0,
        (2, 3): 0.5,
        (3, 1): 0.0,
        (3, 2): 0.0,
        (3, 3): 0.0,
    }


def test_only_the_centre_saves_o_after_a_corner_opening() -> None:
    s = scores(Board.parse("X../.../..."))
    assert s.pop((2, 2)) == 0.5
    assert all(v < 0.5 for v in s.values())


def test_o_must_answer_opposite_corners_on_an_edge() -> None:
    s = scores(Board.parse("X../.O./..X"))
    edges = {(1, 2), (2, 1), (2, 3), (3, 2)}
    assert all(s[e] == 0.5 for e in edges)
    assert all(s[c] < 0.5 for c in {(1, 3), (3, 1)})


def test_depth_adjustment_prefers_faster_wins_and_slower_losses() -> None:
    # X to move: (2,1) and (3,1) fork and win on X's next move (3 plies); nothing wins at once.
    s = scores(Board.parse("XO./.X./..O"))
    assert s == {(1, 3): 0.5, (2, 1): 0.9, (2, 3): 0.5, (3, 1): 0.9, (3, 2): 0.5}
    # An immediate win outranks a slower one.
    s = scores(Board.parse("X.O/.X./O.."))
    assert s[(3, 3)] == 1.0 and all(v == 0.9 for k, v in s.items() if k != (3, 3))
    # O to move: blocking the diagonal only delays the loss (4 plies, 0.1); anything else loses at once (0.0).
    s = scores(Board.parse("X.O/.../..X"))
    assert s.pop((2, 2)) == 0.1 and set(s.values()) == {0.0}


@cache
def naive_outcome(cells: str) -> int:
    """Plain minimax outcome for the side to move (+1/0/-1), written independently of the package."""
    lines = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]
    if any(cells[a] != "." and cells[a] == cells[b] == cells[c] for a, b, c in lines):
        return -1
    if "." not in cells:
        return 0
    mover = "X" if cells.count("X") == cells.count("O") else "O"
    return max(-naive_outcome(cells[:i] + mover + cells[i + 1 :]) for i, c in enumerate(cells) if c == ".")


def all_positions() -> set[str]:
    seen: set[str] = set()
    stack = [Board.empty()]
    while stack:
        board = stack.pop()
        if board.cells in seen:
            continue
        seen.add(board.cells)
        stack.extend(board.play(m) for m in board.legal_moves())
    return seen


def test_scores_agree_with_an_independent_minimax_on_every_reachable_position() -> None:
    positions = all_positions()
    assert len(positions) == 5478
    checked = 0
    for cells in positions:
        board = Board(cells)
        for move in board.legal_moves():
            outcome = -naive_outcome(board.play(move).cells)
            score = score_move(board, move)
            assert 0.0 <= score <= 1.0
            assert (score > 0.5, score == 0.5, score < 0.5) == (outcome == 1, outcome == 0, outcome == -1)
            checked += 1
    assert checked > 10_000


# --------------------------------------------------------------------------- game


def test_opponent_wins_then_blocks_then_prefers_centre() -> None:
    assert opponent_move(Board.parse("XX./OO./X..")) == Move.at(2, 3)  # O completes its row
    assert opponent_move(Board.parse("XX./.O./...")) == Move.at(1, 3)  # O blocks X's row
    assert opponent_move(Board.parse("X../.../...")) == Move.at(2, 2)


def test_game_turns_are_legal_distinct_scored_and_best_is_played() -> None:
    game = play_game(Board.parse(".../.../..."), num_candidates=4, seed=3)
    assert game.result in {"agent_win", "draw", "agent_loss"}
    for turn in game.turns:
        moves = [c.move for c in turn.candidates]
        assert len(set(moves)) == len(moves) == min(4, len(turn.board.legal_moves()))
        assert all(m in turn.board.legal_moves() for m in moves)
        assert [c.index for c in turn.candidates] == list(range(len(moves)))
        assert all(c.score == score_move(turn.board, c.move) for c in turn.candidates)
        top = max(c.score for c in turn.candidates)
        assert turn.chosen == next(c for c in turn.candidates if c.score == top)  # lowest index wins a tie
        assert sum(c.is_selected for c in turn.candidates) == 1
        assert turn.messages[0]["role"] == "system" and turn.messages[1]["role"] == "user"
        assert turn.board.to_grid() in turn.messages[1]["content"]
    assert json.loads(game.transcript())["agent_turns"] == len(game.turns)


def test_games_are_deterministic_per_seed_and_vary_across_seeds() -> None:
    start = Board.parse(".../.X./...")

    def shape(seed: int) -> list[tuple[str, list[tuple[int, float]]]]:
        return [(t.turn_id, [(c.move.index, c.score) for c in t.candidates]) for t in play_game(start, seed=seed).turns]

    assert shape(0) == shape(0)
    assert any(shape(0) != shape(s) for s in range(1, 4))


def test_turn_limit_and_bad_settings() -> None:
    assert len(play_game(Board.empty(), max_agent_turns=2).turns) == 2
    assert play_game(Board.empty(), max_agent_turns=2).result == "unfinished"
    with pytest.raises(ValueError, match="num_candidates"):
        play_game(Board.empty(), num_candidates=0)
    with pytest.raises(InvalidPositionError, match="over"):
        play_game(Board("XXXOO...."))


# --------------------------------------------------------------------------- evaluator


async def test_evaluator_scores_optimal_move_share_and_reports_bad_answers() -> None:
    good = json.dumps({"agent_turns": 4, "optimal_moves": 3, "result": "draw"})
    items = [
        EvalInputItem(id="a", input_obj="", expected_output_obj="", output_obj=good, full_dataset_entry={}),
        EvalInputItem(id="b", input_obj="", expected_output_obj="", output_obj="not json", full_dataset_entry={}),
    ]
    out = await evaluate(EvalInput(eval_input_items=items))
    assert [i.score for i in out.eval_output_items] == [0.75, 0.0]
    assert out.eval_output_items[1].error
    assert out.average_score == 0.375
    assert score_transcript(good)[1]["result"] == "draw"


# --------------------------------------------------------------------------- through NAT


def content(records: list[dict]) -> list[tuple]:
    """What must be identical across runs: everything but UUIDs and timestamps."""
    rows = []
    for rec in records:
        for step in rec["intermediate_steps"]:
            p = step["payload"]
            rows.append(
                (
                    rec["id"],
                    rec["generated_answer"],
                    p["event_type"],
                    p["name"],
                    json.dumps(p["data"], sort_keys=True),
                    json.dumps(p["metadata"], sort_keys=True),
                )
            )
    return rows


@pytest.fixture(scope="module")
def nat_run(tmp_path_factory: pytest.TempPathFactory):
    """One real NAT evaluation of the bundled dataset (in process, same code path as ``nat eval``)."""
    import asyncio

    out_dir = tmp_path_factory.mktemp("nat_eval") / "eval"
    result = asyncio.run(run_example_eval(output_dir=out_dir))
    return result, json.loads(Path(result.workflow_output_file).read_text())


def test_nat_run_emits_a_ttc_start_before_each_ttc_end(nat_run) -> None:
    result, _ = nat_run
    assert not result.workflow_interrupted
    items = result.eval_input.eval_input_items
    assert len(items) == len(json.loads(DEFAULT_DATASET.read_text()))
    for item in items:
        starts: dict[str, int] = {}
        ends = 0
        for pos, step in enumerate(item.trajectory):
            if step.event_type == "TTC_START":
                starts[step.UUID] = pos
            elif step.event_type == "TTC_END":
                ends += 1
                assert step.UUID in starts and starts[step.UUID] < pos
                assert step.name == "dpo_candidate_move"
        assert ends == len(starts) > 0


def test_nat_ttc_end_data_carries_exact_minimax_scores(nat_run) -> None:
    result, _ = nat_run
    turns: dict[str, list] = {}
    for item in result.eval_input.eval_input_items:
        for step in item.trajectory:
            if step.event_type != "TTC_END":
                continue
            data = step.payload.data.model_dump()  # NAT hands back a StreamEventData with the TTC fields as extras
            assert {"turn_id", "turn_index", "candidate_index", "score", "input", "output"} <= data.keys()
            assert [m["role"] for m in data["input"]] == ["system", "user"]
            row, col = map(int, MOVE_TEXT.match(data["output"]).groups())
            board = Board.parse(step.payload.metadata["board"])
            assert board.to_grid() in data["input"][1]["content"]
            assert data["score"] == score_move(board, Move.at(row, col))
            assert data["turn_id"].startswith(f"turn_{data['turn_index']}_")
            turns.setdefault((item.id, data["turn_id"]), []).append((data, step.payload.metadata))
    assert len(turns) >= 30
    for cands in turns.values():
        assert [d["candidate_index"] for d, _ in cands] == list(range(len(cands)))
        selected = [d for d, meta in cands if meta["is_selected"]]
        assert len(selected) == 1 and selected[0]["score"] == max(d["score"] for d, _ in cands)
    assert any(len({d["score"] for d, _ in c}) < len(c) for c in turns.values()), "some turns should hold ties"
    assert any(len(c) == 1 for c in turns.values()), "some turns should have a single candidate"


def test_nat_workflow_output_keeps_only_ttc_end_and_matches_nat_sample_shape(nat_run) -> None:
    result, records = nat_run
    ends = sum(1 for i in result.eval_input.eval_input_items for s in i.trajectory if s.event_type == "TTC_END")
    assert {s["payload"]["event_type"] for r in records for s in r["intermediate_steps"]} == {"TTC_END"}
    assert sum(len(r["intermediate_steps"]) for r in records) == ends
    rec = records[0]
    assert {"id", "question", "answer", "generated_answer", "intermediate_steps"} <= rec.keys()
    step = rec["intermediate_steps"][0]
    assert step.keys() == {"parent_id", "function_ancestry", "payload"}
    assert step["function_ancestry"]["function_name"] == "<workflow>"
    assert {"event_type", "event_timestamp", "name", "metadata", "data", "UUID"} <= step["payload"].keys()
    assert json.loads(rec["generated_answer"])["start"] == rec["question"]


def test_nat_runs_are_deterministic_and_the_bundled_sample_is_current(nat_run, tmp_path: Path) -> None:
    import asyncio

    _, first = nat_run
    again = asyncio.run(run_example_eval(output_dir=tmp_path / "eval"))
    second = json.loads(Path(again.workflow_output_file).read_text())
    assert content(first) == content(second)
    # The committed sample must be what the current code produces (regenerate with make_sample).
    assert content(json.loads(BUNDLED_SAMPLE.read_text())) == content(first)


def test_make_sample_cli_writes_nat_output(tmp_path: Path) -> None:
    out = tmp_path / "sample" / "workflow_output.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dpo_frames_tictactoe.make_sample",
            "--out",
            str(out),
            "-o",
            "workflow.num_candidates",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "TTC_END steps" in done.stdout
    records = json.loads(out.read_text())
    per_turn: dict[tuple, int] = {}
    for r in records:
        for s in r["intermediate_steps"]:
            key = (r["id"], s["payload"]["data"]["turn_id"])
            per_turn[key] = per_turn.get(key, 0) + 1
    assert max(per_turn.values()) == 2


def test_make_sample_reports_a_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        make_sample_main(["--out", str(tmp_path / "x.json"), "--config", str(tmp_path / "nope.yml")])
    assert exit_info.value.code == 1
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


async def test_a_bad_position_interrupts_the_nat_run_without_raising(tmp_path: Path) -> None:
    """NAT logs a workflow error, stops the remaining items and returns normally: callers must check the flag."""
    dataset = tmp_path / "bad.json"
    dataset.write_text(json.dumps([{"id": "bad", "question": "XXX/XXX/XXX", "answer": ""}]))
    result = await run_example_eval(output_dir=tmp_path / "eval", dataset=dataset)
    assert result.workflow_interrupted
    assert result.eval_input.eval_input_items[0].trajectory == []


async def test_conversation_mode_records_prompts_as_an_llm_player_s_trace(tmp_path: Path, nat_run) -> None:
    """``prompt_recording: conversation``: every TTC_END's input is the conversation after the answer (its last
    message the candidate's own output); one candidate in four retried once first. Scores and moves are the
    default mode's."""
    result = await run_example_eval(
        output_dir=tmp_path / "eval", overrides=(("workflow.prompt_recording", "conversation"),)
    )
    default, _ = nat_run
    ends = [s.payload for i in result.eval_input.eval_input_items for s in i.trajectory if s.event_type == "TTC_END"]
    plain = [s.payload for i in default.eval_input.eval_input_items for s in i.trajectory if s.event_type == "TTC_END"]
    assert [(p.data.output, p.data.score) for p in ends] == [(p.data.output, p.data.score) for p in plain]
    retried = 0
    for payload, before in zip(ends, plain, strict=True):
        data = payload.data.model_dump()
        assert data["input"][-1] == {"role": "assistant", "content": data["output"]}
        assert data["input"][:2] == before.data.model_dump()["input"]  # the prompt, then what followed it
        if len(data["input"]) == 5:
            retried += 1
            assert data["input"][2]["role"] == "assistant" and "invalid move" in data["input"][3]["content"]
        else:
            assert len(data["input"]) == 3
    assert 0.1 < retried / len(ends) < 0.4
