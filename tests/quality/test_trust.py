"""Automatic blocking, the exclusion it brings (and what exports read), and unblocking."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import BoxAnnotation, EmotionAnnotation, Person, TaskAssignment, Worker
from quality.models import PersonAgreement, WorkerTrustEvent
from quality.selectors import counted_annotations
from quality.services import recompute_quality, refresh_after_answer
from quality.errors import QualityError
from quality.trust import block_worker, unblock_worker
from annotator.services.assignment import assign_next_task
from annotator.services.errors import WorkerNotEligible
from emotic_export.selectors import exportable_annotations
from tests.quality.conftest import control_answers
from tests.factories import BoxAnnotationFactory, EmotionAnnotationFactory, PersonFactory, TaskAssignmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def trust_settings(settings):
    settings.QUALITY_AUTO_BLOCK = True
    settings.QUALITY_GOLD_WINDOW = 5
    settings.QUALITY_GOLD_MIN_ANSWERS = 4
    settings.QUALITY_GOLD_MIN_ACCURACY = 0.6
    settings.GOLD_RATE = 0.0


def exported_ids():
    return set(exportable_annotations().values_list("pk", flat=True))


def test_a_failing_worker_is_blocked_and_their_work_excluded(review_data):
    cheat = review_data.workers[2]
    boxes = BoxAnnotationFactory(worker=cheat)
    control_answers(cheat, [True, False, False, True, False])  # 40% over the window
    recompute_quality()
    before = PersonAgreement.objects.get(person=review_data.val_people[0]).annotators

    cheat.refresh_from_db()
    assert cheat.is_blocked and cheat.blocked_automatically and cheat.blocked_at is not None
    assert cheat.blocked_reason == "gold accuracy 40% over the last 5 control answers is below 60%"
    assert cheat.gold_accuracy == pytest.approx(0.4)
    assert not EmotionAnnotation.objects.filter(worker=cheat, excluded=False).exists()
    assert EmotionAnnotation.objects.filter(worker=cheat).count() == 2  # kept, only marked
    assert BoxAnnotation.objects.get(pk=boxes.pk).excluded
    assert not exported_ids() & set(EmotionAnnotation.objects.filter(worker=cheat).values_list("pk", flat=True))
    assert set(counted_annotations().values_list("pk", flat=True)) == exported_ids()
    assert before == 2  # the first val person's 3 answers, less the blocked worker's
    event = WorkerTrustEvent.objects.get(worker=cheat)
    assert event.kind == "blocked" and event.automatic and event.annotations_changed == 3
    with pytest.raises(WorkerNotEligible, match="blocked"):
        assign_next_task(cheat)


def test_blocking_frees_the_slots_and_ends_the_live_task(review_data):
    cheat = review_data.workers[1]
    live = TaskAssignmentFactory(worker=cheat, person=PersonFactory(image=review_data.val_image, x1=0, y1=0, x2=5, y2=5))
    person = review_data.val_people[1]
    assert Person.objects.get(pk=person.pk).annotation_slots_taken == 5  # 4 counted + 1 gold answer's row
    block_worker(cheat, reason="copy-pasted answers")
    live.refresh_from_db()
    assert live.state == TaskAssignment.State.EXPIRED
    assert Person.objects.get(pk=live.person_id).annotation_slots_taken == 0
    assert Person.objects.get(pk=person.pk).annotation_slots_taken == 4
    agreement = PersonAgreement.objects.get(person=person)
    assert agreement.annotators == 3


def test_unblocking_restores_the_work_and_restarts_the_gold_window(review_data):
    cheat = review_data.workers[2]
    control_answers(cheat, [False] * 5)
    recompute_quality()
    cheat.refresh_from_db()
    assert cheat.is_blocked
    excluded = set(EmotionAnnotation.objects.filter(worker=cheat).values_list("pk", flat=True))

    event = unblock_worker(cheat, by=None, note="talked to them; the controls were ambiguous")
    assert event.kind == "unblocked" and event.annotations_changed == 2
    cheat.refresh_from_db()
    assert not cheat.is_blocked and not cheat.blocked_automatically and cheat.blocked_reason == ""
    assert excluded <= exported_ids()
    assert PersonAgreement.objects.get(person=review_data.val_people[0]).annotators == 3
    # The old failures no longer count: the next run leaves the worker alone...
    recompute_quality()
    cheat.refresh_from_db()
    assert not cheat.is_blocked and cheat.gold_answered == 0 and cheat.gold_accuracy is None
    # ...until new control answers fail again (some hours later).
    hours_ago = timezone.now() - timedelta(hours=3)
    TaskAssignment.objects.filter(worker=cheat).update(finished_at=hours_ago - timedelta(hours=1))
    WorkerTrustEvent.objects.filter(worker=cheat).update(created_at=hours_ago)
    control_answers(cheat, [False, True, False, False])
    refresh_after_answer(cheat.pk)
    cheat.refresh_from_db()
    assert cheat.is_blocked
    assert list(cheat.trust_events.order_by("created_at", "id").values_list("kind", flat=True)) == [
        "blocked", "unblocked", "blocked",
    ]


@pytest.mark.parametrize("results", [[False] * 3, [True, True, True, False, False]])
def test_no_block_with_too_few_answers_or_accuracy_at_the_threshold(results):
    worker = EmotionAnnotationFactory().worker
    control_answers(worker, results)  # 3 answers < 4 needed; or exactly 60%, not below
    recompute_quality()
    worker.refresh_from_db()
    assert not worker.is_blocked


def test_automatic_blocking_can_be_switched_off(settings):
    settings.QUALITY_AUTO_BLOCK = False
    worker = EmotionAnnotationFactory().worker
    control_answers(worker, [False] * 5)
    recompute_quality()
    worker.refresh_from_db()
    assert not worker.is_blocked and worker.gold_accuracy == 0.0


def test_an_admin_block_needs_a_reason_and_changes_nothing_without_one(review_data):
    worker = review_data.workers[0]
    for reason in ("", "   ", "x" * 301):
        with pytest.raises(QualityError, match="^reason: "):
            block_worker(worker, reason=reason)
    worker.refresh_from_db()
    assert not worker.is_blocked and not EmotionAnnotation.objects.filter(worker=worker, excluded=True).exists()
    assert not WorkerTrustEvent.objects.exists()


def test_blocking_and_unblocking_twice_change_nothing_the_second_time(review_data):
    worker = review_data.workers[0]
    assert block_worker(worker, reason="spam") is not None
    assert block_worker(worker, reason="spam again") is None
    assert unblock_worker(worker) is not None
    assert unblock_worker(worker) is None
    assert WorkerTrustEvent.objects.filter(worker=worker).count() == 2
    assert Worker.objects.get(pk=worker.pk).blocked_reason == ""


def test_a_blocked_workers_consensus_is_kept_from_before_the_block(review_data):
    worker = review_data.workers[3]
    recompute_quality()
    worker.refresh_from_db()
    before = worker.consensus_agreement
    assert before == 0.0
    block_worker(worker, reason="answers unrelated to the image")
    recompute_quality()  # their answers no longer count, so nothing new can be measured
    worker.refresh_from_db()
    assert worker.consensus_agreement == before and worker.median_seconds_per_task == 12.5
