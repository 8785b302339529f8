"""The plain records validate themselves, and their errors name the field and the reason."""

from __future__ import annotations

import dataclasses

import pytest

from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord, RecordError
from emotic.taxonomy import TaxonomyError

from .conftest import answer, train_person


def test_answer_categories_are_kept_in_taxonomy_order():
    given = AnnotatorAnswer(("Peace", "Anger", "Doubt/Confusion"), 5, 6, 7)
    assert given.categories == ("Anger", "Doubt/Confusion", "Peace")
    assert given.vad == (5, 6, 7)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"categories": ("Joy",)}, "categories: unknown category 'Joy'"),
        ({"categories": ("Peace", "Peace")}, "categories: category 'Peace' appears more than once"),
        ({"categories": "Peace"}, "categories: must be a list of category names"),
        ({"valence": 11}, "valence: must be from 1 to 10, got 11"),
        ({"arousal": 5.5}, "arousal: must be an integer from 1 to 10"),
        ({"dominance": True}, "dominance: must be an integer"),
        ({"valence": None}, "valence: valence, arousal and dominance must be given together"),
        ({"gender": "male"}, "gender: must be one of Male, Female"),
        ({"age": "Elder"}, "age: must be one of Kid, Teenager, Adult"),
        ({"annotator_id": 7}, "annotator_id: must be a string"),
        (
            {"categories": (), "valence": None, "arousal": None, "dominance": None},
            "categories: an answer needs categories or valence/arousal/dominance",
        ),
    ],
)
def test_bad_answers_name_the_field(changes, message):
    fields = {"categories": ("Peace",), "valence": 5, "arousal": 5, "dominance": 5, "gender": "Male", "age": "Adult"}
    with pytest.raises(RecordError) as raised:
        AnnotatorAnswer(**{**fields, **changes})
    assert message in str(raised.value)
    assert isinstance(raised.value, TaxonomyError)


def test_answers_without_vad_or_without_categories_are_allowed():
    """The official file has NaN VAD and unequal numbers of category and VAD annotations."""
    assert AnnotatorAnswer(("Pain",), None, None, None).vad is None
    assert AnnotatorAnswer((), 3, 4, 5).categories == ()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"body_bbox": (1, 2, 3)}, "body_bbox: must be four integer pixel coordinates"),
        ({"body_bbox": (1.5, 2, 3, 4)}, "body_bbox: must be four integer pixel coordinates"),
        ({"body_bbox": (-1, 2, 3, 4)}, "body_bbox: [-1, 2, 3, 4] lies outside the image"),
        ({"body_bbox": (5, 2, 5, 4)}, "body_bbox: [5, 2, 5, 4] has no area: need x1 < x2 and y1 < y2"),
        ({"answers": ()}, "answers: a person needs at least one annotator answer"),
        ({"answers": ("Peace",)}, "answers[0]: must be an AnnotatorAnswer"),
        ({"combined_categories": ("Calm",)}, "combined_categories: unknown category 'Calm'"),
        ({"combined_continuous": (5.0, 6.0)}, "combined_continuous: must be (valence, arousal, dominance) or None"),
        ({"combined_continuous": (5.0, 10.5, 5.0)}, "combined_continuous.arousal: must be from 1 to 10, got 10.5"),
        ({"combined_continuous": (float("nan"), 5.0, 5.0)}, "combined_continuous.valence: must be a number"),
        ({"combined_gender": "Other"}, "combined_gender: must be one of Male, Female"),
        ({"combined_age": ""}, "combined_age: must be one of"),
    ],
)
def test_bad_people_name_the_field(changes, message):
    person = train_person((1, 2, 10, 20), ["Peace"])
    with pytest.raises(RecordError) as raised:
        dataclasses.replace(person, **changes)
    assert message in str(raised.value)


def _image(**changes) -> ImageRecord:
    fields = dict(
        filename="a.jpg", folder="mscoco/images", width=40, height=30, original_database="mscoco", split="val",
        people=(train_person((1, 2, 10, 20), ["Peace"]),),
    )
    return ImageRecord(**{**fields, **changes})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"filename": ""}, "filename: must be a plain file name"),
        ({"filename": "../etc/passwd"}, "filename: must be a plain file name"),
        ({"folder": "/abs/images"}, "folder: must be relative without '..'"),
        ({"folder": "mscoco/../../x"}, "folder: must be relative without '..'"),
        ({"width": 0}, "width: must be a positive whole number of pixels"),
        ({"height": 30.0}, "height: must be a positive whole number of pixels"),
        ({"original_database": ""}, "original_database: must be a non-empty name"),
        ({"split": "dev"}, "split: must be one of train, val, test, got 'dev'"),
        ({"people": ()}, "people: an image in an EMOTIC file needs at least one annotated person"),
        (
            {"people": (train_person((1, 2, 10, 20), ["Peace"]), train_person((30, 2, 41, 20), ["Fear"]))},
            "people[1].body_bbox: [30, 2, 41, 20] lies outside the image (40 x 30 pixels)",
        ),
    ],
)
def test_bad_images_name_the_field(changes, message):
    with pytest.raises(RecordError) as raised:
        _image(**changes)
    assert message in str(raised.value)


def test_records_are_immutable_and_compare_by_value():
    first, second = _image(), _image()
    assert first == second and hash(first) == hash(second)
    assert first.relative_path == "mscoco/images/a.jpg"
    assert _image(folder="").relative_path == "a.jpg"
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.width = 10  # type: ignore[misc]


def test_lists_are_accepted_and_stored_as_tuples():
    person = PersonRecord([1, 2, 3, 4], [answer(["Fear"])], ["Fear"], [5, 6, 7], "Male", "Kid")
    assert person.body_bbox == (1, 2, 3, 4)
    assert person.combined_continuous == (5.0, 6.0, 7.0)
    assert isinstance(person.answers, tuple)
