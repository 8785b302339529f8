"""Combined labels: union and mean (EMOTIC's rule), strict majority, gender/age ties, list-of-answers input."""

import numpy as np
import pytest

from emotic.aggregation import combine_labels, majority_categories, majority_label, mean_vad, union_categories
from emotic.annotation_arrays import AnnotationArrayError, AnnotationArrays, EmotionAnswer
from emotic.taxonomy import CATEGORY_INDEX, categories_to_mask


def answer(worker, categories, vad=(5, 5, 5), gender="Female", age="Adult"):
    return EmotionAnswer(worker, categories, *vad, gender=gender, age=age)


def test_union_and_majority_by_hand_with_a_tie():
    choices = np.zeros((2, 4, 26), bool)
    choices[0, :3, 0] = True  # 3 of 4 chose Affection
    choices[0, :2, 1] = True  # 2 of 4 chose Anger: a tie, not a majority
    choices[0, 3, 2] = True  # 1 of 4
    choices[1, 0, 5] = True  # person 1 has one annotator
    choices[1, 1:, 6] = True  # ... whose empty slots hold junk that must be ignored
    present = np.array([[True] * 4, [True, False, False, False]])
    union = union_categories(choices, present)
    majority = majority_categories(choices, present)
    assert np.flatnonzero(union[0]).tolist() == [0, 1, 2]
    assert np.flatnonzero(majority[0]).tolist() == [0]
    assert np.flatnonzero(union[1]).tolist() == np.flatnonzero(majority[1]).tolist() == [5]


def test_majority_is_strictly_more_than_half_for_odd_counts():
    choices = np.zeros((1, 3, 26), bool)
    choices[0, :2, 4] = True
    choices[0, :1, 9] = True
    assert np.flatnonzero(majority_categories(choices, np.ones((1, 3), bool))[0]).tolist() == [4]


def test_union_equals_any_and_majority_matches_counting_on_random_data():
    rng = np.random.default_rng(5)
    choices = rng.random((40, 5, 26)) < 0.3
    present = rng.random((40, 5)) < 0.8
    for p in range(40):
        given = choices[p, present[p]]
        np.testing.assert_array_equal(union_categories(choices, present)[p], given.any(axis=0))
        np.testing.assert_array_equal(
            majority_categories(choices, present)[p], given.sum(axis=0) > len(given) / 2
        )


def test_mean_vad_ignores_missing_answers():
    vad = np.array([[[2, 4, 6], [4, 6, 10], [np.nan] * 3], [[np.nan] * 3] * 3])
    result = mean_vad(vad)
    np.testing.assert_allclose(result[0], [3, 5, 8])
    assert np.isnan(result[1]).all()


def test_majority_label_prefers_the_most_frequent_then_the_earliest():
    codes = np.array(
        [
            [1, 0, 1, -1],  # 1 wins 2-1
            [1, 0, -1, -1],  # tie 1-1: slot 0 gave 1 first
            [-1, 0, 1, -1],  # tie: slot 1 gave 0 first
            [2, 1, 1, 2],  # tie 2-2: 2 came first
            [-1, -1, -1, -1],  # nothing
        ]
    )
    assert majority_label(codes, 3).tolist() == [1, 1, 0, 2, -1]


def test_majority_label_rejects_bad_codes():
    with pytest.raises(AnnotationArrayError, match="gender"):
        majority_label(np.array([[0, 2]]), 2, "gender")
    with pytest.raises(AnnotationArrayError, match="gender"):
        majority_label(np.array([[0.0, 1.0]]), 2, "gender")


def test_from_answers_builds_the_documented_arrays():
    arrays = AnnotationArrays.from_answers(
        [
            [
                answer("w1", ["Happiness", "Peace"], (7, 5, 6)),
                answer("w2", categories_to_mask(["Fear"]), gender="Male"),
            ],
            [answer("w2", ["Pain"], age=None)],
            [],
        ]
    )
    assert arrays.choices.shape == (3, 2, 26) and arrays.vad.shape == (3, 2, 3)
    assert arrays.worker_ids == ("w1", "w2")
    assert arrays.worker_index.tolist() == [[0, 1], [1, -1], [-1, -1]]
    assert arrays.present.tolist() == [[True, True], [True, False], [False, False]]
    assert np.flatnonzero(arrays.choices[0, 0]).tolist() == [CATEGORY_INDEX["Happiness"], CATEGORY_INDEX["Peace"]]
    assert np.flatnonzero(arrays.choices[0, 1]).tolist() == [CATEGORY_INDEX["Fear"]]
    np.testing.assert_array_equal(arrays.vad[0, 0], [7, 5, 6])
    assert np.isnan(arrays.vad[1, 1]).all()
    assert arrays.gender.tolist() == [[1, 0], [1, -1], [-1, -1]]
    assert arrays.age.tolist() == [[2, 2], [-1, -1], [-1, -1]]


