"""Gold checks: each failure reason for emotion and box answers (box geometry: tests/emotic/test_boxes.py)."""

import numpy as np
import pytest

from emotic.annotation_arrays import AnnotationArrayError
from emotic.boxes import iou_matrix, match_boxes
from emotic.gold import EmotionGold, check_box_answer, check_emotion_answer

GOLD = EmotionGold(
    required_categories={"Happiness", "Pleasure"},
    allowed_categories={"Happiness", "Pleasure", "Excitement", "Engagement"},
    valence=(6, 10),
    arousal=(3, 8),
    allowed_genders={"Female"},
    allowed_ages={"Teenager", "Adult"},
)
GOOD = dict(categories=["Happiness", "Engagement"], valence=8, arousal=5, dominance=1, gender="Female", age="Adult")


def failed_fields(**changes):
    return [failure.field for failure in check_emotion_answer(GOLD, **{**GOOD, **changes}).failures]


def test_an_acceptable_answer_passes():
    check = check_emotion_answer(GOLD, **GOOD)
    assert check.passed and check.reasons == ()


@pytest.mark.parametrize(
    "changes, fields",
    [
        ({"categories": ["Engagement"]}, ["required_categories"]),
        ({"categories": ["Happiness", "Anger"]}, ["disallowed_categories"]),
        ({"categories": ["Anger"]}, ["required_categories", "disallowed_categories"]),
        ({"valence": 5}, ["valence"]),
        ({"arousal": 9}, ["arousal"]),
        ({"gender": "Male"}, ["gender"]),
        ({"gender": None}, ["gender"]),
        ({"age": "Kid"}, ["age"]),
        ({"valence": 1, "arousal": 1, "age": "Kid"}, ["valence", "arousal", "age"]),
    ],
)
def test_each_failure_reason_is_reported(changes, fields):
    assert failed_fields(**changes) == fields


def test_reasons_name_what_to_fix():
    check = check_emotion_answer(GOLD, **{**GOOD, "categories": ["Anger", "Fear"], "valence": 2, "gender": "Male"})
    assert check.reasons == (
        "Choose at least one of: Happiness, Pleasure.",
        "These categories do not fit this person: Anger, Fear.",
        "Valence 2 is outside the acceptable range 6-10.",
        "Gender Male is not acceptable here (acceptable: Female).",
    )


def test_range_ends_are_inclusive_and_empty_sets_accept_anything():
    assert failed_fields(valence=6, arousal=8) == []
    open_gold = EmotionGold(required_categories={"Fear"})
    check = check_emotion_answer(open_gold, ["Fear", "Anger"], 1, 10, 5, gender="Male", age="Kid")
    assert check.passed
    assert check_emotion_answer(open_gold, ["Fear"], 1, 10, 5).passed


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"required_categories": set()}, "required_categories"),
        ({"required_categories": {"Joy"}}, "required_categories"),
        ({"required_categories": "Fear"}, "required_categories"),
        ({"required_categories": {"Fear"}, "allowed_categories": {"Anger"}}, "required_categories"),
        ({"required_categories": {"Fear"}, "valence": (7, 3)}, "valence"),
        ({"required_categories": {"Fear"}, "dominance": (0, 3)}, "dominance"),
        ({"required_categories": {"Fear"}, "allowed_genders": {"Other"}}, "allowed_genders"),
        ({"required_categories": {"Fear"}, "allowed_ages": {"Baby"}}, "allowed_ages"),
    ],
)
def test_impossible_gold_items_are_rejected(kwargs, field):
    with pytest.raises(AnnotationArrayError, match=field):
        EmotionGold(**kwargs)


def test_unknown_answer_category_is_an_error_not_a_failure():
    with pytest.raises(AnnotationArrayError, match="categories: unknown category 'Joy'"):
        check_emotion_answer(GOLD, **{**GOOD, "categories": ["Joy"]})


def test_hungarian_finds_more_matches_than_greedy():
    # Drawn box 0 overlaps both people; taking it for person 0 (highest IoU) leaves person 1 unmatched.
    expected = [[0, 0, 10, 10], [8, 0, 18, 10]]
    drawn = [[2, 0, 12, 10], [0, 0, 5, 10]]
    np.testing.assert_allclose(iou_matrix(expected, drawn), [[80 / 120, 50 / 100], [40 / 160, 0]])
    hungarian = match_boxes(expected, drawn, min_iou=0.2)
    greedy = match_boxes(expected, drawn, min_iou=0.2, method="greedy")
    assert [(m.expected, m.drawn) for m in hungarian] == [(0, 1), (1, 0)]
    assert [(m.expected, m.drawn) for m in greedy] == [(0, 0)]
    assert check_box_answer(expected, drawn, min_iou=0.2).passed
    assert not check_box_answer(expected, drawn, min_iou=0.2, method="greedy").passed


def test_missed_and_extra_boxes_are_reported():
    expected = [[0, 0, 10, 10], [50, 50, 60, 60]]
    drawn = [[1, 1, 10, 10], [100, 100, 120, 120]]
    check = check_box_answer(expected, drawn)
    assert [f.field for f in check.failures] == ["missed_box"]
    assert "[50, 50, 60, 60]" in check.reasons[0] and "IoU 0.00" in check.reasons[0]
    strict = check_box_answer(expected, drawn, allow_extra_boxes=False)
    assert [f.field for f in strict.failures] == ["missed_box", "extra_box"]
    assert "[100, 100, 120, 120]" in strict.reasons[1]
    assert not check_box_answer(expected, []).passed
    assert check_box_answer([], []).passed


def test_one_drawn_box_cannot_match_two_people():
    check = check_box_answer([[0, 0, 10, 10], [0, 0, 10, 10]], [[0, 0, 10, 10]])
    assert [f.field for f in check.failures] == ["missed_box"]
