"""Every stored figure against ``emotic`` on the database rows, and against independent implementations."""

import warnings

import krippendorff
import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from annotator.models import EmotionAnnotation
from quality.models import PersonAgreement
from quality.services import recompute_quality
from emotic.aggregation import combine_labels
from emotic.agreement import agreement_summary, person_kappa, vad_spread
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS, categories_to_mask
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def counted_answers_by_person(split=None):
    """An independent route from the rows: the ORM, one answer at a time, and from_answers."""
    rows = EmotionAnnotation.objects.filter(status__in=["submitted", "accepted"], excluded=False, is_gold=False,
                                            worker__is_blocked=False)
    if split is not None:
        rows = rows.filter(person__image__split=split)
    people: dict[int, list[EmotionAnswer]] = {}
    for a in rows.order_by("person_id", "created_at", "id"):
        people.setdefault(a.person_id, []).append(
            EmotionAnswer(a.worker_id, a.categories_mask, a.valence, a.arousal, a.dominance, a.gender, a.age)
        )
    return list(people), AnnotationArrays.from_answers(list(people.values()))


def none_to_nan(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def test_person_figures_match_emotic_and_statsmodels(review_data):
    recompute_quality()
    person_ids, arrays = counted_answers_by_person()
    kappa = person_kappa(arrays.choices, arrays.present)
    spread = vad_spread(arrays.vad)
    union = combine_labels(arrays, "union").categories
    majority = combine_labels(arrays, "majority").categories
    dawid_skene = combine_labels(arrays, "dawid_skene").categories
    stored = {a.person_id: a for a in PersonAgreement.objects.all()}
    assert set(stored) == set(person_ids)
    for p, person_id in enumerate(person_ids):
        row = stored[person_id]
        assert row.annotators == arrays.present[p].sum()
        np.testing.assert_allclose(none_to_nan([row.fleiss_kappa]), [kappa[p]], equal_nan=True)
        np.testing.assert_allclose(
            none_to_nan([row.valence_std, row.arousal_std, row.dominance_std]), spread[p], equal_nan=True
        )
        assert row.union_mask == categories_to_mask(np.array(CATEGORY_NAMES)[union[p]])
        assert row.majority_mask == categories_to_mask(np.array(CATEGORY_NAMES)[majority[p]])
        assert row.dawid_skene_mask == categories_to_mask(np.array(CATEGORY_NAMES)[dawid_skene[p]])
        if row.annotators >= 2:
            chosen = arrays.choices[p].sum(axis=0)
            table = np.stack([chosen, row.annotators - chosen], axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                assert row.fleiss_kappa == pytest.approx(statsmodels_fleiss_kappa(table))
        else:
            assert row.fleiss_kappa is None and row.valence_std is None


def test_person_with_single_annotator_has_undefined_figures_not_zero(review_data):
    recompute_quality()
    row = PersonAgreement.objects.get(person=review_data.train_person)
    assert row.annotators == 1
    assert (row.fleiss_kappa, row.valence_std, row.arousal_std, row.dominance_std) == (None, None, None, None)
    assert not PersonAgreement.objects.filter(person=review_data.lonely_person).exists()


def test_report_figures_match_agreement_summary_and_krippendorff(review_data):
    report = recompute_quality()
    _, arrays = counted_answers_by_person(split="val")
    summary = agreement_summary(arrays.choices, arrays.present, arrays.vad)
    val = report.figures["val"]
    assert val["people"] == 2 and val["answers"] == 7 and val["people_compared"] == summary.people_compared == 2
    assert val["annotators_per_person"] == {"3": 1, "4": 1}
    np.testing.assert_allclose(none_to_nan(val["category_kappa"]), summary.category_kappa, equal_nan=True)
    np.testing.assert_allclose(none_to_nan(val["category_alpha"]), summary.category_alpha, equal_nan=True)
    assert val["mean_category_kappa"] == pytest.approx(summary.mean_category_kappa)
    assert val["mean_person_kappa"] == pytest.approx(summary.mean_person_kappa)
    assert val["share_people_above_threshold"] == pytest.approx(summary.share_people_above_threshold)
    assert val["pooled_category_alpha"] == pytest.approx(summary.pooled_category_alpha)
    for d, name in enumerate(VAD_DIMENSIONS):
        assert val["vad_spread"][name] == pytest.approx(summary.vad_spread[d])
        # The krippendorff package takes (coders, units) reliability data with NaN for missing values.
        reliability = np.where(arrays.present, arrays.vad[:, :, d], np.nan).T
        assert val["vad_alpha"][name] == pytest.approx(
            krippendorff.alpha(reliability_data=reliability, level_of_measurement="interval")
        )
    happiness = CATEGORY_NAMES.index("Happiness")
    reliability = np.where(arrays.present, arrays.choices[:, :, happiness], np.nan).T.astype(float)
    assert val["category_alpha"][happiness] == pytest.approx(
        krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
    )
    # Scopes: every split with counted answers, and all of them together.
    assert set(report.figures) == {"all", "train", "val"}
    assert report.figures["all"]["people"] == 3 and report.figures["train"]["people_compared"] == 0


def test_category_nobody_chose_is_undefined_and_positive_counts_compare_methods(review_data):
    report = recompute_quality()
    val = report.figures["val"]
    anger = CATEGORY_NAMES.index("Anger")  # only in a rejected answer
    assert val["category_kappa"][anger] is None and val["category_alpha"][anger] is None
    assert val["answers_choosing"][anger] == 0
    happiness = CATEGORY_NAMES.index("Happiness")
    assert val["positive_labels"]["union"][happiness] == 1 and val["positive_labels"]["majority"][happiness] == 1
    sadness = CATEGORY_NAMES.index("Sadness")  # 2 of 4 annotators: in the union, not a strict majority
    assert val["positive_labels"]["union"][sadness] == 1 and val["positive_labels"]["majority"][sadness] == 0


def test_annotators_who_agree_on_nothing(db):
    person = PersonFactory(image=ImageFactory(split="test"))
    for categories in (["Anger"], ["Peace"], ["Fatigue"]):
        EmotionAnnotationFactory(person=person, worker=WorkerFactory(), categories=categories)
    report = recompute_quality()
    row = PersonAgreement.objects.get(person=person)
    _, arrays = counted_answers_by_person()
    assert row.fleiss_kappa == pytest.approx(person_kappa(arrays.choices, arrays.present)[0])
    assert row.fleiss_kappa < 0
    assert row.majority_mask == 0 and row.union_mask == categories_to_mask(["Anger", "Peace", "Fatigue"])
    figures = report.figures["test"]
    assert figures["share_people_above_threshold"] == 0.0
    assert figures["vad_spread"] == {"valence": 0.0, "arousal": 0.0, "dominance": 0.0}
    assert figures["vad_alpha"] == {"valence": None, "arousal": None, "dominance": None}  # no variation at all


def test_no_answers_at_all_give_a_report_with_only_undefined_figures(db):
    report = recompute_quality()
    assert set(report.figures) == {"all"}
    figures = report.figures["all"]
    assert figures["people"] == 0 and figures["mean_category_kappa"] is None
    assert figures["category_kappa"] == [None] * 26
    assert not PersonAgreement.objects.exists()


def test_recompute_removes_figures_of_people_left_without_counted_answers(review_data):
    recompute_quality()
    EmotionAnnotation.objects.filter(person=review_data.train_person).update(status="rejected")
    recompute_quality()
    assert not PersonAgreement.objects.filter(person=review_data.train_person).exists()


def test_bad_trigger_is_refused_before_anything_is_written(db):
    from quality.models import QualityReport
    from quality.errors import QualityError

    with pytest.raises(QualityError, match="trigger: must be one of"):
        recompute_quality("cron")
    assert not QualityReport.objects.exists()


def test_a_second_run_writes_only_what_changed(review_data):
    from quality import selectors
    from quality.stored_figures import store_person_figures, store_worker_figures
    from quality.worker_figures import compute_worker_figures

    recompute_quality()
    people = selectors.counted_people_arrays()
    stored = {a.person_id: a.dawid_skene_mask for a in PersonAgreement.objects.all()}
    masks = [stored[p] for p in people.person_ids.tolist()]
    assert store_person_figures(people, masks) == 0
    assert store_worker_figures(compute_worker_figures()) == 0
    EmotionAnnotationFactory(person=review_data.train_person, worker=review_data.workers[1], categories=["Peace"])
    assert store_person_figures(selectors.counted_people_arrays(), masks) == 1
    assert PersonAgreement.objects.get(person=review_data.train_person).annotators == 2
    assert store_worker_figures(compute_worker_figures()) >= 1
