"""Splits are by image, stratified by category, reproducible, and stable for images already placed."""

import numpy as np
import pytest

from emotic.splits import SplitError, drawn_split, stratified_split
from emotic.taxonomy import NUM_CATEGORIES


def synthetic_labels(n_images: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Skewed like EMOTIC: a few frequent categories, many rare ones.
    prevalence = np.linspace(0.5, 0.02, NUM_CATEGORIES)
    return (rng.random((n_images, NUM_CATEGORIES)) < prevalence).astype(int) * rng.integers(1, 3, (n_images, 1))


def test_every_image_gets_exactly_one_split_in_the_requested_proportions():
    ids = list(range(1000))
    result = stratified_split(ids, synthetic_labels(1000))
    assert set(result) == set(ids)
    counts = {s: sum(1 for v in result.values() if v == s) for s in ("train", "val", "test")}
    assert counts == pytest.approx({"train": 700, "val": 100, "test": 200}, abs=3)


def test_each_split_has_a_similar_category_distribution():
    ids = list(range(2000))
    labels = synthetic_labels(2000)
    result = stratified_split(ids, labels, seed=3)
    overall = (labels > 0).mean(axis=0)

    def worst_gap(rows) -> float:
        return float(np.abs((labels[rows] > 0).mean(axis=0) - overall).max())

    # A random split of the same sizes, for comparison: stratification must beat it clearly.
    shuffled = np.random.default_rng(3).permutation(2000)
    random_rows = {"train": shuffled[:1400], "val": shuffled[1400:1600], "test": shuffled[1600:]}
    for split in ("train", "val", "test"):
        rows = [i for i in ids if result[i] == split]
        assert worst_gap(rows) < 0.05, split
        assert worst_gap(rows) < 0.7 * worst_gap(random_rows[split]), split


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    ids = list(range(300))
    labels = synthetic_labels(300)
    assert stratified_split(ids, labels, seed=7) == stratified_split(ids, labels, seed=7)
    assert stratified_split(ids, labels, seed=7) != stratified_split(ids, labels, seed=8)


def test_images_already_placed_keep_their_split_and_count_towards_quotas():
    ids = list(range(500))
    labels = synthetic_labels(500)
    first = stratified_split(ids[:400], labels[:400], seed=0)
    grown = stratified_split(ids, labels, fixed=first, seed=0)
    assert all(grown[i] == first[i] for i in ids[:400])
    counts = {s: sum(1 for v in grown.values() if v == s) for s in ("train", "val", "test")}
    assert counts == pytest.approx({"train": 350, "val": 50, "test": 100}, abs=3)


def test_images_without_labels_are_placed_too():
    result = stratified_split([10, 11, 12, 13, 14], np.zeros((5, NUM_CATEGORIES)), ratios={"train": 0.6, "val": 0.0, "test": 0.4})
    assert sorted(result.values()) == ["test", "test", "train", "train", "train"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ratios": {"train": 0.5, "val": 0.1, "test": 0.1}}, "ratios: must be non-negative and sum to 1"),
        ({"ratios": {"train": 0.9, "dev": 0.1}}, "ratios: unknown split 'dev'"),
        ({"fixed": {0: "holdout"}}, r"fixed\[0\]: unknown split 'holdout'"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(SplitError, match=message):
        stratified_split([0, 1], np.zeros((2, NUM_CATEGORIES)), **kwargs)


def test_labels_must_match_the_images():
    with pytest.raises(SplitError, match=r"labels: expected shape \(3, categories\)"):
        stratified_split([0, 1, 2], np.zeros((2, NUM_CATEGORIES)))


def test_a_drawn_split_follows_the_ratios_and_depends_only_on_the_key_and_the_seed():
    keys = [f"{i:064x}" for i in range(20_000)]
    drawn = [drawn_split(key, {"train": 0.7, "val": 0.1, "test": 0.2}) for key in keys]
    shares = {split: drawn.count(split) / len(keys) for split in ("train", "val", "test")}
    assert shares == pytest.approx({"train": 0.7, "val": 0.1, "test": 0.2}, abs=0.01)
    assert drawn[:100] == [drawn_split(key) for key in keys[:100]]  # the default ratios are EMOTIC's 70/10/20
    reseeded = [drawn_split(key, seed=1) for key in keys[:1000]]
    assert reseeded != drawn[:1000]


def test_a_split_with_no_share_is_never_drawn_and_bad_ratios_are_named():
    assert {drawn_split(str(i), {"train": 0.5, "test": 0.5}) for i in range(500)} == {"train", "test"}
    assert {drawn_split(str(i), {"val": 1.0}) for i in range(50)} == {"val"}
    with pytest.raises(SplitError, match="ratios: must be non-negative and sum to 1"):
        drawn_split("x", {"train": 0.7, "val": 0.7})
