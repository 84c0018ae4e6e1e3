"""dpo_frames.explore.sql: views over in-memory frames and over run directories, errors, example queries."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import dpo_frames
from dpo_frames import sql


def test_views_over_frames_are_the_frames(run1):
    with sql.connect(**run1) as con:
        assert sql.views(con) == ["steps", "candidates", "rejects", "pairs", "dataset"]
        assert sql.describe(con) == {"steps": 11, "candidates": 7, "rejects": 4, "pairs": 4, "dataset": 4}
        back = con.sql("SELECT * FROM pairs").pl()
    assert_frame_equal(back, run1["pairs"])


def test_lazy_frames_and_arrow_tables_are_accepted(run1):
    out = sql.query(
        "SELECT count(*) AS n FROM candidates, pairs",
        candidates=run1["candidates"].lazy(),
        pairs=run1["pairs"].to_arrow(),
    )
    assert out["n"].to_list() == [7 * 4]


def test_views_over_run_directory_read_parquet(run_dirs, run1):
    r1, _ = run_dirs
    with sql.connect(r1) as con:
        assert sql.views(con) == ["steps", "candidates", "rejects", "pairs", "dataset"]
        definition = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'pairs'").fetchall()[0][0]
        assert "read_parquet" in definition
        explain = "EXPLAIN SELECT chosen_response FROM pairs WHERE score_diff > 0.6"
        plan = "".join(row[1] for row in con.execute(explain).fetchall())
        assert "PARQUET" in plan.upper()
        assert_frame_equal(con.sql("SELECT * FROM candidates").pl(), run1["candidates"])


def test_parquet_views_scan_the_file_at_query_time(tmp_path, run1):
    """Nothing is loaded at connect time: a file replaced afterwards is what the query sees."""
    dpo_frames.write_frames(tmp_path, pairs=run1["pairs"])
    with sql.connect(tmp_path) as con:
        assert con.execute("SELECT count(*) FROM pairs").fetchall()[0][0] == 4
        dpo_frames.write_frames(tmp_path, pairs=pl.concat([run1["pairs"]] * 3))
        assert con.execute("SELECT count(*) FROM pairs").fetchall()[0][0] == 12


def test_several_run_directories_are_one_view(run_dirs):
    out = sql.query("SELECT run_id, count(*) AS pairs FROM pairs GROUP BY run_id ORDER BY run_id", list(run_dirs))
    assert out.rows() == [("r1", 4), ("r2", 4)]


def test_frames_take_the_place_of_files(run_dirs, run1):
    r1, _ = run_dirs
    only_one = run1["pairs"].head(1)
    assert sql.query("SELECT count(*) AS n FROM pairs", r1, pairs=only_one)["n"].item() == 1
    assert sql.query("SELECT count(*) AS n FROM candidates", r1, pairs=only_one)["n"].item() == 7


def test_missing_frame_has_no_view_and_the_error_lists_what_exists(tmp_path, run1):
    dpo_frames.write_frames(tmp_path, candidates=run1["candidates"], pairs=run1["pairs"])
    with pytest.raises(sql.SqlError, match=r"no view 'dataset' here; available views: candidates, pairs"):
        sql.query("SELECT * FROM dataset", tmp_path)
    with pytest.raises(sql.SqlError, match="available views: none"):
        sql.query("SELECT * FROM pairs")


def test_bad_sql_is_one_line(run1):
    with pytest.raises(sql.SqlError) as err:
        sql.query("SELEC 1", pairs=run1["pairs"])
    assert "syntax error" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(sql.SqlError, match="query failed"):
        sql.query("SELECT no_such_column FROM pairs", pairs=run1["pairs"])


def test_bad_arguments():
    with pytest.raises(sql.SqlError, match=r"unknown frame name\(s\) \['pair'\]"):
        sql.connect(pair=pl.DataFrame())
    with pytest.raises(sql.SqlError, match="does not exist"):
        sql.connect("/nonexistent/run")
    with pytest.raises(sql.SqlError, match="expected a Polars DataFrame"):
        sql.connect(pairs=[1, 2])


def test_query_on_an_open_connection_leaves_it_open(run1):
    con = sql.connect(pairs=run1["pairs"])
    assert sql.query("SELECT 1 AS one", con=con)["one"].item() == 1
    assert con.execute("SELECT count(*) FROM pairs").fetchall()[0][0] == 4
    con.close()


def test_paths_with_quotes_are_escaped(tmp_path, run1):
    odd = tmp_path / "it's a run"
    dpo_frames.write_frames(odd, pairs=run1["pairs"])
    assert sql.query("SELECT count(*) AS n FROM pairs", odd)["n"].item() == 4


# --- example queries on known data ---------------------------------------------------


def test_every_example_is_documented_and_runs(run1):
    assert set(sql.EXAMPLES) == {
        "pairs_per_turn",
        "margin_histogram",
        "top_prompts",
        "duplicate_pairs",
        "rejects_by_reason",
    }
    for example in sql.EXAMPLES.values():
        assert example.description and set(example.needs) <= set(sql.FRAME_NAMES)
        sql.query(example.name, **{name: run1[name] for name in example.needs})


def test_pairs_per_turn(run1):
    out = sql.query("pairs_per_turn", **run1)
    assert out.rows() == [(0, 2, 2, 4, 2.0), (1, 1, 0, 0, 0.0)]
    assert out.columns == ["turn_index", "turns", "turns_with_pairs", "pairs", "pairs_per_turn"]


def test_margin_histogram(run1):
    out = sql.query("margin_histogram", **run1)
    assert out.rows() == [(0.5, 0.6, 2), (0.7, 0.8, 1), (1.0, 1.1, 1)]


def test_margin_histogram_floating_point_edges():
    pairs = pl.DataFrame({"score_diff": [0.7 - 0.4, 0.3, 0.1 + 0.2, 0.0999999]})  # 0.29999999999999993 etc.
    assert sql.query("margin_histogram", pairs=pairs).rows() == [(0.0, 0.1, 1), (0.3, 0.4, 3)]


def test_top_prompts(run1):
    out = sql.query("top_prompts", **run1)
    assert out.rows() == [("p1", 4, 2, round((0.5 + 1.0 + 0.5 + 0.7) / 4, 4))]


def test_duplicate_pairs_across_runs(run_dirs):
    out = sql.query("duplicate_pairs", list(run_dirs))
    assert out.height == 4
    assert set(out["runs"]) == {2} and set(out["copies"]) == {2}
    assert out["run_ids"].to_list()[0] == ["r1", "r2"]
    assert sorted(zip(out["chosen_response"], out["rejected_response"], strict=True)) == [
        ("best", "middle"),
        ("best", "worst"),
        ("good", "bad"),
        ("middle", "worst"),
    ]


def test_duplicate_pairs_within_one_run_are_not_listed(run1):
    twice = pl.concat([run1["pairs"], run1["pairs"]])
    assert sql.query("duplicate_pairs", pairs=twice).height == 0


def test_rejects_by_reason(run1):
    out = sql.query("rejects_by_reason", **run1)
    assert out.rows() == [
        ("missing score", 2, "r1-bad0"),
        ("non-numeric score", 1, "r1-bad2"),
        ("unparsable step", 1, "run r1 step 11"),
    ]


def test_examples_on_the_bundled_example(tmp_path):
    steps = dpo_frames.read_steps(
        Path(__file__).resolve().parents[2] / "examples/tictactoe/data/workflow_output.json", run_id="ttt"
    )
    candidates, rejects = dpo_frames.extract_candidates(steps)
    pairs, stats = dpo_frames.build_pairs(candidates)
    per_turn = sql.query("pairs_per_turn", candidates=candidates, pairs=pairs)
    assert per_turn["pairs"].sum() == stats.pairs == 60
    assert per_turn["turns"].sum() == stats.turns == 35
    assert sql.query("margin_histogram", pairs=pairs)["pairs"].sum() == 60
    assert sql.query("rejects_by_reason", rejects=rejects).height == 0


def test_docstring_example():
    import doctest

    result = doctest.testmod(sql, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
