"""dpo-frames pairs / dataset / stats / sql / report through click's CliRunner."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dpo_frames
from dpo_frames import rundir
from dpo_frames.cli import cli
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_EMPTY, EXIT_USAGE
from tests.cli.conftest import EXAMPLE_OUTPUT

RUN_FILES = {"steps.parquet", "candidates.parquet", "rejects.parquet", "pairs.parquet", "dpo_frames.json"}


def _stats(run_dir: Path) -> dict:
    return json.loads((run_dir / "dpo_frames.json").read_text())


def _siblings(path: Path) -> set[str]:
    return {p.name for p in path.parent.iterdir()} if path.parent.exists() else set()


# --- help ----------------------------------------------------------------------------


def test_help_lists_every_command(invoke):
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("pairs", "dataset", "stats", "sql", "report", "emulator", "submit", "status"):
        assert f"  {name} " in result.output
    assert "Exit codes" in result.output


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(invoke, command):
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {command}") or result.output.startswith(f"Usage: dpo-frames {command}")
    assert "Exit codes" in result.output


def test_every_pair_config_field_is_an_option():
    params = {p.name for p in cli.commands["pairs"].params}
    spelled = {"seed": "strategy_seed"}  # one meaning per option name: the strategy's seed is not the sample's
    assert {spelled.get(f, f) for f in dpo_frames.PairConfig.model_fields} <= params


# --- pairs ---------------------------------------------------------------------------


def test_pairs_on_the_bundled_example(example_run):
    assert {p.name for p in example_run.iterdir()} == RUN_FILES
    stats = _stats(example_run)
    assert stats["run_ids"] == ["ttt"] and stats["kind"] == "run"  # the run directory's name
    assert stats["frames"] == {n: [f"{n}.parquet"] for n in ("steps", "candidates", "rejects", "pairs")}
    assert (stats["steps"], stats["candidates"], stats["rejects"]) == (119, 119, 0)
    assert stats["pair_stats"]["pairs"] == 60 and stats["pair_stats"]["tied_pairs"] == 100
    assert stats["config"] == dpo_frames.PairConfig().model_dump()
    pairs = dpo_frames.read_frame(example_run, "pairs")
    candidates = dpo_frames.extract_candidates(dpo_frames.read_steps(EXAMPLE_OUTPUT, run_id="ttt"))[0]
    assert_frame_equal(pairs, dpo_frames.build_pairs(candidates)[0])
    assert set(pairs["run_id"]) == {"ttt"}


def test_pairs_flags_set_every_config_field(invoke, tmp_path):
    out = tmp_path / "r"
    result = invoke(
        "pairs",
        EXAMPLE_OUTPUT,
        "--out",
        out,
        "--run-id",
        "custom",
        "--best-vs-worst",
        "--min-score-diff",
        "0.4",
        "--max-pairs-per-turn",
        "1",
        "--reward-from-chosen-score",
        "--allow-single-candidate",
        "--ttc-step-name",
        "dpo_candidate_move",
    )
    assert result.exit_code == 0, result.output
    stats = _stats(out)
    config = dpo_frames.PairConfig(
        exhaustive_pairs=False,
        min_score_diff=0.4,
        max_pairs_per_turn=1,
        reward_from_score_diff=False,
        require_multiple_candidates=False,
    )
    assert stats["config"] == config.model_dump() and stats["run_ids"] == ["custom"]
    candidates = dpo_frames.extract_candidates(dpo_frames.read_steps(EXAMPLE_OUTPUT, run_id="custom"))[0]
    expected, expected_stats = dpo_frames.build_pairs(candidates, config)
    assert_frame_equal(dpo_frames.read_frame(out, "pairs"), expected)
    assert stats["pair_stats"] == expected_stats.model_dump()
    pairs_row = next(line for line in result.stdout.splitlines() if line.startswith("│ pairs "))
    assert pairs_row.split("│")[2].strip() == str(expected_stats.pairs)


def test_pairs_counts_rejects_by_reason(invoke, tmp_path, steps_jsonl):
    out = tmp_path / "r"
    result = invoke("pairs", steps_jsonl, "--out", out)
    assert result.exit_code == 0, result.output
    stats = _stats(out)
    assert stats["rejects_by_reason"] == {"missing score": 2, "non-numeric score": 1, "unparsable step": 1}
    assert stats["pair_stats"]["pairs"] == 4


def test_pairs_with_a_wrong_step_name_says_which_names_there_are(invoke, tmp_path, steps_jsonl):
    result = invoke("pairs", steps_jsonl, "--out", tmp_path / "r", "--ttc-step-name", "other")
    assert result.exit_code == EXIT_EMPTY and not (tmp_path / "r").exists()
    assert "no TTC_END step is named 'other'" in result.stderr
    assert "pass --ttc-step-name dpo_candidate_move" in result.stderr  # the way out
    allowed = invoke("pairs", steps_jsonl, "--out", tmp_path / "r", "--ttc-step-name", "other", "--allow-empty")
    assert allowed.exit_code == 0 and dpo_frames.read_frame(tmp_path / "r", "candidates").height == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"id": 1', "is not valid JSON"),
        ('{"not": "a list"}', "expected a JSON list of items"),
        ('[{"id": "x"}]', "has no 'intermediate_steps'"),
        (b"\xff\xfe\x00binary", "can't decode"),
    ],
)
def test_pairs_bad_source_is_one_line_and_writes_nothing(invoke, tmp_path, content, message):
    source = tmp_path / "in" / "workflow_output.json"
    source.parent.mkdir()
    source.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "runs" / "r"
    result = invoke("pairs", source, "--out", out)
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dpo-frames: error: cannot read steps from {source}: ")
    assert message in lines[0]
    assert not out.exists() and _siblings(out) == set()  # no run directory, no temporary left


def test_pairs_missing_source_and_bad_parquet(invoke, tmp_path):
    result = invoke("pairs", tmp_path / "nope.json", "--out", tmp_path / "r")
    assert result.exit_code == EXIT_BAD_INPUT and "does not exist" in result.stderr
    bad = tmp_path / "steps.parquet"
    bad.write_bytes(b"PAR1 not really")
    result = invoke("pairs", bad, "--out", tmp_path / "r")
    assert result.exit_code == EXIT_BAD_INPUT and len(result.stderr.splitlines()) == 1
    wrong = tmp_path / "wrong.parquet"
    pl.DataFrame({"a": [1]}).write_parquet(wrong)
    result = invoke("pairs", wrong, "--out", tmp_path / "r")
    assert result.exit_code == EXIT_BAD_INPUT and "frame is missing column(s) ['run_id'" in result.stderr
    assert not (tmp_path / "r").exists()


def test_pairs_bad_option_values_are_usage_errors(invoke, tmp_path):
    for args in (("--min-score-diff", "-1"), ("--max-pairs-per-turn", "0"), ("--min-score-diff", "inf")):
        result = invoke("pairs", EXAMPLE_OUTPUT, "--out", tmp_path / "r", *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert not (tmp_path / "r").exists()


def test_pairs_existing_output_needs_overwrite(invoke, tmp_path, steps_jsonl):
    out = tmp_path / "r"
    assert invoke("pairs", steps_jsonl, "--out", out).exit_code == 0
    before = (out / "pairs.parquet").read_bytes()
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", out)
    assert result.exit_code == EXIT_USAGE and "--overwrite" in result.stderr
    assert (out / "pairs.parquet").read_bytes() == before
    (out / "dataset.parquet").write_bytes(b"stale")
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", out, "--overwrite").exit_code == 0
    assert _stats(out)["pair_stats"]["pairs"] == 60
    assert {p.name for p in out.iterdir()} == RUN_FILES  # replaced whole: the stale dataset is gone
    assert _siblings(out) == {"r", "steps.jsonl"}


def test_pairs_refuses_to_replace_a_directory_that_is_not_a_run(invoke, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("keep me")
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", precious, "--overwrite")
    assert result.exit_code == EXIT_USAGE and "was not written by dpo_frames" in result.stderr
    assert (precious / "thesis.tex").read_text() == "keep me"
    (precious / "stats.json").write_text('{"pairs": 3}')  # a file of that name does not make it ours
    (precious / "dpo_frames.json").write_text('{"pairs": 3}')
    result = invoke("pairs", EXAMPLE_OUTPUT, "--out", precious, "--overwrite")
    assert result.exit_code == EXIT_BAD_INPUT and "is not a dpo_frames record" in result.stderr
    assert (precious / "thesis.tex").read_text() == "keep me"


def test_pairs_failure_keeps_the_previous_run(invoke, tmp_path, steps_jsonl):
    out = tmp_path / "r"
    assert invoke("pairs", steps_jsonl, "--out", out).exit_code == 0
    bad = tmp_path / "bad.json"
    bad.write_text("[")
    assert invoke("pairs", bad, "--out", out, "--overwrite").exit_code == EXIT_BAD_INPUT
    assert _stats(out)["pair_stats"]["pairs"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "r", "steps.jsonl"]


# --- dataset -------------------------------------------------------------------------


@pytest.fixture
def small_run(invoke, tmp_path, steps_jsonl) -> Path:
    out = tmp_path / "run"
    assert invoke("pairs", steps_jsonl, "--out", out).exit_code == 0
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_dataset_customizer(invoke, example_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(example_run, run)
    result = invoke("dataset", run)
    assert result.exit_code == 0, result.output
    assert {p.name for p in run.iterdir()} == RUN_FILES | {"datasets"}  # the run's own files are unchanged
    out = run / "datasets" / "customizer"
    exported = rundir.open_dir(out)
    info = exported.record
    assert info.kind == "dataset" and info.dataset is not None and info.dataset.format == "customizer"
    assert info.dataset.source == str(run.resolve()) and info.run_ids == ["ttt"]
    assert info.pair_stats == rundir.open_dir(run).record.pair_stats  # where its pairs came from
    stats = info.dataset.stats
    assert (stats.pairs, stats.train_pairs, stats.validation_pairs) == (60, 49, 11)
    train = _jsonl(out / "training/training_file.jsonl")
    validation = _jsonl(out / "validation/validation_file.jsonl")
    assert (len(train), len(validation)) == (49, 11)
    assert set(train[0]) == {"prompt", "chosen_response", "rejected_response"}
    dataset = dpo_frames.read_frame(out, "dataset")
    assert dataset.height == 60 and dataset["split"].value_counts().height == 2
    assert exported.dataset_files()["train"] == out / "training/training_file.jsonl"


@pytest.mark.parametrize("fmt, prompt_type", [("trl", str), ("trl-conversational", list)])
def test_dataset_trl_formats(invoke, small_run, tmp_path, fmt, prompt_type):
    out = tmp_path / "trl"
    result = invoke("dataset", small_run, "--format", fmt, "--out", out, "--validation-fraction", "0.5")
    assert result.exit_code == 0, result.output
    rows = _jsonl(out / "train.jsonl") + _jsonl(out / "validation.jsonl")
    assert len(rows) == 4 and all(isinstance(r["prompt"], prompt_type) for r in rows)
    assert set(rows[0]) == {"prompt", "chosen", "rejected"}


def test_dataset_sampling_dedup_and_full_history(invoke, small_run):
    result = invoke("dataset", small_run, "--max-pairs", "2", "--seed", "7", "--no-dedup", "--full-message-history")
    assert result.exit_code == 0, result.output
    out = small_run / "datasets" / "customizer"
    info = rundir.open_dir(out).record.dataset
    assert info.stats.pairs == 2 and info.stats.sampled_out_pairs == 2 and info.stats.seed == 7
    assert info.options["deduplicate"] is False and info.options["use_full_message_history"] is True
    rows = _jsonl(out / "training/training_file.jsonl")
    rows += _jsonl(out / "validation/validation_file.jsonl")
    assert len(rows) == 2 and rows[0]["prompt"] == [{"role": "user", "content": "p1"}]


def test_dataset_usage_errors(invoke, small_run):
    assert invoke("dataset", small_run, "--format", "trl", "--full-message-history").exit_code == EXIT_USAGE
    assert invoke("dataset", small_run, "--validation-fraction", "1").exit_code == EXIT_USAGE
    assert invoke("dataset", small_run, "--format", "parquet").exit_code == EXIT_USAGE
    assert invoke("dataset", small_run).exit_code == 0
    again = invoke("dataset", small_run)
    assert again.exit_code == EXIT_USAGE and "--overwrite" in again.stderr
    assert invoke("dataset", small_run, "--overwrite", "--seed", "3").exit_code == 0
    assert rundir.open_dir(small_run / "datasets" / "customizer").record.dataset.stats.seed == 3


def test_dataset_on_something_that_is_not_a_run(invoke, tmp_path):
    result = invoke("dataset", tmp_path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "is not a directory dpo_frames wrote (no dpo_frames.json)" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert invoke("dataset", tmp_path / "missing").exit_code == EXIT_BAD_INPUT
    (tmp_path / "stats.json").write_text("{}")
    result = invoke("dataset", tmp_path)
    assert result.exit_code == EXIT_BAD_INPUT and "is not one of dpo_frames'" in result.stderr


# --- stats ---------------------------------------------------------------------------


def test_stats_table(invoke, small_run):
    assert invoke("dataset", small_run).exit_code == 0
    result = invoke("stats", small_run)
    assert result.exit_code == 0, result.output
    for text in (
        "run run",
        "candidate_pairs",
        "rejects by reason",
        "missing score",
        "non-numeric score",
        "unparsable step",
        "steps by type",
        "TTC_END",
    ):
        assert text in result.output, text
    exported = invoke("stats", small_run / "datasets" / "customizer")
    assert exported.exit_code == 0, exported.output
    for text in ("dataset run", "written by", "dpo-frames dataset", "train_pairs", "file: train", "candidate_pairs"):
        assert text in exported.output, text


def test_stats_json_is_the_record(invoke, small_run):
    result = invoke("stats", small_run, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == _stats(small_run)


def test_stats_not_a_run(invoke, tmp_path):
    result = invoke("stats", tmp_path)
    assert result.exit_code == EXIT_BAD_INPUT and result.stderr.startswith("dpo-frames: error:")


# --- sql -----------------------------------------------------------------------------


def test_sql_prints_a_table(invoke, small_run):
    result = invoke("sql", small_run, "SELECT example_id, count(*) AS n FROM pairs GROUP BY ALL ORDER BY 1")
    assert result.exit_code == 0, result.output
    assert "example_id" in result.output and "e1" in result.output and "e2" in result.output


def test_sql_example_by_name(invoke, small_run):
    result = invoke("sql", small_run, "rejects_by_reason")
    assert result.exit_code == 0
    assert "missing score" in result.output and "unparsable step" in result.output


def test_sql_writes_csv_and_parquet(invoke, small_run, tmp_path):
    csv = tmp_path / "out" / "per_turn.csv"
    result = invoke("sql", small_run, "pairs_per_turn", "--csv", csv)
    assert result.exit_code == 0 and "wrote 2 rows" in result.output
    assert pl.read_csv(csv).rows() == [(0, 2, 2, 4, 2.0), (1, 1, 0, 0, 0.0)]
    parquet = tmp_path / "pairs.parquet"
    assert invoke("sql", small_run, "SELECT * FROM pairs", "--parquet", parquet).exit_code == 0
    assert_frame_equal(pl.read_parquet(parquet), dpo_frames.read_frame(small_run, "pairs"))


def test_sql_several_runs(invoke, tmp_path, steps_jsonl):
    for run in ("a", "b"):
        assert invoke("pairs", steps_jsonl, "--out", tmp_path / run).exit_code == 0
    result = invoke("sql", tmp_path / "a", tmp_path / "b", "duplicate_pairs", "--max-rows", "1")
    assert result.exit_code == 0 and "['a', 'b']" in result.output and "1 of 4 rows shown" in result.output
    result = invoke("sql", tmp_path / "a", tmp_path / "b", "duplicate_pairs", "--csv", tmp_path / "d.csv")
    assert result.exit_code == EXIT_BAD_INPUT and "nested" in result.stderr  # run_ids is a list column
    result = invoke(
        "sql",
        tmp_path / "a",
        tmp_path / "b",
        "SELECT count(DISTINCT run_id) AS runs FROM pairs",
        "--csv",
        tmp_path / "runs.csv",
    )
    assert result.exit_code == 0 and pl.read_csv(tmp_path / "runs.csv")["runs"].item() == 2


def test_sql_errors(invoke, small_run, tmp_path):
    result = invoke("sql", small_run, "SELECT * FROM dataset")
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stderr == (
        "dpo-frames: error: no view 'dataset' here; available views: steps, candidates, rejects, pairs\n"
    )
    result = invoke("sql", small_run, "SELEC 1")
    assert result.exit_code == EXIT_BAD_INPUT and len(result.stderr.splitlines()) == 1
    result = invoke("sql", small_run, "SELECT * FROM pairs", "--csv", tmp_path / "x.csv")
    assert result.exit_code == EXIT_BAD_INPUT and "use --parquet" in result.stderr
    assert not (tmp_path / "x.csv").exists() and list(tmp_path.glob(".x.csv*")) == []
    both = invoke("sql", small_run, "SELECT 1", "--csv", tmp_path / "a.csv", "--parquet", tmp_path / "a.parquet")
    assert both.exit_code == EXIT_USAGE
    assert invoke("sql", tmp_path / "missing", "SELECT 1").exit_code == EXIT_BAD_INPUT


def test_sql_query_from_stdin_and_example_list(invoke, small_run):
    result = invoke("sql", small_run, "-", input="SELECT count(*) AS n FROM candidates")
    assert result.exit_code == 0 and " 7 " in result.output
    listed = invoke("sql", "--list-examples")
    assert listed.exit_code == 0
    for name in dpo_frames.explore.sql.EXAMPLES:
        assert name in listed.output


# --- report --------------------------------------------------------------------------


def test_report_command_writes_one_page(invoke, small_run, tmp_path):
    result = invoke("report", small_run)
    assert result.exit_code == 0, result.output
    page = (small_run / "report.html").read_text()
    for name in ("pair_funnel", "scores_by_turn", "margins", "pairs_per_example", "rejects"):
        assert f'data-chart="{name}"' in page
    out = tmp_path / "elsewhere" / "r.html"
    assert invoke("report", small_run, "--out", out).exit_code == 0 and out.is_file()


def test_report_not_a_run(invoke, tmp_path):
    result = invoke("report", tmp_path)
    assert result.exit_code == EXIT_BAD_INPUT and not (tmp_path / "report.html").exists()