@pytest.mark.parametrize(
    "people, field",
    [
        ([[answer("w1", ["Joy"])]], r"answers\[0\]\[0\]\.categories"),
        ([[answer("w1", [])]], r"answers\[0\]\[0\]\.categories"),
        ([[answer("w1", "Fear")]], r"answers\[0\]\[0\]\.categories"),
        ([[answer("w1", 1 << 26)]], r"answers\[0\]\[0\]\.categories"),
        ([[answer("w1", ["Fear"], (5, 11, 5))]], r"answers\[0\]\[0\]\.arousal"),
        ([[answer("w1", ["Fear"], (5.5, 5, 5))]], r"answers\[0\]\[0\]\.valence"),
        ([[], [answer("w1", ["Fear"], gender="Other")]], r"answers\[1\]\[0\]\.gender"),
        ([[answer("w1", ["Fear"], age="Elder")]], r"answers\[0\]\[0\]\.age"),
        ([[answer("w1", ["Fear"]), answer("w1", ["Pain"])]], r"answers\[0\]\[1\]\.worker"),
    ],
)
def test_from_answers_names_the_bad_field(people, field):
    with pytest.raises(AnnotationArrayError, match=field):
        AnnotationArrays.from_answers(people)


def test_arrays_built_by_hand_are_checked_for_consistency():
    arrays = AnnotationArrays.from_answers([[answer("w1", ["Fear"])]])
    fields = vars(arrays)
    with pytest.raises(AnnotationArrayError, match="worker_index"):
        AnnotationArrays(**{**fields, "worker_index": np.array([[-1]])})
    with pytest.raises(AnnotationArrayError, match="vad"):
        AnnotationArrays(**{**fields, "vad": np.full((1, 2, 3), 5.0)})
    with pytest.raises(AnnotationArrayError, match="age"):
        AnnotationArrays(**{**fields, "age": np.array([[3]])})


def people_for_combining():
    return AnnotationArrays.from_answers(
        [
            [
                answer("a", ["Happiness", "Excitement"], (8, 7, 6), "Female", "Teenager"),
                answer("b", ["Happiness"], (9, 6, 6), "Male", "Adult"),
                answer("c", ["Happiness", "Surprise"], (7, 8, 3), "Male", "Teenager"),
            ],
            [answer("b", ["Sadness"], (2, 3, 4), "Female", "Kid")],
        ]
    )


def test_combine_labels_union_is_the_default_emotic_rule():
    combined = combine_labels(people_for_combining())
    assert combined.method == "union"
    assert combined.record(0) == {
        "categories": ["Excitement", "Happiness", "Surprise"],
        "valence": 8.0,
        "arousal": 7.0,
        "dominance": 5.0,
        "gender": "Male",
        "age": "Teenager",
    }
    assert combined.record(1)["categories"] == ["Sadness"] and combined.record(1)["age"] == "Kid"


def test_combine_labels_majority_and_dawid_skene_keep_vad_mean_and_demographics():
    arrays = people_for_combining()
    union = combine_labels(arrays)
    for method in ("majority", "dawid_skene"):
        combined = combine_labels(arrays, method)
        assert combined.record(0)["categories"] == ["Happiness"]
        np.testing.assert_array_equal(combined.vad, union.vad)
        np.testing.assert_array_equal(combined.gender, union.gender)


def test_combine_labels_rejects_unknown_methods_and_stray_options():
    with pytest.raises(AnnotationArrayError, match="method"):
        combine_labels(people_for_combining(), "mean")
    with pytest.raises(AnnotationArrayError, match="method"):
        combine_labels(people_for_combining(), "union", max_iter=3)
