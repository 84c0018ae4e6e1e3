"""Steps frame -> candidates frame (+ rejects frame), vectorized in DuckDB.

Step data arrives as JSON text whose fields vary in type from row to row (a prompt is a
string or a message list; a score may be a number, a numeric string, ``"NaN"`` or
garbage). DuckDB's JSON functions type-check each row on its own without failing the
whole column, so every malformed candidate becomes a counted reject instead of an
exception.
"""

from __future__ import annotations

import json

import polars as pl

from dpo_frames import schema
from dpo_frames._json import to_json
from dpo_frames.candidates.rules import RejectReason

_FIELDS = (
    '{"turn_id":"JSON","turn_index":"JSON","candidate_index":"JSON","score":"JSON","input":"JSON","output":"JSON"}'
)

_MESSAGE_FIELDS = '[{"role":"JSON","content":"JSON"}]'


def _kind(value: str) -> str:
    """SQL for json_type of a JSON value that json_transform wrote (compact, so its first
    character tells a string or an array without parsing the long texts)."""
    return (
        f"CASE WHEN starts_with({value}, '\"') THEN 'VARCHAR' WHEN starts_with({value}, '[') THEN 'ARRAY' "
        f"ELSE json_type({value}) END"
    )


# One JSON parse per row (json_transform; an object is valid JSON that starts with "{"), one
# more of a message-list input into its messages, then cheap type checks: json_transform
# writes its JSON values compactly, so a value's first character tells a string or an array.
_SQL = f"""
WITH f AS (
    SELECT *, CASE WHEN regexp_matches(data, '^[ \\t\\n\\r]*[{{]') THEN try(json_transform(data, '{_FIELDS}')) END AS d
    FROM steps
),
g AS (
    SELECT *, CASE WHEN starts_with(d.input, '[') THEN json_transform(d.input, '{_MESSAGE_FIELDS}') END AS msgs
    FROM f
),
t AS (
    SELECT *,
        json_type(d.turn_id) AS turn_id_t,
        json_type(d.score) AS score_t,
        TRY_CAST(d.score ->> '$' AS DOUBLE) AS score_v,
        json_type(d.candidate_index) AS ci_t,
        {_kind("d.input")} AS input_t,
        {_kind("d.output")} AS output_t,
        CASE WHEN input_t = 'VARCHAR' THEN d.input ->> '$' END AS input_s,
        CASE WHEN output_t = 'VARCHAR' THEN d.output ->> '$' END AS output_s,
        msgs[-1].content ->> '$' AS last_content,
        CASE WHEN msgs IS NOT NULL THEN coalesce(list_bool_and(list_transform(msgs,
            lambda m: coalesce(starts_with(m.role, '"') AND starts_with(m.content, '"'), false))),
            false) END AS messages_ok,
        len(msgs) AS n_messages
    FROM g
),
r AS (
    SELECT *, CASE
        WHEN event_type IS NULL THEN '{RejectReason.UNPARSABLE_STEP}'
        WHEN d IS NULL THEN '{RejectReason.UNPARSABLE_DATA}'
        WHEN turn_id_t IS NULL OR turn_id_t = 'NULL' THEN '{RejectReason.MISSING_TURN_ID}'
        WHEN turn_id_t IN ('OBJECT', 'ARRAY') OR (d.turn_id ->> '$') = '' THEN '{RejectReason.MISSING_TURN_ID}'
        WHEN score_t IS NULL OR score_t = 'NULL' THEN '{RejectReason.MISSING_SCORE}'
        WHEN score_v IS NULL OR score_t NOT IN ('DOUBLE', 'BIGINT', 'UBIGINT', 'VARCHAR')
             OR (score_t = 'VARCHAR' AND contains(d.score ->> '$', '_'))
            THEN '{RejectReason.NON_NUMERIC_SCORE}'
        WHEN NOT isfinite(score_v) THEN '{RejectReason.NON_FINITE_SCORE}'
        WHEN ci_t IS NOT NULL AND ci_t <> 'NULL' AND (ci_t NOT IN ('BIGINT', 'UBIGINT')
                                                 OR TRY_CAST(d.candidate_index ->> '$' AS BIGINT) IS NULL)
            THEN '{RejectReason.INVALID_CANDIDATE_INDEX}'
        WHEN input_t IS NULL OR input_t = 'NULL' OR n_messages = 0 OR (input_t = 'VARCHAR' AND input_s = '')
            THEN '{RejectReason.MISSING_INPUT}'
        WHEN input_t NOT IN ('VARCHAR', 'ARRAY') OR NOT messages_ok THEN '{RejectReason.INVALID_INPUT}'
        WHEN input_t = 'ARRAY' AND last_content = ''
            THEN '{RejectReason.MISSING_INPUT}'
        WHEN output_t IS NULL OR output_t = 'NULL' OR (output_t = 'VARCHAR' AND output_s = '')
            THEN '{RejectReason.MISSING_OUTPUT}'
        WHEN _duplicate THEN '{RejectReason.DUPLICATE_STEP}'
    END AS reason
    FROM t
)
"""

