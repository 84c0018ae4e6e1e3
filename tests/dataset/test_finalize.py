from __future__ import annotations

import logging

import polars as pl
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import dpo_frames
from dpo_frames import schema
from tests.hypothesis_profiles import examples


def pairs_frame(prompts, chosen=None, rejected=None) -> pl.DataFrame:
    n = len(prompts)
    chosen = chosen or [f"c{i}" for i in range(n)]
    rejected = rejected or [f"r{i}" for i in range(n)]
    frame = pl.DataFrame(
        {
            "run_id": "r",
            "example_id": "e",
            "turn_id": [f"t{i}" for i in range(n)],
            "prompt_text": prompts,
            "prompt_messages": pl.Series([None] * n, dtype=schema.MESSAGES),
            "chosen_response": chosen,
            "rejected_response": rejected,
            "chosen_score": 1.0,
            "rejected_score": 0.0,
            "score_diff": 1.0,
            "chosen_index": 0,
            "rejected_index": 1,
            "reward": 1.0,
            "pair_id": [f"id{i}" for i in range(n)],
        }
    )
    return schema.conform(frame, schema.PAIRS, "pairs")


def test_dedup_keeps_first_and_is_idempotent():
    pairs = pairs_frame(["a", "a", "b", "a"], chosen=["x", "x", "x", "x"], rejected=["y", "y", "y", "z"])
    once, stats = dpo_frames.finalize_dataset(pairs)
    assert stats.duplicate_pairs == 1 and once.height == 3
    assert once.sort("pair_id")["pair_id"].to_list() == ["id0", "id2", "id3"]
    twice, stats2 = dpo_frames.finalize_dataset(once.drop("split"))
    assert stats2.duplicate_pairs == 0 and twice.equals(once)
    kept, _ = dpo_frames.finalize_dataset(pairs, deduplicate=False)
    assert kept.height == 4


def test_message_prompts_dedup_on_the_whole_history():
    pairs = pairs_frame(["q", "q"], chosen=["x", "x"], rejected=["y", "y"]).with_columns(
        prompt_messages=pl.Series(
            [
                [{"role": "user", "content": "q"}],
                [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
            ],
            dtype=schema.MESSAGES,
        )
    )
    _, stats = dpo_frames.finalize_dataset(pairs)
    assert stats.duplicate_pairs == 0


def test_sampling_is_seeded_and_independent_of_row_order():
    pairs = pairs_frame([f"p{i % 37}" for i in range(500)])
    a, stats = dpo_frames.finalize_dataset(pairs, max_pairs=100, seed=7)
    b, _ = dpo_frames.finalize_dataset(pairs.reverse(), max_pairs=100, seed=7)
    c, _ = dpo_frames.finalize_dataset(pairs, max_pairs=100, seed=8)
    assert a.height == 100 and stats.sampled_out_pairs == 400
    assert set(a["pair_id"]) == set(b["pair_id"])
    assert set(a["pair_id"]) != set(c["pair_id"])
    assert a["pair_id"].to_list() == sorted(a["pair_id"].to_list(), key=lambda s: int(s[2:]))  # input order kept


@settings(max_examples=examples(100), deadline=None)
@given(
    prompts=st.lists(st.sampled_from([f"p{i}" for i in range(12)] + ["ü", ""]), min_size=0, max_size=60),
    fraction=st.sampled_from([0.05, 0.2, 0.5, 0.95]),
)
def test_split_is_leak_free_deterministic_and_never_empty(prompts, fraction):
    dataset, stats = dpo_frames.finalize_dataset(pairs_frame(prompts), deduplicate=False, validation_fraction=fraction)
    sides = dataset.group_by("prompt_text").agg(pl.col("split").n_unique())
    distinct = len(set(prompts))
    if distinct >= 2:
        assert sides["split"].max() == 1 and stats.prompts_in_both_splits == 0
    if len(prompts) >= 2:
        assert stats.validation_pairs >= 1 and stats.train_pairs >= 1
    assert stats.train_pairs + stats.validation_pairs == len(prompts)
    again, _ = dpo_frames.finalize_dataset(
        pairs_frame(prompts).reverse(), deduplicate=False, validation_fraction=fraction
    )
    assert dict(again.select("pair_id", "split").iter_rows()) == dict(dataset.select("pair_id", "split").iter_rows())


def test_split_rule_is_the_published_xxh3_of_the_prompt_text():
    """The side of a prompt is (xxh3_64(utf-8 text) >> 11) / 2**53 < fraction: checked against the
    independent ``xxhash`` package, so no Polars or library upgrade can move a prompt."""
    prompts = [f"prompt {i}" for i in range(40)] + ["ü→漢", "emoji 🙂"]
    dataset, _ = dpo_frames.finalize_dataset(pairs_frame(prompts), deduplicate=False, validation_fraction=0.3)
    expected = {
        p: "validation" if (xxhash.xxh3_64_intdigest(p.encode()) >> 11) / 2**53 < 0.3 else "train" for p in prompts
    }
    assert dict(dataset.select("prompt_text", "split").iter_rows()) == expected


def test_xxh3_known_vectors():
    from dpo_frames.hashing import xxh3

    got = pl.DataFrame({"s": ["", "abc"]}).select(xxh3(pl.col("s"))).to_series().to_list()
    assert got == [0x2D06800538D394C2, 0x78AF5F94892F3950]


def test_single_prompt_is_split_by_pair_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="dpo_frames"):
        dataset, stats = dpo_frames.finalize_dataset(pairs_frame(["same"] * 5), validation_fraction=0.2)
    assert stats.validation_pairs == 1 and stats.train_pairs == 4 and stats.prompts_in_both_splits == 1
    assert "share one prompt" in caplog.text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"validation_fraction": -0.1}, "validation_fraction"),  # 0 is valid: a train-only dataset
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"max_pairs": 0}, "max_pairs"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dpo_frames.finalize_dataset(pairs_frame(["a", "b"]), **kwargs)


