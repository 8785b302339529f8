"""Control checks on answers: emotions against a set of acceptable answers, boxes against expected boxes.

The box geometry itself (IoU, matching, consensus) is specified in tests/emotic/test_boxes.py.
"""

from __future__ import annotations

import pytest

from annotator.models import GoldItem
from annotator.services.gold import box_answer_passes, emotion_answer_passes
from emotic.taxonomy import categories_to_mask
from tests.factories import GoldItemFactory


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


@pytest.mark.django_db
def test_everyone_boxed_plus_one_extra_box_passes_a_stored_box_control():
    """Regression: total-IoU-first matching paired one of these two people and failed the worker."""
    GoldItemFactory(
        boxes=True,
        expected_boxes=[[35, 11, 53, 49], [29, 13, 62, 53]],
        min_iou=0.5,
    )
    gold = GoldItem.objects.get(kind="boxes")  # as the submission reads it back
    drawn = [[21, 19, 53, 52], [27, 13, 67, 36], [35, 18, 60, 54]]
    assert box_answer_passes(gold, boxes=drawn, no_people=False) is True
    assert box_answer_passes(gold, boxes=drawn[:2], no_people=False) is False  # only drawn[2] fits expected[0]