_SELECT_SQL = (
    _SQL
    + """
SELECT
    _row,
    reason,
    coalesce(step_uuid, concat_ws(' ', 'run ' || run_id, 'example ' || example_id, 'step ' || step_index)) AS source,
    CASE WHEN reason IS NOT NULL THEN data END AS raw,
    run_id, example_id,
    CASE WHEN reason IS NULL THEN d.turn_id ->> '$' END AS turn_id,
    CASE WHEN reason IS NULL AND json_type(d.turn_index) IN ('BIGINT', 'UBIGINT')
         THEN TRY_CAST(d.turn_index ->> '$' AS BIGINT) END AS turn_index,
    CASE WHEN reason IS NULL THEN coalesce(TRY_CAST(d.candidate_index ->> '$' AS BIGINT), 0) END
        AS candidate_index,
    CASE WHEN reason IS NOT NULL THEN NULL
         WHEN input_t = 'VARCHAR' THEN input_s ELSE last_content END AS prompt_text,
    CASE WHEN reason IS NULL AND input_t = 'ARRAY'
         THEN list_transform(msgs, lambda m: {'role': m.role ->> '$', 'content': m.content ->> '$'}) END
        AS prompt_messages,
    CASE WHEN reason IS NOT NULL THEN NULL
         WHEN output_t = 'VARCHAR' THEN output_s ELSE CAST(d.output AS VARCHAR) END AS response,
    score_v AS score,
    step_uuid,
    metadata,
    reason IS NULL AND turn_id_t <> 'VARCHAR' AS _turn_id_json,
    reason IS NULL AND output_t <> 'VARCHAR' AS _response_json
FROM r
"""
)


def candidates_from_frame(steps: pl.DataFrame, step_name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates and rejects of a steps frame (see :func:`~dpo_frames.extract_candidates`)."""
    import duckdb  # imported when used: ``import dpo_frames`` stays light

    frame = _candidate_steps(schema.conform(steps, schema.STEPS, "steps"), step_name)
    with duckdb.connect() as con:
        con.register("steps", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        parsed = con.sql(_SELECT_SQL).pl()
    if not parsed["_row"].is_sorted():
        parsed = parsed.sort("_row")
    parsed = _python_json_text(parsed, "turn_id", "_turn_id_json")
    parsed = _python_json_text(parsed, "response", "_response_json")
    ok = pl.col("reason").is_null()
    candidates = parsed.filter(ok).select(list(schema.CANDIDATES))
    rejects = parsed.filter(~ok).select(list(schema.REJECTS))
    return (
        schema.conform(candidates, schema.CANDIDATES, "candidates"),
        schema.conform(rejects, schema.REJECTS, "rejects"),
    )


_SQL_COLUMNS = ("_row", "run_id", "example_id", "step_index", "event_type", "name", "step_uuid", "data", "metadata")


def _candidate_steps(steps: pl.DataFrame, step_name: str) -> pl.DataFrame:
    """The rows the SQL looks at (candidate steps, and rows that are not steps at all), in
    order, with ``_row`` and ``_duplicate``: a candidate step that repeats an earlier one, same
    (run, example, UUID) *and* same data (a UUID reused for other data is another step)."""
    # Only the columns the SQL reads, before any is added: a user's extra column (``_row``,
    # ``_duplicate``...) must neither clash with nor shadow one of its names.
    rows = (
        steps.select(_SQL_COLUMNS[1:])
        .with_row_index("_row")
        .filter(pl.col("event_type").is_null() | ((pl.col("event_type") == "TTC_END") & (pl.col("name") == step_name)))
    )
    key = pl.struct("run_id", "example_id", "step_uuid")
    shared = rows.select(pl.col("step_uuid").is_not_null() & key.is_duplicated()).to_series()
    if not shared.any():  # the common case: no UUID comes back, no step data is compared
        return rows.with_columns(_duplicate=pl.lit(False))
    # Among the rows whose UUID comes back (in order), a repeat of an earlier one's data is a duplicate.
    again = rows.filter(shared).filter(~pl.struct(key, "data").is_first_distinct())["_row"]
    return rows.with_columns(_duplicate=pl.col("_row").is_in(again.implode()))


def _python_text(text: str) -> str | None:
    try:
        return to_json(json.loads(text))
    except (ValueError, RecursionError):  # a number or nesting Python's reader refuses: DuckDB's text stands
        return text


def _python_json_text(frame: pl.DataFrame, column: str, flag: str) -> pl.DataFrame:
    """Re-encode the (rare) non-string values DuckDB serialized, as Python's JSON encoder
    does, so the text matches the in-memory path (DuckDB writes 1e20 as 100000000000000000000.0)."""
    rows = frame.select(pl.arg_where(pl.col(flag))).to_series()
    if rows.len() == 0:
        return frame
    texts = [_python_text(text) for text in frame[column].gather(rows).to_list()]
    return frame.with_columns(frame[column].scatter(rows, texts))
