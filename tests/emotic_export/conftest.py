"""A small annotated database: images with real files, people, several workers, noise to leave out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from annotator.models import Person
from catalog.models import Image
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory, WorkerFactory


@dataclass
class AnnotatedDatabase:
    images: list[Image]
    people: list[Person]
    val_person: Person
    train_person: Person
    blocked_worker_person: Person


@pytest.fixture
def annotated_db(db) -> AnnotatedDatabase:
    workers = [WorkerFactory() for _ in range(3)]
    blocked = WorkerFactory(blocked=True)
    train_image = ImageFactory(file=True, split="train", width=320, height=240, filename="beach.jpg")
    val_image = ImageFactory(file=True, split="val", width=300, height=200, filename="party.jpg")
    test_image = ImageFactory(file=True, split="test", width=256, height=256, filename="office.jpg")

    train_person = PersonFactory(image=train_image, x1=10, y1=20, x2=110, y2=220)
    val_person = PersonFactory(image=val_image, x1=0, y1=0, x2=150, y2=200)
    second_val_person = PersonFactory(image=val_image, x1=150, y1=10, x2=300, y2=190)
    test_person = PersonFactory(image=test_image, x1=30, y1=30, x2=200, y2=250)

    EmotionAnnotationFactory(person=train_person, worker=workers[0], categories=["Happiness", "Pleasure"],
                             valence=8, arousal=6, dominance=7, gender="Male", age="Adult")
    answers = [
        (["Happiness", "Excitement"], 8, 7, 6, "Female", "Adult"),
        (["Happiness"], 7, 5, 6, "Female", "Teenager"),
        (["Engagement", "Happiness"], 9, 6, 8, "Female", "Adult"),
    ]
    for worker, (categories, v, a, d, gender, age) in zip(workers, answers):
        EmotionAnnotationFactory(person=val_person, worker=worker, categories=categories,
                                 valence=v, arousal=a, dominance=d, gender=gender, age=age)
    EmotionAnnotationFactory(person=second_val_person, worker=workers[1], categories=["Sadness"],
                             valence=2, arousal=3, dominance=3, gender="Male", age="Kid")
    EmotionAnnotationFactory(person=test_person, worker=workers[2], categories=["Fatigue"],
                             valence=4, arousal=2, dominance=4, gender="Male", age="Adult")
    EmotionAnnotationFactory(person=test_person, worker=workers[1], categories=["Fatigue", "Disconnection"],
                             valence=3, arousal=1, dominance=5, gender="Male", age="Adult")

    # Noise a snapshot must leave out: a blocked worker, a rejected answer, a gold answer.
    blocked_image = ImageFactory(file=True, split="", filename="blocked.jpg")
    blocked_person = PersonFactory(image=blocked_image)
    EmotionAnnotationFactory(person=blocked_person, worker=blocked, categories=["Anger"])
    EmotionAnnotationFactory(person=test_person, worker=WorkerFactory(), categories=["Fear"], status="rejected")
    EmotionAnnotationFactory(person=val_person, worker=WorkerFactory(), categories=["Pain"], is_gold=True)

    return AnnotatedDatabase(
        images=[train_image, val_image, test_image],
        people=[train_person, val_person, second_val_person, test_person],
        val_person=val_person,
        train_person=train_person,
        blocked_worker_person=blocked_person,
    )
