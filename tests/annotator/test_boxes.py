"""Box geometry: IoU, one-to-one matching, consensus of several workers, gold checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotator.models import GoldItem
from annotator.services.boxes import consensus_boxes, iou_matrix, match_boxes
from annotator.services.gold import box_answer_passes, emotion_answer_passes
from emotic.taxonomy import categories_to_mask


def test_iou_of_known_boxes():
    overlaps = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(overlaps, [[1.0, 50 / 150, 0.0]])


boxes = st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(1, 50), st.integers(1, 50)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


@given(st.lists(boxes, min_size=1, max_size=5), st.lists(boxes, min_size=1, max_size=5))
def test_iou_is_symmetric_and_within_the_unit_interval(a, b):
    forward, backward = iou_matrix(a, b), iou_matrix(b, a)
    np.testing.assert_allclose(forward, backward.T)
    assert ((forward >= 0) & (forward <= 1 + 1e-12)).all()


def test_matching_is_one_to_one_and_maximises_total_overlap():
    expected = [[0, 0, 10, 10], [8, 0, 18, 10]]
    drawn = [[7, 0, 17, 10], [0, 0, 9, 10]]
    # Greedy on the best single pair would pair expected 1 with drawn 0 and leave expected 0 short.
    assert sorted(match_boxes(expected, drawn, 0.5)) == [(0, 1), (1, 0)]


def test_matching_drops_pairs_below_the_threshold():
    assert match_boxes([[0, 0, 10, 10]], [[5, 5, 15, 15]], 0.5) == []


def test_consensus_keeps_majority_boxes_at_their_median():
    answers = [
        [[0, 0, 10, 10], [50, 50, 60, 60]],
        [[1, 1, 11, 11], [51, 50, 61, 60]],
        [[2, 0, 12, 10]],
        [],  # "no people" votes against every box
    ]
    # The first person has 3 votes of 4; the second only 2, which is no majority.
    assert consensus_boxes(answers) == [[1, 0, 11, 10]]


def test_a_single_answer_is_taken_as_it_is():
    assert consensus_boxes([[[5, 6, 7, 8]]]) == [[5, 6, 7, 8]]


def emotions_gold(**fields) -> GoldItem:
    return GoldItem(kind="emotions", required_categories_mask=categories_to_mask(["Happiness"]), **fields)


def check(gold, categories=("Happiness",), valence=7, arousal=5, dominance=5, gender="Male", age="Adult"):
    mask = categories_to_mask(categories)
    return emotion_answer_passes(
        gold, categories_mask=mask, valence=valence, arousal=arousal, dominance=dominance, gender=gender, age=age
    )


@pytest.mark.parametrize(
    ("gold_fields", "answer", "passes"),
    [
        ({}, {}, True),
        ({}, {"categories": ("Anger",)}, False),
        ({"allowed_categories_mask": categories_to_mask(["Happiness"])}, {"categories": ("Happiness", "Peace")}, False),
        ({"valence_min": 6, "valence_max": 9}, {"valence": 5}, False),
        ({"arousal_min": 2, "arousal_max": 4}, {"arousal": 4}, True),
        ({"dominance_max": 4}, {"dominance": 5}, False),
        ({"allowed_genders": ["Female"]}, {"gender": "Male"}, False),
        ({"allowed_ages": ["Kid", "Teenager"]}, {"age": "Teenager"}, True),
    ],
)
def test_emotion_answers_against_a_set_of_acceptable_answers(gold_fields, answer, passes):
    assert check(emotions_gold(**gold_fields), **answer) is passes


@pytest.mark.parametrize(
    ("expected", "drawn", "no_people", "passes"),
    [
        ([[0, 0, 100, 100]], [[2, 2, 98, 101]], False, True),
        ([[0, 0, 100, 100]], [[50, 50, 150, 150]], False, False),
        ([[0, 0, 100, 100], [200, 0, 300, 100]], [[0, 0, 100, 100]], False, False),
        ([[0, 0, 100, 100]], [], True, False),
        ([], [], True, True),
        ([], [[0, 0, 10, 10]], False, False),
    ],
)
def test_box_answers_against_the_expected_boxes(expected, drawn, no_people, passes):
    gold = GoldItem(kind="boxes", expected_boxes=expected, min_iou=0.5)
    assert box_answer_passes(gold, boxes=drawn, no_people=no_people) is passes
