"""Krippendorff's alpha against the ``krippendorff`` package, and the agreement summary."""

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotic.agreement import agreement_summary, category_kappa, mean_vad_spread, person_kappa
from emotic.annotation_arrays import AnnotationArrayError
from emotic.krippendorff_alpha import interval_alpha, nominal_alpha, nominal_alpha_from_counts


def reference_alpha(values, level):
    """The package takes (coders, units); it raises where alpha is undefined, which we report as NaN."""
    try:
        return krippendorff.alpha(reliability_data=np.asarray(values, float).T, level_of_measurement=level)
    except ValueError:
        return np.nan


def sparse_ratings(seed, units, coders, low, high, missing_share):
    rng = np.random.default_rng(seed)
    values = rng.integers(low, high + 1, size=(units, coders)).astype(float)
    values[rng.random((units, coders)) < missing_share] = np.nan
    return values


# The package divides 0 by 0 where alpha is undefined (no disagreement is possible) and warns;
# ours returns NaN there without a warning, and the comparison below checks both are NaN.
@pytest.mark.filterwarnings("ignore:invalid value encountered in scalar divide:RuntimeWarning:krippendorff")
@settings(max_examples=60, deadline=None)
@given(
    units=st.integers(1, 15),
    coders=st.integers(2, 6),
    missing=st.sampled_from([0.0, 0.3, 0.6]),
    seed=st.integers(0, 2**32 - 1),
)
def test_nominal_and_interval_alpha_match_the_krippendorff_package(units, coders, missing, seed):
    values = sparse_ratings(seed, units, coders, 1, 10, missing)
    np.testing.assert_allclose(nominal_alpha(values), reference_alpha(values, "nominal"), atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(interval_alpha(values), reference_alpha(values, "interval"), atol=1e-12, equal_nan=True)


def test_binary_category_decisions_match_the_package():
    values = sparse_ratings(5, 40, 5, 0, 1, 0.25)
    assert nominal_alpha(values) == pytest.approx(reference_alpha(values, "nominal"))


def test_trailing_axes_are_independent_batches():
    rng = np.random.default_rng(8)
    vad = rng.integers(1, 11, size=(30, 5, 3)).astype(float)
    vad[rng.random((30, 5)) < 0.3] = np.nan
    np.testing.assert_allclose(interval_alpha(vad), [reference_alpha(vad[:, :, d], "interval") for d in range(3)])
    labels = rng.integers(0, 3, size=(30, 4, 2)).astype(float)
    np.testing.assert_allclose(nominal_alpha(labels), [reference_alpha(labels[:, :, b], "nominal") for b in range(2)])


def test_interval_alpha_is_exact_for_non_integer_values():
    values = np.array([[0.1, 0.1, 0.1], [0.3, 0.2, np.nan], [2.5, 2.75, 2.6]])
    assert interval_alpha(values) == pytest.approx(reference_alpha(values, "interval"))


def test_counts_form_equals_values_form():
    values = sparse_ratings(9, 25, 4, 0, 2, 0.2)
    counts = np.stack([(values == v).sum(axis=1) for v in (0, 1, 2)], axis=1)
    assert nominal_alpha_from_counts(counts) == pytest.approx(nominal_alpha(values))


def test_hand_made_cases():
    perfect = np.array([[1, 1, 1], [2, 2, np.nan], [3, 3, 3]], float)
    assert nominal_alpha(perfect) == pytest.approx(1.0)
    assert interval_alpha(perfect) == pytest.approx(1.0)
    # Two coders who always disagree on two values: D_o = 1, D_e = n/(n-1) * 1/2 with n = 4 -> alpha = -0.5.
    crossed = np.array([[0, 1], [1, 0]], float)
    assert nominal_alpha(crossed) == pytest.approx(-0.5)


@pytest.mark.parametrize(
    "values",
    [
        np.full((4, 3), 5.0),  # no variation at all: 0/0
        np.array([[1, np.nan], [2, np.nan], [3, np.nan]]),  # no unit with two values
        np.full((3, 2), np.nan),
        np.zeros((0, 3)),
    ],
)
def test_undefined_alpha_is_nan_not_an_error(values):
    assert np.isnan(nominal_alpha(values))
    assert np.isnan(interval_alpha(values))


def test_bad_reliability_data_is_rejected():
    with pytest.raises(AnnotationArrayError, match="values"):
        interval_alpha([1.0, 2.0])
    with pytest.raises(AnnotationArrayError, match="values"):
        nominal_alpha([[1.0, np.inf]])


def val_split_like(seed, people=50):
    rng = np.random.default_rng(seed)
    choices = rng.random((people, 5, 26)) < rng.uniform(0.05, 0.4, size=26)
    present = rng.random((people, 5)) < 0.85
    vad = np.clip(np.round(rng.normal(6, 1.5, size=(people, 1, 3)) + rng.normal(0, 1.2, (people, 5, 3))), 1, 10)
    return choices, present, vad


def test_summary_figures_agree_with_the_parts_and_the_package():
    choices, present, vad = val_split_like(1)
    summary = agreement_summary(choices, present, vad)
    masked_vad = np.where(present[:, :, None], vad, np.nan)
    assert summary.people_compared == int((present.sum(1) >= 2).sum())
    np.testing.assert_allclose(summary.category_kappa, category_kappa(choices, present), equal_nan=True)
    assert summary.mean_category_kappa == pytest.approx(np.nanmean(summary.category_kappa))
    np.testing.assert_allclose(summary.person_kappa, person_kappa(choices, present), equal_nan=True)
    defined = summary.person_kappa[~np.isnan(summary.person_kappa)]
    assert summary.share_people_above_threshold == pytest.approx((defined > 0.30).mean())
    np.testing.assert_allclose(summary.vad_spread, mean_vad_spread(masked_vad))
    for c in (0, 12, 25):
        decisions = np.where(present, choices[:, :, c], np.nan)
        assert summary.category_alpha[c] == pytest.approx(reference_alpha(decisions, "nominal"))
    pooled = np.where(present[:, :, None], choices, np.nan).transpose(0, 2, 1).reshape(-1, 5)
    assert summary.pooled_category_alpha == pytest.approx(reference_alpha(pooled, "nominal"))
    for d in range(3):
        assert summary.vad_alpha[d] == pytest.approx(reference_alpha(masked_vad[:, :, d], "interval"))


def test_summary_share_above_threshold_by_hand():
    choices = np.zeros((3, 2, 26), bool)
    present = np.ones((3, 2), bool)
    choices[0, :, 4] = True  # person 0: identical answers, kappa 1
    choices[1, 0, 1] = choices[1, 1, 2] = True  # person 1: disjoint answers, kappa < 0
    present[2, 1] = False  # person 2: one annotator, kappa undefined
    choices[2, 0, 0] = True
    summary = agreement_summary(choices, present, np.full((3, 2, 3), 5.0))
    assert summary.people_compared == 2
    assert summary.share_people_above_threshold == pytest.approx(0.5)
    assert np.isnan(summary.person_kappa[2])
    np.testing.assert_allclose(summary.vad_spread, [0, 0, 0])
    assert np.isnan(summary.vad_alpha).all()  # all VAD values equal: alpha undefined


def test_summary_checks_that_vad_matches_the_people():
    choices, present, vad = val_split_like(2, people=4)
    with pytest.raises(AnnotationArrayError, match="vad"):
        agreement_summary(choices, present, vad[:3])
