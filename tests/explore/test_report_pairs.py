"""The pairs a report page embeds: all up to the bound, else the documented sample; each text once."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dpo_frames.explore import _report_pairs as rp
from dpo_frames.explore.summary import RunData
from tests import data
from tests.explore.test_quality import pairs
from tests.hypothesis_profiles import examples


def _many(n: int) -> pl.DataFrame:
    return pairs([f"p{i % 37}" for i in range(n)], [round((i * 7919 % 1000) / 1000, 3) for i in range(n)])


def test_every_pair_up_to_the_bound():
    f = data.frames("r1")
    sample = rp.sample_pairs(RunData(candidates=f["candidates"], pairs=f["pairs"]), embed_pairs=4)
    assert not sample.sampled and sample.total == 4 and sample.source == "pairs"
    assert sorted(sample.frame["pair_id"]) == sorted(f["pairs"]["pair_id"])
    assert dict(zip(sample.frame["turn_id"], sample.frame["turn_index"], strict=True)) == {"t0": 0}


def test_a_larger_frame_is_sampled_with_its_extremes():
    frame = _many(5_000)
    sample = rp.sample_pairs(RunData(pairs=frame), embed_pairs=300)
    assert sample.sampled and sample.frame.height == 300 and sample.total == 5_000
    assert sample.frame["pair_id"].n_unique() == 300
    widest = frame.sort("score_diff", descending=True).head(30)["score_diff"].min()
    closest = frame.sort("score_diff").head(30)["score_diff"].max()
    assert (sample.frame["score_diff"] >= widest).sum() >= 30 and (sample.frame["score_diff"] <= closest).sum() >= 30
    assert sample.frame["score_diff"].max() == frame["score_diff"].max()
    assert sample.frame["score_diff"].min() == frame["score_diff"].min()


@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=examples(20), deadline=None)
def test_the_sample_depends_on_the_pairs_not_their_order(seed):
    frame = _many(800)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    a = rp.sample_pairs(RunData(pairs=frame), embed_pairs=100).frame["pair_id"]
    b = rp.sample_pairs(RunData(pairs=shuffled), embed_pairs=100).frame["pair_id"]
    assert a.to_list() == b.to_list()


def test_the_dataset_is_what_is_embedded_when_there_is_one():
    f = data.frames("r1")
    sample = rp.sample_pairs(RunData(pairs=f["pairs"], dataset=f["dataset"]))
    assert sample.source == "dataset" and sorted(sample.frame["split"]) == sorted(f["dataset"]["split"])
    assert rp.sample_pairs(RunData()) is None


def _decode(encoded: dict, i: int) -> tuple[object, str, str]:
    s, p = encoded["s"], encoded["pairs"]
    prompt = encoded["prompts"][p["p"][i]]
    shown = s[prompt] if isinstance(prompt, int) else [(role, s[at]) for role, at in prompt]
    return shown, s[p["c"][i]], s[p["r"][i]]


def test_the_encoding_keeps_every_text_once():
    f = data.frames("r1")
    long = "x" * (rp.MAX_TEXT_CHARS + 5)
    frame = f["pairs"].with_columns(
        rejected_response=pl.when(pl.col("chosen_response") == "best")
        .then(pl.lit(long))
        .otherwise("rejected_response"),
        prompt_messages=pl.lit([{"role": "system", "content": "be brief"}, {"role": "user", "content": "p1"}]),
    )
    runs = [rp.sample_pairs(RunData(pairs=frame)), None, rp.sample_pairs(RunData(pairs=f["pairs"]))]
    encoded = rp.encode(runs)
    cols = encoded["pairs"]
    assert cols["run"] == [0] * 4 + [2] * 4 and len(encoded["s"]) == len(set(encoded["s"]))
    decoded = [_decode(encoded, i) for i in range(8)]
    rows = runs[0].frame.to_dicts() + runs[2].frame.to_dicts()
    for (prompt, chosen, rejected), row in zip(decoded, rows, strict=True):
        assert chosen == row["chosen_response"]
        if row["rejected_response"] == long:
            assert rejected == "x" * rp.MAX_TEXT_CHARS + " … [5 more characters not embedded]"
        else:
            assert rejected == row["rejected_response"]
        messages = row["prompt_messages"]
        assert prompt == ([(m["role"], m["content"]) for m in messages] if messages else row["prompt_text"])
    assert cols["m"] == [r["score_diff"] for r in rows] and cols["id"] == [r["pair_id"] for r in rows]
