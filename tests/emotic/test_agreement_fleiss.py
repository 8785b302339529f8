"""Fleiss' kappa (per category, per person) and VAD spread against independent implementations."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from emotic.agreement import category_kappa, fleiss_kappa, mean_vad_spread, person_kappa, vad_spread
from emotic.annotation_arrays import AnnotationArrayError


def reference_kappa(table):
    """statsmodels' Fleiss' kappa, NaN (not a warning) where chance agreement is 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return statsmodels_fleiss_kappa(np.asarray(table))


def count_table(labels, n_classes):
    """(subjects, raters) labels -> (subjects, classes) counts."""
    return (np.asarray(labels)[..., None] == np.arange(n_classes)).sum(axis=-2)


@settings(max_examples=60, deadline=None)
@given(
    subjects=st.integers(1, 12),
    raters=st.integers(2, 6),
    classes=st.integers(2, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_fleiss_kappa_matches_statsmodels_for_equal_raters(subjects, raters, classes, seed):
    labels = np.random.default_rng(seed).integers(0, classes, size=(subjects, raters))
    table = count_table(labels, classes)
    np.testing.assert_allclose(fleiss_kappa(table), reference_kappa(table), atol=1e-12, equal_nan=True)


def test_perfect_agreement_is_one_and_split_pairs_are_minus_one():
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == pytest.approx(1.0)
    # Two raters always disagreeing, balanced classes: kappa = -1.
    assert fleiss_kappa([[1, 1], [1, 1], [1, 1], [1, 1]]) == pytest.approx(-1.0)


def test_constant_ratings_and_no_comparable_subject_give_nan():
    assert np.isnan(fleiss_kappa([[4, 0], [4, 0]]))  # chance agreement 1: 0/0
    assert np.isnan(fleiss_kappa([[1, 0], [0, 1]]))  # one rater each: nothing to compare
    assert np.isnan(fleiss_kappa(np.zeros((0, 2))))


def test_two_raters_with_equal_margins_match_cohens_kappa():
    # With two raters Fleiss' kappa is Scott's pi, which equals Cohen's kappa when the raters' margins match.
    first = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    second = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    table = count_table(np.stack([first, second], axis=1), 2)
    assert fleiss_kappa(table) == pytest.approx(cohen_kappa_score(first, second))


def test_varying_raters_follow_fleiss_levin_paik_by_hand():
    # chosen / raters per subject: 2/2, 1/3, 0/4, 3/3. p = 6/12, m_bar = 3, N = 4.
    # kappa = 1 - sum x(m-x)/m / (N (m_bar-1) p q) = 1 - (2/3) / (4 * 2 * 1/4) = 2/3.
    table = [[2, 0], [1, 2], [0, 4], [3, 0]]
    assert fleiss_kappa(table) == pytest.approx(2 / 3)
    # A subject with a single rating carries no agreement information and changes nothing.
    assert fleiss_kappa(table + [[1, 0]]) == pytest.approx(2 / 3)


def test_overall_kappa_is_the_chance_weighted_mean_of_class_kappas_with_varying_raters():
    # Fleiss, Levin & Paik: kappa = sum_j p_j q_j kappa_j / sum_j p_j q_j, each kappa_j a binary kappa.
    rng = np.random.default_rng(7)
    raters = rng.integers(2, 7, size=40)
    table = np.stack([rng.multinomial(n, [0.5, 0.3, 0.2]) for n in raters])
    pooled = table.sum(axis=0) / table.sum()
    weights = pooled * (1 - pooled)
    per_class = [fleiss_kappa(np.stack([table[:, j], raters - table[:, j]], axis=1)) for j in range(3)]
    assert fleiss_kappa(table) == pytest.approx(np.dot(weights, per_class) / weights.sum())


def test_fleiss_kappa_is_vectorised_over_leading_axes():
    rng = np.random.default_rng(3)
    tables = np.stack([count_table(rng.integers(0, 3, size=(10, 4)), 3) for _ in range(5)])
    np.testing.assert_allclose(fleiss_kappa(tables), [reference_kappa(t) for t in tables])


@pytest.mark.parametrize("table", [[[1, -1], [2, 0]], [[0.5, 1.5]], [[1], [2]]])
def test_fleiss_kappa_rejects_bad_tables(table):
    with pytest.raises(AnnotationArrayError, match="counts"):
        fleiss_kappa(table)


def random_choices(rng, people, annotators, present_share=1.0):
    choices = rng.random((people, annotators, 26)) < rng.uniform(0.02, 0.4, size=26)
    present = rng.random((people, annotators)) < present_share
    return choices, present


def test_category_kappa_matches_statsmodels_per_category():
    rng = np.random.default_rng(11)
    choices, present = random_choices(rng, 60, 5)
    expected = [
        reference_kappa(np.stack([choices[:, :, c].sum(1), 5 - choices[:, :, c].sum(1)], axis=1)) for c in range(26)
    ]
    np.testing.assert_allclose(category_kappa(choices, present), expected, equal_nan=True)


def test_category_kappa_ignores_values_in_empty_slots_and_single_annotator_people():
    rng = np.random.default_rng(12)
    choices, present = random_choices(rng, 30, 3)
    baseline = category_kappa(choices, present)
    # Two extra slots that are empty, whatever they hold, and a person with one annotator.
    padded = np.concatenate([choices, rng.random((30, 2, 26)) < 0.5], axis=1)
    padded_present = np.concatenate([present, np.zeros((30, 2), bool)], axis=1)
    lone = np.zeros((1, 5, 26), bool)
    lone[0, 0, 3] = True
    lone_present = np.array([[True, False, False, False, False]])
    result = category_kappa(np.concatenate([padded, lone]), np.concatenate([padded_present, lone_present]))
    np.testing.assert_allclose(result, baseline, equal_nan=True)


def test_category_never_chosen_has_nan_kappa():
    rng = np.random.default_rng(13)
    choices, present = random_choices(rng, 20, 3)
    choices[0, 0, :] = True  # every other category chosen at least once
    choices[1, 0, :] = False  # ... and not by everyone
    choices[:, :, 5] = False
    kappa = category_kappa(choices, present)
    assert np.isnan(kappa[5])
    assert np.isfinite(np.delete(kappa, 5)).all()


def test_person_kappa_matches_statsmodels_per_person_with_varying_annotators():
    rng = np.random.default_rng(21)
    choices, present = random_choices(rng, 40, 5, present_share=0.7)
    result = person_kappa(choices, present)
    for p in range(40):
        n = present[p].sum()
        if n < 2:
            assert np.isnan(result[p])
            continue
        chosen = choices[p, present[p]].sum(axis=0)
        assert result[p] == pytest.approx(reference_kappa(np.stack([chosen, n - chosen], axis=1)), nan_ok=True)


def test_person_kappa_hand_cases():
    identical = np.zeros((1, 3, 26), bool)
    identical[0, :, [2, 7]] = True
    assert person_kappa(identical, np.ones((1, 3), bool))[0] == pytest.approx(1.0)
    # Two annotators, disjoint single choices: 24 categories agreed "no", 2 split.
    disjoint = np.zeros((1, 2, 26), bool)
    disjoint[0, 0, 0] = disjoint[0, 1, 1] = True
    # p = 2/52; P_bar = 24/26; P_e = p^2 + (1-p)^2.
    p = 2 / 52
    chance = p**2 + (1 - p) ** 2
    assert person_kappa(disjoint, np.ones((1, 2), bool))[0] == pytest.approx((24 / 26 - chance) / (1 - chance))
    everything = np.ones((1, 2, 26), bool)
    assert np.isnan(person_kappa(everything, np.ones((1, 2), bool))[0])


def test_choices_and_present_shapes_are_checked():
    with pytest.raises(AnnotationArrayError, match="choices"):
        category_kappa(np.zeros((3, 26), bool), np.ones((3,), bool))
    with pytest.raises(AnnotationArrayError, match="present"):
        person_kappa(np.zeros((3, 2, 26), bool), np.ones((3, 3), bool))
    with pytest.raises(AnnotationArrayError, match="choices"):
        category_kappa(np.full((3, 2, 26), 2), np.ones((3, 2), bool))


def test_vad_spread_matches_numpy_std_per_person_with_missing_answers():
    rng = np.random.default_rng(31)
    vad = rng.integers(1, 11, size=(25, 5, 3)).astype(float)
    vad[rng.random((25, 5)) < 0.3] = np.nan
    for ddof in (0, 1):
        result = vad_spread(vad, ddof=ddof)
        for p in range(25):
            values = vad[p][~np.isnan(vad[p, :, 0])]
            if len(values) <= ddof:
                assert np.isnan(result[p]).all()
            else:
                np.testing.assert_allclose(result[p], np.std(values, axis=0, ddof=ddof))


def test_mean_vad_spread_averages_people_with_two_or_more_answers():
    vad = np.full((3, 3, 3), np.nan)
    vad[0, :2] = [[5, 5, 5], [7, 9, 1]]  # std (ddof=1): sqrt(2), sqrt(8), sqrt(8)
    vad[1, :3] = [[5, 5, 5], [5, 5, 5], [5, 5, 5]]  # 0
    vad[2, :1] = [[1, 1, 1]]  # one answer: no spread
    np.testing.assert_allclose(mean_vad_spread(vad), [np.sqrt(2) / 2, np.sqrt(8) / 2, np.sqrt(8) / 2])
    # ddof=0 divides by n, and still leaves out the person with a single answer.
    np.testing.assert_allclose(mean_vad_spread(vad, ddof=0), [0.5, 1, 1])
    assert np.isnan(mean_vad_spread(np.full((2, 3, 3), np.nan))).all()


@pytest.mark.parametrize(
    "vad, field",
    [(np.zeros((2, 3)), "vad"), (np.full((1, 2, 3), 11.0), "vad"), (np.full((1, 2, 2), 5.0), "vad")],
)
def test_vad_is_validated(vad, field):
    with pytest.raises(AnnotationArrayError, match=field):
        vad_spread(vad)
    with pytest.raises(AnnotationArrayError, match="ddof"):
        vad_spread(np.full((1, 2, 3), 5.0), ddof=-1)
