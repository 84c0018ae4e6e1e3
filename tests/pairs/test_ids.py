"""Pair ids are a documented function of the content: recomputed here with the independent
``xxhash`` package and plain integer arithmetic, so no library upgrade can move them."""

from __future__ import annotations

import polars as pl
import xxhash

import dpo_frames
from dpo_frames import schema

MASK = 2**64 - 1


def mix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def combine(*hashes: int) -> int:
    acc = 0
    for h in hashes:
        acc = mix(acc ^ h)
    return acc


def h(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode())


def messages_hash(messages) -> int:
    if messages is None:
        return 0
    folded = 0
    for i, m in enumerate(messages):
        folded ^= mix(
            ((h(m["role"]) * 0xBF58476D1CE4E5B9) & MASK) ^ h(m["content"]) ^ (((i + 1) * 0x9E3779B97F4A7C15) & MASK)
        )
    return mix(folded ^ mix(len(messages) + 1))


def pair_id(prompt_text, messages, chosen, rejected) -> str:
    return f"{combine(combine(h(prompt_text), messages_hash(messages)), h(chosen), h(rejected)):016x}"


def test_pair_ids_follow_the_documented_formula():
    conversation = [{"role": "system", "content": "rules"}, {"role": "user", "content": "board ü"}]
    rows = []
    for t, (text, messages) in enumerate([("board ü", conversation), ("plain prompt", None)]):
        for i, (resp, score) in enumerate([("a", 1.0), ("b", 0.5), ("c", 0.0)]):
            rows.append(
                {
                    "run_id": "r",
                    "example_id": "e",
                    "turn_id": f"t{t}",
                    "turn_index": t,
                    "candidate_index": i,
                    "prompt_text": text,
                    "prompt_messages": messages,
                    "response": resp,
                    "score": score,
                    "step_uuid": None,
                    "metadata": None,
                }
            )
    pairs, _ = dpo_frames.build_pairs(pl.DataFrame(rows, schema=dict(schema.CANDIDATES)))
    assert pairs.height == 6
    for p in pairs.iter_rows(named=True):
        assert p["pair_id"] == pair_id(
            p["prompt_text"], p["prompt_messages"], p["chosen_response"], p["rejected_response"]
        )
