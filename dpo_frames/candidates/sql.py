"""Steps frame -> candidates frame (+ rejects frame), vectorized in DuckDB.

Step data arrives as JSON text whose fields vary in type from row to row (a prompt is a
string or a message list; a score may be a number, a numeric string, ``"NaN"`` or
garbage). DuckDB's JSON functions type-check each row on its own without failing the
whole column, so every malformed candidate becomes a counted reject instead of an
exception.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Any

import numpy as np
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


def candidates_from_frame(
    steps: pl.DataFrame, step_name: str, *, earlier: SeenSteps | None = None, con: Any = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates and rejects of a steps frame (see :func:`~dpo_frames.extract_candidates`).

    For a file read in batches: ``earlier`` holds the candidate steps of the batches before this
    one (a step repeating one of them is a duplicate, as in one frame), ``con`` is the DuckDB
    connection they share.
    """
    import duckdb  # imported when used: ``import dpo_frames`` stays light

    frame = _candidate_steps(schema.conform(steps, schema.STEPS, "steps"), step_name, earlier)
    with duckdb.connect() if con is None else nullcontext(con) as db:
        db.register("steps", frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        parsed = db.sql(_SELECT_SQL).pl()
        db.unregister("steps")
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


def _candidate_steps(steps: pl.DataFrame, step_name: str, earlier: SeenSteps | None = None) -> pl.DataFrame:
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
    repeated = earlier.repeated(rows) if earlier is not None else None
    shared = rows.select(pl.col("step_uuid").is_not_null() & key.is_duplicated()).to_series()
    if not shared.any():  # the common case: no UUID comes back, no step data is compared
        return rows.with_columns(_duplicate=pl.lit(False) if repeated is None else repeated)
    # Among the rows whose UUID comes back (in order), a repeat of an earlier one's data is a duplicate.
    again = rows.filter(shared).filter(~pl.struct(key, "data").is_first_distinct())["_row"]
    duplicate = pl.col("_row").is_in(again.implode())
    return rows.with_columns(_duplicate=duplicate if repeated is None else duplicate | repeated)


class SeenSteps:
    """The candidate steps of the batches read so far, as two 64-bit hashes each (of the run, example
    and UUID, and of the data): 16 bytes a step, searched in sorted runs, so that the duplicate rule
    of one frame holds across the batches of a file of any size. A false duplicate needs both hashes
    of two different steps to collide (odds about n² / 2^129)."""

    def __init__(self) -> None:
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []  # (key hashes sorted, data hashes alike)

    def repeated(self, rows: pl.DataFrame) -> pl.Series:
        """For each row: whether it is a step (with a UUID) of an earlier batch; the rows are then seen."""
        hashes = rows.select(
            key=pl.struct("run_id", "example_id", "step_uuid").hash(7),
            data=pl.col("data").hash(11),
            has_uuid=pl.col("step_uuid").is_not_null(),
        )
        keys, data, has_uuid = (hashes[c].to_numpy() for c in ("key", "data", "has_uuid"))
        order = np.argsort(keys, kind="stable")  # sorted, the keys are found in one sweep of each level
        keys, data, has_uuid = keys[order], data[order], has_uuid[order]
        found = np.zeros(rows.height, dtype=bool)
        for level_keys, level_data in self._levels:
            found |= _found_in(level_keys, level_data, keys, data)
        self._add(keys[has_uuid], data[has_uuid])
        in_order = np.empty_like(found)
        in_order[order] = found & has_uuid
        return pl.Series("_duplicate", in_order)

    def _add(self, keys: np.ndarray, data: np.ndarray) -> None:
        """Add a level (its keys sorted); merge the last two while the newer is at least half the older."""
        self._levels.append((keys, data))
        while len(self._levels) > 1 and len(self._levels[-2][0]) <= 2 * len(self._levels[-1][0]):
            (k2, d2), (k1, d1) = self._levels.pop(), self._levels.pop()
            keys, data = np.concatenate([k1, k2]), np.concatenate([d1, d2])
            del k1, k2, d1, d2  # freed before the sorted copies are made: the peak is the new level, twice
            order = np.argsort(keys, kind="stable")  # two sorted runs: a merge
            keys = keys[order]
            data = data[order]
            del order
            self._levels.append((keys, data))


def _found_in(level_keys: np.ndarray, level_data: np.ndarray, keys: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Whether each (key, data) hash pair is in the level (both keys sorted: one sweep of the level)."""
    found = np.zeros(len(keys), dtype=bool)
    if not len(level_keys):
        return found
    left = np.searchsorted(level_keys, keys, "left")
    last = len(level_keys) - 1
    hit = level_keys[np.minimum(left, last)] == keys
    again = hit & (left < last) & (level_keys[np.minimum(left + 1, last)] == keys)
    one = hit & ~again  # the common case: a key seen once
    found[one] = level_data[left[one]] == data[one]
    for i in np.flatnonzero(again):  # a UUID reused for other data: every one compared
        right = np.searchsorted(level_keys, keys[i], "right")
        found[i] = bool((level_data[left[i] : right] == data[i]).any())
    return found


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
