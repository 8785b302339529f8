"""Small databases for the quality tests, built with the shared factories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import TaskAssignment
from config.celery import app as celery_app
from tests.factories import (
    EmotionAnnotationFactory,
    GoldItemFactory,
    ImageFactory,
    PersonFactory,
    TaskAssignmentFactory,
    WorkerFactory,
)


def control_answer(worker, passed: bool, minutes_ago: float = 0, gold=None) -> TaskAssignment:
    """A submitted answer to a hidden control item, as the submission service leaves it."""
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    gold = gold or GoldItemFactory()
    return TaskAssignmentFactory(
        worker=worker, person=gold.person, gold_item=gold, state=TaskAssignment.State.SUBMITTED,
        gold_passed=passed, finished_at=finished,
    )


def control_answers(worker, results: list[bool]) -> list[TaskAssignment]:
    """Answers in time order: the last of ``results`` is the most recent."""
    return [control_answer(worker, passed, minutes_ago=len(results) - i) for i, passed in enumerate(results)]


@dataclass
class ReviewData:
    workers: list
    val_image: object
    val_people: list
    train_person: object
    lonely_person: object


@pytest.fixture
def review_data(db) -> ReviewData:
    """A val image with two people (3 and 4 annotators), a train person with one, and noise."""
    workers = [WorkerFactory() for _ in range(4)]
    val_image = ImageFactory(split="val", width=400, height=300, filename="market.jpg")
    first = PersonFactory(image=val_image, x1=10, y1=10, x2=150, y2=290)
    second = PersonFactory(image=val_image, x1=200, y1=20, x2=390, y2=280)
    answers_first = [
        (["Happiness", "Engagement"], 8, 6, 6, "Female", "Adult"),
        (["Happiness"], 7, 5, 5, "Female", "Adult"),
        (["Happiness", "Excitement"], 9, 8, 6, "Male", "Adult"),
    ]
    for worker, (categories, v, a, d, gender, age) in zip(workers, answers_first):
        EmotionAnnotationFactory(person=first, worker=worker, categories=categories, valence=v, arousal=a,
                                 dominance=d, gender=gender, age=age)
    answers_second = [
        (["Sadness"], 2, 3, 4, "Male", "Adult"),
        (["Fatigue"], 4, 2, 5, "Male", "Adult"),
        (["Sadness", "Suffering"], 3, 4, 3, "Male", "Teenager"),
        (["Disconnection"], 5, 2, 6, "Male", "Adult"),
    ]
    for worker, (categories, v, a, d, gender, age) in zip(workers, answers_second):
        EmotionAnnotationFactory(person=second, worker=worker, categories=categories, valence=v, arousal=a,
                                 dominance=d, gender=gender, age=age)
    train_image = ImageFactory(split="train", filename="street.jpg")
    train_person = PersonFactory(image=train_image)
    EmotionAnnotationFactory(person=train_person, worker=workers[0], categories=["Peace"], valence=6, arousal=3,
                             dominance=6)
    lonely_person = PersonFactory(image=ImageFactory(split="val", filename="empty.jpg"))
    # Noise that must not count: a rejected answer and a gold answer.
    EmotionAnnotationFactory(person=first, worker=WorkerFactory(), categories=["Anger"], status="rejected")
    EmotionAnnotationFactory(person=second, worker=WorkerFactory(), categories=["Fear"], is_gold=True)
    return ReviewData(workers, val_image, [first, second], train_person, lonely_person)


@pytest.fixture
def tasks_run_inline():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
