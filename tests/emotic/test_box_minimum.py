"""emotic.boxes: the smallest person box, in answers and in consensus (one answer of 100 one-pixel boxes is no crowd)."""

from __future__ import annotations

import pytest

from emotic.boxes import BoxError, consensus_boxes, min_box_side, validate_boxes


@pytest.mark.parametrize(
    ("width", "height", "fraction", "floor", "side"),
    [
        (640, 480, 0.02, 8, 10),  # 2 % of 480 is 9.6: rounded up
        (500, 500, 0.02, 8, 10),  # exactly 10, not 11 from floating-point noise
        (200, 300, 0.02, 8, 8),  # the floor wins on small images
        (4000, 3000, 0.02, 8, 60),
        (5, 5, 0.02, 8, 5),  # never more than the shorter side: the whole image is always a box
        (640, 480, 0.0, 1, 1),  # no minimum at all
    ],
)
def test_the_minimum_side_is_a_share_of_the_shorter_side_with_a_floor(width, height, fraction, floor, side):
    assert min_box_side(width, height, fraction, floor) == side


@pytest.mark.parametrize(
    ("arguments", "field"),
    [((0, 480, 0.02, 8), "width"), ((640, 480, 1.5, 8), "fraction"), ((640, 480, 0.02, 0), "floor"), ((640, 480, True, 8), "fraction")],
)
def test_a_bad_minimum_is_named(arguments, field):
    with pytest.raises(BoxError) as raised:
        min_box_side(*arguments)
    assert raised.value.field == field


def test_a_box_under_the_minimum_is_refused_by_its_place_with_the_reason():
    boxes = [[10, 10, 200, 400], [300, 10, 400, 300], [0, 0, 640, 480], [50, 50, 51, 51]]
    with pytest.raises(BoxError) as raised:
        validate_boxes(boxes, 640, 480, min_side=10)
    assert raised.value.field == "boxes[3]"
    assert raised.value.reason == (
        "[50, 50, 51, 51] is too small (1 x 1 pixels): each side must be at least 10 pixels in this 640 x 480 image"
    )


def test_one_short_side_is_enough_to_refuse_a_box_and_the_minimum_itself_is_allowed():
    with pytest.raises(BoxError, match=r"boxes\[0\].*\(300 x 9 pixels\)"):
        validate_boxes([[0, 0, 300, 9]], 640, 480, min_side=10)
    assert validate_boxes([[0, 0, 10, 10]], 640, 480, min_side=10) == [[0, 0, 10, 10]]
    assert validate_boxes([[0, 0, 1, 1]], 640, 480) == [[0, 0, 1, 1]]  # no minimum unless asked


def test_a_hundred_one_pixel_boxes_are_refused_by_count_before_size():
    with pytest.raises(BoxError) as raised:
        validate_boxes([[x, 0, x + 1, 1] for x in range(100)], 640, 480, max_count=30, min_side=10)
    assert (raised.value.field, raised.value.reason) == ("boxes", "at most 30 boxes, got 100")


def test_consensus_makes_no_person_from_a_box_under_the_minimum():
    one_answer = [[[10, 10, 200, 400]] + [[x, 0, x + 1, 1] for x in range(300, 400)]]
    assert consensus_boxes(one_answer, min_side=10) == [[10, 10, 200, 400]]
    assert len(consensus_boxes(one_answer)) == 101  # without a minimum, as before


def test_tiny_boxes_do_not_vote_and_a_median_rounded_under_the_minimum_is_dropped():
    # Three workers agree on a tiny box: still no person.
    tiny = [[[20, 20, 25, 25]], [[20, 20, 25, 25]], [[21, 20, 26, 25]]]
    assert consensus_boxes(tiny, min_side=10) == []
    # Medians of x1 (3.5 -> 4) and x2 (12.5 -> 12): 8 pixels wide, though every answer's box was 9.
    answers = [[[3, 0, 12, 40]], [[4, 0, 13, 40]]]
    assert consensus_boxes(answers) == [[4, 0, 12, 40]]
    assert consensus_boxes(answers, min_side=9) == []
