"""Deterministic synthetic NAT trajectories for the side-by-side benchmarks.

One seeded generator produces normalized tables (examples, prompts, responses and one
row per intermediate step). Everything the benchmarks feed to either side is derived
from those tables, so both the reference process and ours see the same data:

- :func:`build_eval_output` turns them into real NAT objects: an
  ``EvaluationRunOutput`` whose ``eval_input.eval_input_items[*].trajectory`` holds
  ``IntermediateStep`` objects (built without validation, see :func:`_construct`;
  a test checks they equal validated ones);
- :func:`stored_steps_frame` turns them into the steps frame of the design (one row
  per step, ``data``/``metadata`` as JSON text) without building any Python object,
  for the "stored steps" view and for sizes where objects do not fit.

Shape of a trajectory (per example)::

    WORKFLOW_START
      per turn:  FUNCTION_START "choose_move"
                   LLM_START, LLM_END     one call sampling the turn's candidates
                   per candidate: TTC_START, TTC_END "dpo_candidate_move"
                 FUNCTION_END
    WORKFLOW_END

so about 2.9 steps per candidate (an LLM call per candidate would add two more steps per
candidate, and at 1M candidates about 4 GB more of Python objects in every process: too
much next to the reference's own peak on a 24 GiB machine). Turns have 2-8 candidates (the last turn of the last
example may be cut short to hit the exact size), examples 2-6 turns. Scores of half of
the turns sit on a 0.05 grid (ties are common), the rest have three decimals. About 2 %
of the candidates repeat the response of their turn's first candidate (identical
chosen/rejected texts) and about 1 % of the examples repeat an earlier example's content
under a new id (duplicate pairs for the trainer's dedup). Prompts are chat message lists
(system, user, and for later turns the previous exchange) of a few hundred characters;
responses are 100-1000 characters.

Generation needs only numpy and polars (the tables are generated in the project venv and
cached as Parquet); building the NAT objects needs ``nvidia-nat`` and works in both the
project venv and the reference venv.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

GENERATOR_VERSION = 3
"""Bump when the generated data changes, so cached tables are regenerated."""

TTC_STEP_NAME = "dpo_candidate_move"
TURN_FUNCTION_NAME = "choose_move"
WORKFLOW_FUNCTION_NAME = "<workflow>"
LLM_NAME = "nim_llm"
BASE_TIMESTAMP = 1_780_000_000.0

_SIZE_SUFFIXES = {"k": 1_000, "m": 1_000_000}


class SynthError(ValueError):
    """A synthetic-data request that cannot be satisfied (bad size, missing cache...)."""


def parse_size(text: str) -> int:
    """Parse a candidate count such as ``10k``, ``1M``, ``2500`` into an int."""
    raw = text.strip().lower().replace("_", "")
    mult = 1
    if raw and raw[-1] in _SIZE_SUFFIXES:
        mult = _SIZE_SUFFIXES[raw[-1]]
        raw = raw[:-1]
    try:
        value = float(raw) * mult
    except ValueError:
        raise SynthError(f"cannot parse size {text!r}: expected a count like 10k, 100k, 1M or 2500") from None
    if value < 2 or value != int(value):
        raise SynthError(f"size {text!r} must be a whole number of at least 2 candidates")
    return int(value)


def format_size(n: int) -> str:
    """Inverse of :func:`parse_size` for round numbers (``1000000`` -> ``1M``)."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


