"""emotic.boxes, as a specification: the rules a box must meet, IoU, one-to-one matching, consensus.

A box is [x1, y1, x2, y2] in whole pixels, right and bottom edges exclusive.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotic.boxes import (
    BoxError,
    as_box_array,
    clip_box,
    consensus_boxes,
    iou_matrix,
    match_boxes,
    validate_box,
    validate_boxes,
)
from emotic.errors import FieldError

# Everyone boxed, plus one extra box. Maximising total IoU first pairs expected 0 with
# drawn 0 (IoU 0.45, then dropped) and matches one person; most pairs first matches both.
EXPECTED = [[35, 11, 53, 49], [29, 13, 62, 53]]
DRAWN = [[21, 19, 53, 52], [27, 13, 67, 36], [35, 18, 60, 54]]


# --- validation ----------------------------------------------------------------------
FOUR_INTEGERS = "must be four integer pixel coordinates [x1, y1, x2, y2]"


def reason_for(boxes, width=640, height=480, **options) -> tuple[str, str]:
    with pytest.raises(BoxError) as raised:
        validate_boxes(boxes, width, height, **options)
    return raised.value.field, raised.value.reason


def test_a_valid_answer_comes_back_as_lists_of_ints():
    assert validate_boxes(((0, 0, 640, 480), [10, 20, 30, 40]), 640, 480) == [[0, 0, 640, 480], [10, 20, 30, 40]]
    assert validate_boxes([], 640, 480) == []


@pytest.mark.parametrize(
    ("boxes", "field", "reason"),
    [
        ("0,0,5,5", "boxes", "must be a list of [x1, y1, x2, y2] pixel boxes"),
        ([[10, 10, 50]], "boxes[0]", f"{FOUR_INTEGERS}, got [10, 10, 50]"),
        ([[1, 1, 9, 9], [10, 10, 50.5, 60]], "boxes[1]", f"{FOUR_INTEGERS}, got [10, 10, 50.5, 60]"),
        ([[True, 1, 9, 9]], "boxes[0]", f"{FOUR_INTEGERS}, got [True, 1, 9, 9]"),
        ([[1, 1, 9, 9], "1199"], "boxes[1]", f"{FOUR_INTEGERS}, got '1199'"),
        ([[1, 1, 9, 9], [1, 1, 9, 9], [5, 5, 3, 9]], "boxes[1]", "[1, 1, 9, 9] is the same box as boxes[0]"),
        ([[0, 0, 9, 9], [5, 5, 3, 9]], "boxes[1]", "[5, 5, 3, 9] has no area: need x1 < x2 and y1 < y2"),
        ([[5, 5, 5, 9]], "boxes[0]", "[5, 5, 5, 9] has no area: need x1 < x2 and y1 < y2"),
        ([[5, 9, 8, 2]], "boxes[0]", "[5, 9, 8, 2] has no area: need x1 < x2 and y1 < y2"),
        ([[-1, 0, 9, 9]], "boxes[0]", "[-1, 0, 9, 9] lies outside the image (640 x 480 pixels)"),
        ([[0, -1, 9, 9]], "boxes[0]", "[0, -1, 9, 9] lies outside the image (640 x 480 pixels)"),
        ([[0, 0, 641, 9]], "boxes[0]", "[0, 0, 641, 9] lies outside the image (640 x 480 pixels)"),
        ([[0, 0, 9, 481]], "boxes[0]", "[0, 0, 9, 481] lies outside the image (640 x 480 pixels)"),
    ],
)
def test_each_rule_names_the_box_by_its_index(boxes, field, reason):
    assert reason_for(boxes) == (field, reason)


def test_the_first_broken_rule_of_a_box_is_the_one_reported():
    # Type before area before image before duplicates.
    assert reason_for([[700, 9, 650, 1]])[1].endswith("has no area: need x1 < x2 and y1 < y2")
    assert reason_for([[700, 1, 750, 9], [700, 1, 750, 9]]) == (
        "boxes[0]", "[700, 1, 750, 9] lies outside the image (640 x 480 pixels)"
    )


def test_a_maximum_count_only_when_asked():
    three = [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]]
    assert reason_for(three, max_count=2) == ("boxes", "at most 2 boxes, got 3")
    assert len(validate_boxes(three, 640, 480, max_count=3)) == len(validate_boxes(three, 640, 480)) == 3


def test_a_box_error_is_a_field_error_with_the_field_first():
    with pytest.raises(FieldError) as raised:
        validate_boxes([[0, 0, 9, 9], [5, 5, 3, 9]], 640, 480, field="people_boxes")
    assert isinstance(raised.value, BoxError) and isinstance(raised.value, ValueError)
    assert str(raised.value) == "people_boxes[1]: [5, 5, 3, 9] has no area: need x1 < x2 and y1 < y2"


def test_one_box_without_the_image_size_checks_only_the_top_left_corner():
    assert validate_box((1, 2, 3000, 4000), field="body_bbox") == (1, 2, 3000, 4000)
    with pytest.raises(BoxError, match=r"^body_bbox: \[-1, 2, 3, 4\] lies outside the image$"):
        validate_box((-1, 2, 3, 4), field="body_bbox")
    assert validate_box(np.array([1, 2, 3, 4]), 4, 4) == (1, 2, 3, 4)  # numpy integers are whole pixels too


def test_fractional_boxes_when_asked_with_the_bad_coordinate_named():
    assert validate_box([0.5, 1, 10.25, 8], 64, 64, integers=False) == (0.5, 1.0, 10.25, 8.0)
    with pytest.raises(BoxError) as raised:
        validate_box([0, 0, float("nan"), 5], 64, 64, integers=False)
    assert (raised.value.field, raised.value.reason) == ("box.x2", "must be a finite number, got nan")
    with pytest.raises(BoxError, match=r"^box: must be four numbers \[x1, y1, x2, y2\], got '0,0,5,5'$"):
        validate_box("0,0,5,5", 64, 64, integers=False)
    with pytest.raises(BoxError, match=r"^box: \[0, 5, 10.2, 2.5\] has no area"):
        validate_box([0, 5, 10.2, 2.5], 64, 64, integers=False)
    with pytest.raises(BoxError, match=r"^box: \[0, 0, 64.5, 5\] lies outside the image \(64 x 64 pixels\)$"):
        validate_box([0.0, 0.0, 64.5, 5.0], 64, 64, integers=False)


def test_an_imported_box_is_cut_to_the_image():
    assert clip_box((-3, 5, 104, 70), 100, 80) == (0, 5, 100, 70)
    assert clip_box([10, 10, 20, 20], 100, 80) == (10, 10, 20, 20)
    with pytest.raises(BoxError, match=r"^people_boxes\[1\]: \[200, 5, 300, 70\] has no area inside the image \(100 x 80"):
        clip_box([200, 5, 300, 70], 100, 80, field="people_boxes[1]")
    with pytest.raises(BoxError, match=r"\[5, 5, 3, 9\] has no area: need x1 < x2"):  # not turned around silently
        clip_box([5, 5, 3, 9], 100, 80)
    with pytest.raises(BoxError, match="must be four integer pixel coordinates"):
        clip_box([1.5, 5, 30, 9], 100, 80)


def test_geometry_takes_any_valid_boxes_and_names_a_bad_one():
    assert as_box_array([]).shape == (0, 4)
    np.testing.assert_array_equal(as_box_array([(0, 0, 1.5, 2)]), [[0, 0, 1.5, 2]])
    with pytest.raises(BoxError, match=r"^drawn\[1\]: \[3, 0, 1, 1\] has no area"):
        as_box_array([[0, 0, 1, 1], [3, 0, 1, 1]], "drawn")


# --- IoU ------------------------------------------------------------------------------
def test_iou_by_hand():
    iou = iou_matrix([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    # identical; half overlapping (50 shared of 150); disjoint; contained (25 of 100)
    np.testing.assert_allclose(iou, [[1, 50 / 150, 0, 25 / 100]])
    np.testing.assert_allclose(iou_matrix([[0, 0, 4, 4]], [[2, 2, 6, 6]]), [[4 / 28]])
    np.testing.assert_allclose(iou_matrix([[0, 0, 1.5, 2]], [[0.5, 0, 2, 2]]), [[2 / 4]])


def test_boxes_that_only_touch_share_no_pixel():
    # Right and bottom edges are exclusive: [0, 10) and [10, 20) do not overlap.
    iou = iou_matrix([[0, 0, 10, 10]], [[10, 0, 20, 10], [0, 10, 10, 20], [10, 10, 20, 20], [9, 9, 20, 20]])
    np.testing.assert_allclose(iou, [[0, 0, 0, 1 / (100 + 121 - 1)]])


def test_iou_of_no_boxes_is_an_empty_matrix_of_the_right_shape():
    assert iou_matrix([], [[0, 0, 1, 1]]).shape == (0, 1)
    assert iou_matrix([[0, 0, 1, 1]] * 2, []).shape == (2, 0)


boxes = st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(1, 50), st.integers(1, 50)).map(
    lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
)


def exact_iou(a, b) -> Fraction:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])  # noqa: E731
    return Fraction(w * h, area(a) + area(b) - w * h)


@given(st.lists(boxes, min_size=1, max_size=5), st.lists(boxes, min_size=1, max_size=5))
def test_iou_is_symmetric_and_within_the_unit_interval(a, b):
    forward, backward = iou_matrix(a, b), iou_matrix(b, a)
    np.testing.assert_allclose(forward, backward.T)
    assert ((forward >= 0) & (forward <= 1 + 1e-12)).all()
    np.testing.assert_allclose(forward, [[float(exact_iou(x, y)) for y in b] for x in a], rtol=1e-12)


# --- matching -------------------------------------------------------------------------
def pairs(matches) -> list[tuple[int, int]]:
    return [(m.expected, m.drawn) for m in matches]


def test_everyone_boxed_plus_one_extra_box_matches_everyone():
    """The regression: maximising total IoU first matched 1 of these 2 people."""
    matches = match_boxes(EXPECTED, DRAWN, 0.5)
    assert pairs(matches) == [(0, 2), (1, 1)]
    assert all(m.iou >= 0.5 for m in matches)


def test_among_the_most_pairs_the_largest_total_iou_wins():
    expected = [[0, 0, 10, 10], [8, 0, 18, 10]]
    drawn = [[7, 0, 17, 10], [0, 0, 9, 10]]
    # Greedy on the best single pair would pair expected 1 with drawn 0 and leave expected 0 short.
    assert pairs(match_boxes(expected, drawn, 0.5)) == [(0, 1), (1, 0)]
    # Drawn 0 and drawn 1 both fit expected 0 (IoU 1 and 0.9): either pairing matches two people,
    # and the one with the larger total IoU is taken.
    two_ways = match_boxes([[0, 0, 10, 10], [20, 0, 30, 10]], [[0, 0, 10, 10], [1, 0, 10, 10], [20, 0, 30, 10]])
    assert pairs(two_ways) == [(0, 0), (1, 2)]


def test_pairs_below_the_threshold_are_not_matched():
    assert match_boxes([[0, 0, 10, 10]], [[5, 5, 15, 15]], 0.5) == []
    assert pairs(match_boxes([[0, 0, 10, 10]], [[5, 0, 15, 10]], 1 / 3)) == [(0, 0)]  # IoU exactly at it counts
    assert match_boxes([], [[0, 0, 1, 1]]) == match_boxes([[0, 0, 1, 1]], []) == []


def test_one_drawn_box_matches_one_person_only():
    assert pairs(match_boxes([[0, 0, 10, 10], [0, 0, 10, 10]], [[0, 0, 10, 10]])) == [(0, 0)]


def test_greedy_matching_stays_for_comparison_and_can_match_fewer():
    # COCO-style: take pairs by falling IoU. Drawn 0 goes to expected 0 and expected 1 is left.
    expected = [[0, 0, 10, 10], [8, 0, 18, 10]]
    drawn = [[2, 0, 12, 10], [0, 0, 5, 10]]
    assert pairs(match_boxes(expected, drawn, 0.2, method="greedy")) == [(0, 0)]
    assert pairs(match_boxes(expected, drawn, 0.2)) == [(0, 1), (1, 0)]


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: match_boxes([[0, 0, 10]], []), "expected_boxes"),
        (lambda: match_boxes([], [[5, 0, 1, 10]]), r"drawn_boxes\[0\]"),
        (lambda: match_boxes([], [[0, 0, 1, 1], [0, 0, np.nan, 1]]), r"drawn_boxes\[1\]"),
        (lambda: match_boxes([], [], min_iou=0), "min_iou"),
        (lambda: match_boxes([], [], method="best"), "method"),
    ],
)
def test_bad_boxes_are_rejected(call, field):
    # Moved from tests/emotic/test_agreement_gold.py; the error is now a BoxError (was AnnotationArrayError).
    with pytest.raises(BoxError, match=field):
        call()


small_boxes = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(1, 8), st.integers(1, 8)).map(
        lambda t: [t[0], t[1], t[0] + t[2], t[1] + t[3]]
    ),
    max_size=4,
)
thresholds = st.one_of(st.sampled_from([0.5, 1.0, 1 / 3]), st.floats(0, 1, exclude_min=True))


def best_by_brute_force(iou: np.ndarray, min_iou: float) -> tuple[int, float]:
    """(most pairs, largest total IoU among those) over every one-to-one assignment."""
    rows, cols = iou.shape
    for count in range(min(rows, cols), 0, -1):
        totals = [
            sum(iou[r, c] for r, c in zip(chosen, order))
            for chosen in itertools.combinations(range(rows), count)
            for order in itertools.permutations(range(cols), count)
            if all(iou[r, c] >= min_iou for r, c in zip(chosen, order))
        ]
        if totals:
            return count, max(totals)
    return 0, 0.0


@settings(max_examples=300, deadline=None)
@given(small_boxes, small_boxes, thresholds)
def test_matching_finds_as_many_pairs_as_any_assignment(expected, drawn, min_iou):
    matches = match_boxes(expected, drawn, min_iou)
    iou = iou_matrix(expected, drawn)
    count, total = best_by_brute_force(iou, min_iou)
    assert len(matches) == count
    assert sum(m.iou for m in matches) == pytest.approx(total, abs=1e-9)
    assert all(m.iou >= min_iou and m.iou == iou[m.expected, m.drawn] for m in matches)
    assert len({m.expected for m in matches}) == len({m.drawn for m in matches}) == len(matches)


# --- consensus ------------------------------------------------------------------------
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
    assert consensus_boxes([]) == []


def test_consensus_clusters_with_the_most_pairs_matching():
    # Two workers box the same two people, the second with one extra box: both people
    # have 2 votes of 2. Total-IoU-first matching left one of them with a single vote.
    assert consensus_boxes([EXPECTED, DRAWN]) == [
        [35, 14, 56, 52],  # median of [35, 11, 53, 49] and [35, 18, 60, 54], rounded half to even
        [28, 13, 64, 44],  # median of [29, 13, 62, 53] and [27, 13, 67, 36]
    ]