def test_validation_fraction_zero_is_train_only():
    dataset, stats = dpo_frames.finalize_dataset(pairs_frame(["a", "b", "c", "d"]), validation_fraction=0)
    assert dataset["split"].to_list() == ["train"] * 4
    assert (stats.validation_pairs, stats.validation_prompts, stats.moved_prompts) == (0, 0, 0)


def test_normalized_dedup_trims_canonicalizes_and_optionally_casefolds():
    pairs = pairs_frame(["q", " q\n", "Q", "q"], chosen=["x", "x ", "X", "x"], rejected=["y", "\ty", "Y", "y"])
    _, stats = dpo_frames.finalize_dataset(pairs)
    assert stats.duplicate_pairs == 1 and stats.dedup_mode == "exact"
    normalized, stats = dpo_frames.finalize_dataset(pairs, dedup_mode="normalized")
    assert stats.duplicate_pairs == 2 and normalized.sort("pair_id")["pair_id"].to_list() == ["id0", "id2"]
    folded, stats = dpo_frames.finalize_dataset(pairs, dedup_mode="casefold")
    assert stats.duplicate_pairs == 3 and folded["pair_id"].to_list() == ["id0"]
    with pytest.raises(ValueError, match="dedup_mode must be one of"):
        dpo_frames.finalize_dataset(pairs, dedup_mode="fuzzy")


def test_normalized_dedup_compares_message_lists_as_canonical_json():
    messages = [
        [{"role": "user", "content": "q"}],
        [{"role": "user", "content": " q "}],
        [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],
        None,
    ]
    pairs = pairs_frame(["q"] * 4, chosen=["x"] * 4, rejected=["y"] * 4).with_columns(
        prompt_messages=pl.Series(messages, dtype=schema.MESSAGES)
    )
    _, exact = dpo_frames.finalize_dataset(pairs)
    _, normalized = dpo_frames.finalize_dataset(pairs, dedup_mode="normalized")
    assert exact.duplicate_pairs == 0
    assert normalized.duplicate_pairs == 1  # only the two one-message lists that differ in whitespace


def test_dedup_comes_before_sampling():
    """max_pairs counts distinct pairs: 50 copies of each of 4 pairs, sampled to 4, keeps all 4."""
    pairs = pairs_frame(
        [f"p{i % 4}" for i in range(200)], chosen=[f"c{i % 4} " * (1 + i % 2) for i in range(200)], rejected=["r"] * 200
    )
    dataset, stats = dpo_frames.finalize_dataset(pairs, max_pairs=4, dedup_mode="normalized")
    assert stats.duplicate_pairs == 196 and stats.sampled_out_pairs == 0
    assert sorted(dataset["prompt_text"].to_list()) == ["p0", "p1", "p2", "p3"]


def test_pair_ids_are_the_same_from_build_pairs_and_from_a_pairs_frame(example_output):
    """The NAT adapter re-derives missing pair ids from a pairs frame; they must match the engine's."""
    from dpo_frames.hashing import combine64, hex64, prompt_hash, xxh3

    candidates, _ = dpo_frames.extract_candidates(dpo_frames.read_steps(example_output))
    pairs, _ = dpo_frames.build_pairs(candidates)
    hashes = pairs.select(c=xxh3(pl.col("chosen_response")), r=xxh3(pl.col("rejected_response")))
    assert hex64(combine64(prompt_hash(pairs), hashes["c"], hashes["r"])).to_list() == pairs["pair_id"].to_list()


def test_a_single_pair_goes_to_train():
    for prompt in ("p6", "a", "b"):
        dataset, stats = dpo_frames.finalize_dataset(pairs_frame([prompt]))
        assert dataset["split"].to_list() == ["train"] and stats.validation_pairs == 0


def test_a_prompt_moved_to_fill_an_empty_side_is_counted():
    prompts = [f"prompt {i}" for i in range(3)]
    fraction = 0.01  # so small that no prompt hashes below it: one must move to validation
    expected_validation = [p for p in prompts if (xxhash.xxh3_64_intdigest(p.encode()) >> 11) / 2**53 < fraction]
    dataset, stats = dpo_frames.finalize_dataset(pairs_frame(prompts), validation_fraction=fraction)
    assert expected_validation == [] and stats.moved_prompts == 1 and stats.validation_pairs == 1
    _, stats = dpo_frames.finalize_dataset(pairs_frame([f"prompt {i}" for i in range(40)]), validation_fraction=0.5)
    assert stats.moved_prompts == 0