@dataclass(frozen=True)
class SynthSpec:
    """Parameters of one synthetic data set; equal specs give equal data."""

    n_candidates: int
    seed: int = 0
    min_candidates_per_turn: int = 2
    max_candidates_per_turn: int = 8
    min_turns_per_example: int = 2
    max_turns_per_example: int = 6
    min_response_chars: int = 100
    max_response_chars: int = 1000
    grid_score_turn_fraction: float = 0.5
    identical_response_fraction: float = 0.02
    duplicate_example_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.n_candidates < 2:
            raise SynthError("n_candidates must be at least 2")
        if not 1 <= self.min_candidates_per_turn <= self.max_candidates_per_turn:
            raise SynthError("need 1 <= min_candidates_per_turn <= max_candidates_per_turn")
        if not 1 <= self.min_turns_per_example <= self.max_turns_per_example:
            raise SynthError("need 1 <= min_turns_per_example <= max_turns_per_example")
        if not 1 <= self.min_response_chars <= self.max_response_chars:
            raise SynthError("need 1 <= min_response_chars <= max_response_chars")

    @property
    def key(self) -> str:
        """Directory name for this spec's cache (size, seed, generator version)."""
        return f"{format_size(self.n_candidates)}-seed{self.seed}-v{GENERATOR_VERSION}"


