"""Per-worker figures from the database against ``emotic.worker_quality`` and hand counts."""

import numpy as np
import pytest
from django.utils import timezone

from annotator.models import TaskAssignment, Worker
from quality.services import recompute_quality, refresh_workers
from quality.worker_figures import compute_worker_figures
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.worker_quality import gold_accuracy, leave_one_out_agreement
from tests.quality.conftest import control_answers
from tests.factories import BoxAnnotationFactory, EmotionAnnotationFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def trust_settings(settings):
    settings.QUALITY_GOLD_WINDOW = 10
    settings.QUALITY_GOLD_MIN_ANSWERS = 5
    settings.QUALITY_GOLD_MIN_ACCURACY = 0.5


def test_gold_accuracy_counts_the_last_window_of_control_answers():
    worker = WorkerFactory()
    results = [False] * 6 + [True] * 6  # oldest first
    control_answers(worker, results)
    figures = compute_worker_figures([worker.pk]).row(worker.pk)
    assert figures["gold_window_answers"] == 10
    assert figures["gold_window_accuracy"] == pytest.approx(0.6)  # last 10: 4 failed, 6 passed
    assert figures["gold_answers_all_time"] == 12
    reference = gold_accuracy(np.zeros(12, dtype=int), results)
    assert figures["gold_accuracy_all_time"] == pytest.approx(reference.rate[0]) == pytest.approx(0.5)
    refresh_workers([worker.pk])
    worker.refresh_from_db()
    assert worker.gold_accuracy == pytest.approx(0.6) and worker.gold_answered == 10
    assert not worker.is_blocked  # 0.6 is not below 0.5


def test_qualification_and_unjudged_answers_are_not_control_answers():
    worker = WorkerFactory()
    control_answers(worker, [True, True])
    qualification = control_answers(worker, [False])[0]
    TaskAssignment.objects.filter(pk=qualification.pk).update(is_qualification=True, attempt=1)
    skipped = control_answers(worker, [False])[0]
    # Skipped with no result, as skips were stored before a skipped control counted as failed.
    TaskAssignment.objects.filter(pk=skipped.pk).update(state=TaskAssignment.State.SKIPPED, gold_passed=None)
    figures = compute_worker_figures([worker.pk]).row(worker.pk)
    assert figures["gold_window_answers"] == 2 and figures["gold_window_accuracy"] == 1.0


def test_worker_without_gold_answers_has_no_accuracy_rather_than_zero():
    worker = WorkerFactory()
    EmotionAnnotationFactory(worker=worker)
    recompute_quality()
    worker.refresh_from_db()
    assert worker.gold_accuracy is None and worker.gold_answered == 0
    assert not worker.is_blocked


def test_consensus_agreement_matches_leave_one_out_on_the_rows(review_data):
    recompute_quality()
    people = {}
    for person in review_data.val_people + [review_data.train_person]:
        people[person.pk] = [
            EmotionAnswer(a.worker_id, a.categories_mask, a.valence, a.arousal, a.dominance)
            for a in person.annotations.filter(status="submitted", is_gold=False).order_by("created_at", "id")
        ]
    arrays = AnnotationArrays.from_answers(list(people.values()))
    loo = leave_one_out_agreement(arrays.choices, arrays.vad, arrays.worker_index, arrays.n_workers)
    for worker in review_data.workers:
        w = arrays.worker_ids.index(worker.pk)
        worker.refresh_from_db()
        assert worker.consensus_agreement == pytest.approx(loo.worker_jaccard_majority[w])
        figures = compute_worker_figures([worker.pk]).row(worker.pk)
        assert figures["consensus_union"] == pytest.approx(loo.worker_jaccard_union[w])
        np.testing.assert_allclose(figures["vad_abs_diff"], loo.worker_vad_abs_diff[w])
        assert figures["answers_compared"] == loo.answers_compared[w]
    # The fourth worker answered one person, with three others: Disconnection against Sadness/Fatigue/Suffering.
    assert review_data.workers[3].consensus_agreement == 0.0


def test_speed_and_skips():
    worker = WorkerFactory()
    for seconds in (4.0, 30.0, 10.0):
        EmotionAnnotationFactory(worker=worker, seconds_spent=seconds)
    BoxAnnotationFactory(worker=worker, seconds_spent=100.0)
    now = timezone.now()
    for state in ("submitted", "submitted", "submitted", "skipped", "reported", "expired"):
        TaskAssignmentFactory(worker=worker, state=state, finished_at=now)
    TaskAssignmentFactory(worker=worker, state="skipped", is_qualification=True, finished_at=now)
    recompute_quality()
    worker.refresh_from_db()
    assert worker.median_seconds_per_task == pytest.approx(20.0)  # median of 4, 10, 30, 100
    assert worker.skip_rate == pytest.approx(1 / 4)  # 3 submitted, 1 skipped; reports, expiries, qualification out


def test_a_new_worker_has_every_figure_undefined():
    worker = WorkerFactory()
    recompute_quality()
    worker.refresh_from_db()
    assert (worker.gold_accuracy, worker.consensus_agreement, worker.median_seconds_per_task, worker.skip_rate) == (
        None, None, None, None,
    )


def test_unknown_worker_row_is_a_clear_error():
    figures = compute_worker_figures([WorkerFactory().pk])
    with pytest.raises(KeyError, match="worker_id: 999999"):
        figures.row(999999)


def test_every_worker_is_written_by_the_full_run():
    workers = [WorkerFactory() for _ in range(3)]
    control_answers(workers[0], [True] * 5)
    recompute_quality()
    assert list(Worker.objects.order_by("pk").values_list("gold_answered", flat=True)) == [5, 0, 0]
    assert workers
