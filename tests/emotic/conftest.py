"""Small synthetic EMOTIC records shared by the format tests."""

from __future__ import annotations

import pytest

from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord


def answer(categories, vad=(5, 6, 7), gender="Female", age="Adult", annotator_id=None) -> AnnotatorAnswer:
    valence, arousal, dominance = vad if vad is not None else (None, None, None)
    return AnnotatorAnswer(tuple(categories), valence, arousal, dominance, gender, age, annotator_id)


def train_person(box, categories, vad=(5, 6, 7), gender="Female", age="Adult", annotator_id="w-1") -> PersonRecord:
    """A train person: one annotation, combined labels equal to it (what the train layout keeps)."""
    return PersonRecord(
        body_bbox=box,
        answers=(answer(categories, vad, gender, age, annotator_id),),
        combined_categories=tuple(categories),
        combined_continuous=None if vad is None else tuple(float(v) for v in vad),
        combined_gender=gender,
        combined_age=age,
    )


def build_sample_images() -> list[ImageRecord]:
    """Every shape the formats must survive, in a handful of tiny images."""
    five = tuple(
        answer(cats, vad, gender, "Adult", f"w-{k}")
        for k, (cats, vad, gender) in enumerate(
            [
                (["Happiness", "Engagement"], (7, 6, 5), "Male"),
                (["Happiness"], (8, 5, 6), "Male"),
                (["Doubt/Confusion", "Disquietment"], (4, 7, 3), "Female"),
                (["Engagement"], (6, 6, 6), "Male"),
                (["Peace", "Happiness"], (9, 2, 8), "Male"),
            ]
        )
    )
    three = (
        answer(["Sadness", "Suffering"], (2, 6, 3), "Female", "Kid", "w-7"),
        answer(["Sadness"], None, "Female", "Kid", "w-8"),  # a continuous answer left blank (NaN in .mat)
        answer(["Fear"], (3, 8, 2), "Female", "Teenager", "w-9"),
    )
    return [
        ImageRecord(
            "two_people.jpg", "mscoco/images", 64, 48, "mscoco", "train",
            (
                train_person((2, 3, 30, 40), ["Happiness", "Excitement"], (7, 8, 6), "Male", "Adult", "w-1"),
                train_person((31, 0, 64, 48), ["Fatigue"], (4, 2, 3), "Female", "Teenager", None),
            ),
        ),
        ImageRecord("one_person.png", "emodb_small/images", 40, 40, "emodb_small", "train",
                    (train_person((0, 0, 40, 40), ["Peace"], (6, 3, 7)),)),
        ImageRecord("café été.jpg", "framesdb/images", 50, 30, "framesdb", "train",
                    (train_person((5, 5, 25, 29), ["Anticipation", "Yearning"], None, "Male", "Kid"),)),
        ImageRecord(
            "crowd.jpg", "ade20k/images", 80, 60, "ade20k", "val",
            (
                PersonRecord(
                    (10, 10, 40, 58), five, ("Disquietment", "Doubt/Confusion", "Engagement", "Happiness", "Peace"),
                    (6.8, 5.2, 5.6), "Male", "Adult",
                ),
                PersonRecord((45, 5, 79, 59), (answer(["Anger"], (2, 9, 7), "Male", "Adult", "w-5"),), (),
                             (2.0, 9.0, 7.0), "Male", "Adult"),
            ),
        ),
        ImageRecord("single.jpg", "mscoco/images", 32, 32, "mscoco", "val",
                    (PersonRecord((1, 1, 31, 31), (answer(["Surprise"], (5, 9, 4), "Female", "Kid"),), ("Surprise",),
                                  (5.0, 9.0, 4.0), "Female", "Kid"),)),
        ImageRecord("street.jpg", "mscoco/images", 60, 40, "mscoco", "test",
                    (PersonRecord((0, 4, 20, 40), three, ("Fear", "Sadness", "Suffering"), (2.5, 7.0, 2.5),
                                  "Female", "Kid"),)),
        ImageRecord("nan.jpg", "framesdb/images", 30, 20, "framesdb", "test",
                    (PersonRecord((3, 2, 12, 19), (answer(["Pain"], None, "Male", "Adult"),), ("Pain",), None,
                                  "Male", "Adult"),)),
    ]


@pytest.fixture
def sample_images() -> list[ImageRecord]:
    return build_sample_images()