@dataclass
class SynthTables:
    """The generated data, normalized.

    - ``examples``: ``example_idx, example_id, question, answer``
    - ``prompts``: ``prompt_id, messages`` (list of ``{role, content}``)
    - ``responses``: ``response_id, text``
    - ``steps``: one row per intermediate step, in trajectory order; text fields refer
      to ``prompts``/``responses`` by id (``prompt_id``, ``response_id``) or are inline
      (``text_input``, ``text_output``) for the short workflow/function payloads.
    """

    examples: pl.DataFrame
    prompts: pl.DataFrame
    responses: pl.DataFrame
    steps: pl.DataFrame

    _NAMES = ("examples", "prompts", "responses", "steps")

    def write(self, directory: Path) -> None:
        """Write the four tables as Parquet files into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in self._NAMES:
            getattr(self, name).write_parquet(directory / f"synth_{name}.parquet")

    @classmethod
    def read(cls, directory: Path) -> SynthTables:
        """Read tables written by :meth:`write`."""
        missing = [n for n in cls._NAMES if not (directory / f"synth_{n}.parquet").exists()]
        if missing:
            raise SynthError(
                f"{directory} has no cached synthetic tables {missing}; run benchmarks/run.py to generate them"
            )
        return cls(**{n: pl.read_parquet(directory / f"synth_{n}.parquet") for n in cls._NAMES})

    @property
    def n_candidates(self) -> int:
        return int(self.steps.filter(pl.col("event_type") == "TTC_END").height)


# ---------------------------------------------------------------------------
# Generation (numpy + polars only)
# ---------------------------------------------------------------------------


class _Text:
    """A seeded pseudo-word corpus; texts are slices of it."""

    def __init__(self, rng: Any, n_chars: int = 4_000_000) -> None:
        letters = list("abcdefghijklmnopqrstuvwxyz")
        lengths = rng.integers(2, 11, size=4000)
        picks = rng.integers(0, len(letters), size=int(lengths.sum()))
        vocab, pos = [], 0
        for n in lengths.tolist():
            vocab.append("".join(letters[i] for i in picks[pos : pos + n].tolist()))
            pos += n
        words = rng.integers(0, len(vocab), size=n_chars // 6)
        self.corpus = " ".join(vocab[i] for i in words.tolist())
        self.rng = rng

    def many(self, lengths: Any) -> list[str]:
        """One text per requested length, each a corpus slice at a random offset."""
        lengths = lengths.astype("int64")
        offsets = self.rng.integers(0, len(self.corpus) - int(lengths.max()) - 1, size=len(lengths))
        c = self.corpus
        return [c[o : o + n].strip() or "x" for o, n in zip(offsets.tolist(), lengths.tolist())]


def _uuids(rng: Any, n: int) -> list[str]:
    h = rng.bytes(16 * n).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def _shapes(spec: SynthSpec, rng: Any) -> list[tuple[list[int], int | None]]:
    """Per example: candidates per turn, and the earlier example it duplicates (or None)."""
    shapes: list[tuple[list[int], int | None]] = []
    total = 0
    while total < spec.n_candidates:
        if shapes and rng.random() < spec.duplicate_example_fraction:
            src = int(rng.integers(0, len(shapes)))
            while shapes[src][1] is not None:  # duplicate an original, not a copy
                src = shapes[src][1]
            counts, dup_of = list(shapes[src][0]), src
        else:
            n_turns = int(rng.integers(spec.min_turns_per_example, spec.max_turns_per_example + 1))
            counts = rng.integers(spec.min_candidates_per_turn, spec.max_candidates_per_turn + 1, size=n_turns).tolist()
            dup_of = None
        room = spec.n_candidates - total
        if sum(counts) > room:  # cut the last example to the exact size
            cut: list[int] = []
            for c in counts:
                if room <= 0:
                    break
                cut.append(min(c, room))
                room -= cut[-1]
            counts, dup_of = cut, None
        shapes.append((counts, dup_of))
        total += sum(counts)
    return shapes


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of acyclic objects
    (it would rescan them over and over); the benchmark runners call ``gc.collect()``
    before timing, which leaves every input object in the oldest generation, as it
    would be in a long-running NAT process."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate(spec: SynthSpec) -> SynthTables:
    """Generate the synthetic tables for ``spec`` (deterministic in ``spec``)."""
    with _gc_paused():
        return _generate(spec)


def _generate(spec: SynthSpec) -> SynthTables:
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    text = _Text(rng)
    shapes = _shapes(spec, rng)
    n_examples = len(shapes)

    # --- examples ---------------------------------------------------------------
    questions = text.many(rng.integers(60, 200, size=n_examples))
    answers = text.many(rng.integers(50, 150, size=n_examples))
    examples = pl.DataFrame(
        {
            "example_idx": pl.Series(range(n_examples), dtype=pl.Int32),
            "example_id": [f"ex_{i:07d}" for i in range(n_examples)],
            "question": questions,
            "answer": answers,
        }
    )

    # --- fresh content: one prompt per turn of an original example, responses per candidate
    fresh_turns = [(e, t, c) for e, (counts, dup) in enumerate(shapes) if dup is None for t, c in enumerate(counts)]
    n_fresh_turns = len(fresh_turns)
    n_fresh_cands = sum(c for _, _, c in fresh_turns)
    system_prompts = [f"You are a careful game-playing agent. {s}" for s in text.many(rng.integers(80, 180, size=8))]
    user_msgs = text.many(rng.integers(80, 240, size=n_fresh_turns))
    resp_texts = text.many(rng.integers(spec.min_response_chars, spec.max_response_chars + 1, size=n_fresh_cands))
    grid_turn = rng.random(n_fresh_turns) < spec.grid_score_turn_fraction
    grid_scores = rng.integers(0, 21, size=n_fresh_cands) / 20.0
    fine_scores = np.round(rng.random(n_fresh_cands), 3)
    identical = rng.random(n_fresh_cands) < spec.identical_response_fraction
    sys_pick = rng.integers(0, len(system_prompts), size=n_examples)

    # content per (example, turn): prompt_id and per candidate (response_id, score)
    prompts: list[list[dict[str, str]]] = []
    turn_content: dict[tuple[int, int], tuple[int, list[int], list[float]]] = {}
    cand_pos = 0
    prev_by_example: dict[int, tuple[str, str]] = {}
    for ti, (e, t, c) in enumerate(fresh_turns):
        sys_msg = {"role": "system", "content": system_prompts[int(sys_pick[e])]}
        user = {"role": "user", "content": user_msgs[ti]}
        if t > 0 and e in prev_by_example:
            prev_user, prev_answer = prev_by_example[e]
            messages = [
                sys_msg,
                {"role": "user", "content": prev_user},
                {"role": "assistant", "content": prev_answer},
                user,
            ]
        else:
            messages = [sys_msg, user]
        prompts.append(messages)
        rids = list(range(cand_pos, cand_pos + c))
        for k in range(1, c):
            if identical[cand_pos + k]:
                rids[k] = rids[0]
        scores_src = grid_scores if grid_turn[ti] else fine_scores
        scores = [float(s) for s in scores_src[cand_pos : cand_pos + c]]
        turn_content[(e, t)] = (ti, rids, scores)
        best = max(range(c), key=lambda k: scores[k])
        prev_by_example[e] = (user_msgs[ti], resp_texts[rids[best]][:200])
        cand_pos += c

    prompts_df = pl.DataFrame(
        {"prompt_id": pl.Series(range(len(prompts)), dtype=pl.Int32), "messages": prompts},
        schema={"prompt_id": pl.Int32, "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String}))},
    )
    responses_df = pl.DataFrame({"response_id": pl.Series(range(len(resp_texts)), dtype=pl.Int32), "text": resp_texts})

    steps = _layout(shapes, turn_content, rng)
    return SynthTables(examples=examples, prompts=prompts_df, responses=responses_df, steps=steps)


def _layout(shapes: list[tuple[list[int], int | None]], turn_content: dict, rng: Any) -> pl.DataFrame:
    """Expand the example shapes into one row per intermediate step."""
    n_cands = sum(sum(c) for c, _ in shapes)
    n_turns = sum(len(c) for c, _ in shapes)
    span_ids = iter(_uuids(rng, len(shapes) + 2 * n_turns + n_cands))
    fn_ids = iter(_uuids(rng, len(shapes) + n_turns))
    tag_hex = rng.bytes(3 * n_turns).hex()
    turn_tags = iter([tag_hex[i : i + 6] for i in range(0, 6 * n_turns, 6)])

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "example_idx",
            "step_index",
            "event_type",
            "name",
            "step_uuid",
            "parent_id",
            "function_id",
            "function_name",
            "function_parent_id",
            "function_parent_name",
            "span_event_timestamp",
            "turn_id",
            "turn_index",
            "candidate_index",
            "score",
            "prompt_id",
            "response_id",
            "text_input",
            "text_output",
            "is_selected",
        )
    }

    def row(
        e: int,
        etype: str,
        name: str,
        uuid: str,
        parent: str,
        fid: str,
        fname: str,
        fpid: str,
        fpname: str,
        span: bool,
        turn_id: str | None = None,
        turn_index: int | None = None,
        cand: int | None = None,
        score: float | None = None,
        prompt_id: int | None = None,
        response_id: int | None = None,
        text_input: str | None = None,
        text_output: str | None = None,
        is_selected: bool | None = None,
    ) -> None:
        cols["example_idx"].append(e)
        cols["event_type"].append(etype)
        cols["name"].append(name)
        cols["step_uuid"].append(uuid)
        cols["parent_id"].append(parent)
        cols["function_id"].append(fid)
        cols["function_name"].append(fname)
        cols["function_parent_id"].append(fpid)
        cols["function_parent_name"].append(fpname)
        cols["span_event_timestamp"].append(span)
        cols["turn_id"].append(turn_id)
        cols["turn_index"].append(turn_index)
        cols["candidate_index"].append(cand)
        cols["score"].append(score)
        cols["prompt_id"].append(prompt_id)
        cols["response_id"].append(response_id)
        cols["text_input"].append(text_input)
        cols["text_output"].append(text_output)
        cols["is_selected"].append(is_selected)

    for e, (counts, dup_of) in enumerate(shapes):
        src = e if dup_of is None else dup_of
        start = len(cols["example_idx"])
        wf_uuid, wf_fid = next(span_ids), next(fn_ids)
        wf = (wf_fid, WORKFLOW_FUNCTION_NAME, "root", "root")
        row(e, "WORKFLOW_START", WORKFLOW_FUNCTION_NAME, wf_uuid, "root", *wf, False)
        for t, c in enumerate(counts):
            prompt_id, rids, scores = turn_content[(src, t)]
            turn_id = f"turn_{t}_{next(turn_tags)}"
            fs_uuid, fn_fid = next(span_ids), next(fn_ids)
            fn = (fn_fid, TURN_FUNCTION_NAME, wf_fid, WORKFLOW_FUNCTION_NAME)
            best = max(range(c), key=lambda k: scores[k])
            row(e, "FUNCTION_START", TURN_FUNCTION_NAME, fs_uuid, wf_uuid, *wf, False, text_input=turn_id)
            llm_uuid = next(span_ids)
            row(e, "LLM_START", LLM_NAME, llm_uuid, fs_uuid, *fn, False, prompt_id=prompt_id)
            row(e, "LLM_END", LLM_NAME, llm_uuid, fs_uuid, *fn, True, prompt_id=prompt_id, response_id=rids[best])
            for k in range(c):
                ttc_uuid = next(span_ids)
                row(e, "TTC_START", TTC_STEP_NAME, ttc_uuid, fs_uuid, *fn, False, turn_id=turn_id, turn_index=t, cand=k)
                row(
                    e,
                    "TTC_END",
                    TTC_STEP_NAME,
                    ttc_uuid,
                    fs_uuid,
                    *fn,
                    True,
                    turn_id=turn_id,
                    turn_index=t,
                    cand=k,
                    score=scores[k],
                    prompt_id=prompt_id,
                    response_id=rids[k],
                    is_selected=(k == best),
                )
            row(e, "FUNCTION_END", TURN_FUNCTION_NAME, fs_uuid, wf_uuid, *wf, True, response_id=rids[best])
        row(e, "WORKFLOW_END", WORKFLOW_FUNCTION_NAME, wf_uuid, "root", *wf, True, text_output=None)
        cols["step_index"].extend(range(len(cols["example_idx"]) - start))

    n = len(cols["example_idx"])
    # Timestamps: 10 ms apart over the whole run; an END's span started one step earlier.
    span_flags = cols.pop("span_event_timestamp")
    return (
        pl.DataFrame(
            cols,
            schema={
                "example_idx": pl.Int32,
                "step_index": pl.Int32,
                "event_type": pl.String,
                "name": pl.String,
                "step_uuid": pl.String,
                "parent_id": pl.String,
                "function_id": pl.String,
                "function_name": pl.String,
                "function_parent_id": pl.String,
                "function_parent_name": pl.String,
                "turn_id": pl.String,
                "turn_index": pl.Int32,
                "candidate_index": pl.Int32,
                "score": pl.Float64,
                "prompt_id": pl.Int32,
                "response_id": pl.Int32,
                "text_input": pl.String,
                "text_output": pl.String,
                "is_selected": pl.Boolean,
            },
        )
        .with_columns(
            event_timestamp=BASE_TIMESTAMP + pl.int_range(n, dtype=pl.Int64).cast(pl.Float64) * 0.01,
        )
        .with_columns(
            span_event_timestamp=pl.when(pl.Series(span_flags, dtype=pl.Boolean))
            .then(pl.col("event_timestamp") - 0.01)
            .otherwise(None),
        )
    )


# ---------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------


def cache_dir(spec: SynthSpec, cache_root: Path) -> Path:
    """Where the tables of ``spec`` are cached under ``cache_root``."""
    return cache_root / spec.key


def ensure_cached(spec: SynthSpec, cache_root: Path) -> Path:
    """Generate and cache the tables of ``spec`` unless already cached; return the dir."""
    d = cache_dir(spec, cache_root)
    meta = d / "meta.json"
    if meta.exists():
        return d
    tables = generate(spec)
    tmp = d.with_name(d.name + ".partial")
    tables.write(tmp)
    stored_steps_frame(tables).write_parquet(tmp / "stored_steps.parquet")
    (tmp / "meta.json").write_text(json.dumps({"spec": asdict(spec), "counts": describe(tables)}, indent=2))
    if d.exists():
        import shutil

        shutil.rmtree(d)
    tmp.rename(d)
    return d


def describe(tables: SynthTables) -> dict[str, int]:
    """Counts that characterise a data set (for reports and sanity checks)."""
    s = tables.steps
    ttc = s.filter(pl.col("event_type") == "TTC_END")
    per_turn = ttc.group_by("example_idx", "turn_id").len()
    return {
        "examples": tables.examples.height,
        "steps": s.height,
        "candidates": ttc.height,
        "turns": per_turn.height,
        "single_candidate_turns": int(per_turn.filter(pl.col("len") == 1).height),
        "response_chars": int(tables.responses["text"].str.len_chars().sum()),
        "prompt_chars": int(
            ttc.join(
                tables.prompts.select(
                    "prompt_id",
                    chars=pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum(),
                ),
                on="prompt_id",
            )["chars"].sum()
        ),
    }


# ---------------------------------------------------------------------------
# Views: stored steps frame (no Python objects) and real NAT objects
# ---------------------------------------------------------------------------


def stored_steps_frame(tables: SynthTables, run_id: str = "bench") -> pl.DataFrame:
    """The steps frame of the design, built column-wise (no per-step Python objects).

    Columns: ``run_id, example_id, step_index, event_type, event_category, name,
    step_uuid, event_timestamp, data`` (JSON text, as NAT serializes the step's data:
    ``input, output, chunk, payload`` and, for TTC steps, ``turn_id, turn_index,
    candidate_index, score``) ``, metadata`` (JSON text or null).
    """
    s = (
        tables.steps.join(
            tables.examples.select("example_idx", "example_id", "question", "answer"), on="example_idx", how="left"
        )
        .join(tables.prompts, on="prompt_id", how="left")
        .join(tables.responses, on="response_id", how="left")
        .sort("example_idx", "step_index")
    )
    et = pl.col("event_type")
    data_input = (
        pl.when(et.is_in(["WORKFLOW_START", "WORKFLOW_END"]))
        .then(_json("question"))
        .when(pl.col("messages").is_not_null())
        .then(_json("messages"))
        .when(pl.col("text_input").is_not_null())
        .then(_json("text_input"))
        .otherwise(pl.lit("null"))
    )
    data_output = (
        pl.when(et == "WORKFLOW_END")
        .then(_json("answer"))
        .when(pl.col("text").is_not_null())
        .then(_json("text"))
        .otherwise(pl.lit("null"))
    )
    is_ttc = et.str.starts_with("TTC_")

    def num(col: str) -> pl.Expr:
        return pl.col(col).cast(pl.String).fill_null("null")

    def quoted(col: str) -> pl.Expr:
        return _json(col).fill_null("null")

    base = pl.concat_str(
        [pl.lit('{"input":'), data_input, pl.lit(',"output":'), data_output, pl.lit(',"chunk":null,"payload":null')]
    )
    ttc_tail = pl.concat_str(
        [
            pl.lit(',"turn_id":'),
            quoted("turn_id"),
            pl.lit(',"turn_index":'),
            num("turn_index"),
            pl.lit(',"candidate_index":'),
            num("candidate_index"),
            pl.lit(',"score":'),
            num("score"),
        ]
    )
    data = (
        pl.when(is_ttc).then(pl.concat_str([base, ttc_tail, pl.lit("}")])).otherwise(pl.concat_str([base, pl.lit("}")]))
    )
    metadata = pl.when(pl.col("is_selected").is_not_null()).then(
        pl.concat_str(
            [
                pl.lit('{"is_selected":'),
                pl.when(pl.col("is_selected")).then(pl.lit("true")).otherwise(pl.lit("false")),
                pl.lit("}"),
            ]
        )
    )
    return s.select(
        run_id=pl.lit(run_id),
        example_id="example_id",
        step_index="step_index",
        event_type="event_type",
        event_category=et.str.split("_").list.first(),
        name="name",
        step_uuid="step_uuid",
        event_timestamp="event_timestamp",
        data=data,
        metadata=metadata,
    )


def _json(col: str) -> pl.Expr:
    """The JSON text of a column's values (strings quoted and escaped, lists of structs
    as arrays of objects), vectorized: encode a one-field struct and strip the wrapper."""
    wrapped = pl.struct(pl.col(col).alias("v")).struct.json_encode()
    return pl.when(pl.col(col).is_not_null()).then(wrapped.str.slice(5, wrapped.str.len_bytes() - 6))


def _construct(cls: type, fields: dict[str, Any], fields_set: Any, extra: dict[str, Any] | None = None) -> Any:
    """Create a pydantic model instance without validation (what ``model_construct``
    does, minus default handling): the benchmark's inputs are built in each process and
    validating millions of steps would only slow the untimed setup down. Instances are
    equal to validated ones (tested)."""
    obj = cls.__new__(cls)
    d = object.__setattr__
    d(obj, "__dict__", fields)
    d(obj, "__pydantic_fields_set__", fields_set)
    d(obj, "__pydantic_extra__", extra)
    d(obj, "__pydantic_private__", None)
    return obj


def _shared(values: list[Any]) -> list[Any]:
    seen: dict[Any, Any] = {}
    return [seen.setdefault(v, v) for v in values]


def build_eval_output(tables: SynthTables) -> Any:
    """Build a real NAT ``EvaluationRunOutput`` holding every step as an ``IntermediateStep``.

    Prompt message lists and response strings are shared between the steps of a
    candidate (as in a live run, where the workflow passes the same objects along).
    """
    with _gc_paused():
        return _build_eval_output(tables)


def _build_eval_output(tables: SynthTables) -> Any:
    from nat.data_models.evaluate_runtime import EvaluationRunOutput, ProfilerResults
    from nat.data_models.evaluator import EvalInput, EvalInputItem
    from nat.data_models.intermediate_step import (
        IntermediateStep,
        IntermediateStepPayload,
        IntermediateStepType,
        StreamEventData,
        TTCEventData,
    )
    from nat.data_models.invocation_node import InvocationNode

    prompts = tables.prompts["messages"].to_list()  # list[list[dict]]: one list object per prompt
    responses = tables.responses["text"].to_list()
    ex = tables.examples
    questions, answers, example_ids = ex["question"].to_list(), ex["answer"].to_list(), ex["example_id"].to_list()
    etypes = {t.value: t for t in IntermediateStepType}

    step_fs = frozenset(("parent_id", "function_ancestry", "payload"))
    node_fs = frozenset(("function_id", "function_name", "parent_id", "parent_name"))
    payload_fields = (
        "event_type",
        "event_timestamp",
        "span_event_timestamp",
        "framework",
        "name",
        "tags",
        "metadata",
        "data",
        "usage_info",
        "UUID",
    )
    payload_fs = frozenset(payload_fields)
    stream_fs = frozenset(("input", "output"))
    ttc_start_fs = frozenset(("turn_id", "turn_index", "candidate_index"))
    ttc_end_fs = frozenset(("input", "output", "turn_id", "turn_index", "candidate_index", "score"))

    s = tables.steps
    # Repeated values (names, span and function ids, turn ids) are one object each, as
    # in a live run where every step of a span carries the same string.
    interned = {
        "event_type",
        "name",
        "step_uuid",
        "parent_id",
        "function_id",
        "function_name",
        "function_parent_id",
        "function_parent_name",
        "turn_id",
    }
    cols = [
        _shared(s[c].to_list()) if c in interned else s[c].to_list()
        for c in (
            "example_idx",
            "event_type",
            "name",
            "step_uuid",
            "parent_id",
            "function_id",
            "function_name",
            "function_parent_id",
            "function_parent_name",
            "event_timestamp",
            "span_event_timestamp",
            "turn_id",
            "turn_index",
            "candidate_index",
            "score",
            "prompt_id",
            "response_id",
            "text_input",
            "text_output",
            "is_selected",
        )
    ]
    trajectories: list[list[Any]] = [[] for _ in range(ex.height)]
    nodes: dict[str, Any] = {}
    for (
        e,
        etype,
        name,
        uuid,
        parent,
        fid,
        fname,
        fpid,
        fpname,
        ts,
        span_ts,
        turn_id,
        turn_index,
        cand,
        score,
        prompt_id,
        response_id,
        text_input,
        text_output,
        is_selected,
    ) in zip(*cols):
        node = nodes.get(fid)
        if node is None:
            node = nodes[fid] = _construct(
                InvocationNode,
                {"function_id": fid, "function_name": fname, "parent_id": fpid, "parent_name": fpname},
                node_fs,
            )
        inp = prompts[prompt_id] if prompt_id is not None else text_input
        out = responses[response_id] if response_id is not None else text_output
        metadata = None
        if etype == "TTC_END":
            data = _construct(
                TTCEventData,
                {
                    "input": inp,
                    "output": out,
                    "chunk": None,
                    "payload": None,
                    "turn_id": turn_id,
                    "turn_index": turn_index,
                    "candidate_index": cand,
                    "score": score,
                },
                ttc_end_fs,
                {},
            )
            metadata = {"is_selected": is_selected}
        elif etype == "TTC_START":
            data = _construct(
                TTCEventData,
                {
                    "input": None,
                    "output": None,
                    "chunk": None,
                    "payload": None,
                    "turn_id": turn_id,
                    "turn_index": turn_index,
                    "candidate_index": cand,
                    "score": None,
                },
                ttc_start_fs,
                {},
            )
        else:
            if etype == "WORKFLOW_START":
                inp = questions[e]
            elif etype == "WORKFLOW_END":
                inp, out = questions[e], answers[e]
            data = _construct(
                StreamEventData, {"input": inp, "output": out, "chunk": None, "payload": None}, stream_fs, {}
            )
        payload = _construct(
            IntermediateStepPayload,
            dict(zip(payload_fields, (etypes[etype], ts, span_ts, None, name, None, metadata, data, None, uuid))),
            payload_fs,
            {},
        )
        trajectories[e].append(
            _construct(IntermediateStep, {"parent_id": parent, "function_ancestry": node, "payload": payload}, step_fs)
        )

    item_fs = frozenset(
        (
            "id",
            "input_obj",
            "expected_output_obj",
            "output_obj",
            "trajectory",
            "expected_trajectory",
            "full_dataset_entry",
        )
    )
    items = [
        _construct(
            EvalInputItem,
            {
                "id": example_ids[i],
                "input_obj": questions[i],
                "expected_output_obj": None,
                "output_obj": answers[i],
                "expected_trajectory": [],
                "trajectory": trajectories[i],
                "full_dataset_entry": {"id": example_ids[i], "question": questions[i]},
            },
            item_fs,
        )
        for i in range(ex.height)
    ]
    return EvaluationRunOutput.model_construct(
        workflow_output_file=None,
        evaluator_output_files=[],
        workflow_interrupted=False,
        eval_input=EvalInput.model_construct(eval_input_items=items),
        evaluation_results=[],
        usage_stats=None,
        profiler_results=ProfilerResults(),
    )


def iter_steps(eval_output: Any) -> Iterator[Any]:
    """Every ``IntermediateStep`` of an ``EvaluationRunOutput``, in order."""
    for item in eval_output.eval_input.eval_input_items:
        yield from item.trajectory


def attribute_walk(eval_output: Any) -> int:
    """The floor of any reader of in-memory steps: one plain attribute walk that touches,
    for every step, what a reader must look at (ids, type, name, uuid, timestamp,
    ancestry, metadata, data and its input/output). Returns the number of steps."""
    n = 0
    for item in eval_output.eval_input.eval_input_items:
        _ = item.id
        for step in item.trajectory:
            p = step.payload
            _ = (
                step.parent_id,
                step.function_ancestry.function_name,
                p.event_type,
                p.name,
                p.UUID,
                p.event_timestamp,
                p.metadata,
            )
            d = p.data
            if d is not None:
                _ = (d.input, d.output)
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    """``python synth.py --size 100k [--seed 0] --cache DIR``: generate (if needed) and
    print the cache directory of that data set."""
    import argparse

    p = argparse.ArgumentParser(description="Generate and cache one synthetic benchmark data set.")
    p.add_argument("--size", required=True, help="number of candidates: 10k, 100k, 1M, 2500 ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, required=True, help="cache root directory")
    args = p.parse_args(argv)
    print(ensure_cached(SynthSpec(parse_size(args.size), seed=args.seed), args.cache))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
