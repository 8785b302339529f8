"""Annotations.mat: round trip, the official layout as raw scipy sees it, the official loaders' indexing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from emotic.formats import FormatError
from emotic.formats.mat import (
    EVAL_PERSON_FIELDS,
    IMAGE_FIELDS,
    TRAIN_PERSON_FIELDS,
    read_annotations_mat,
    write_annotations_mat,
)
from emotic.records import ImageRecord
from emotic.taxonomy import CATEGORY_NAMES, SPLITS

from .conftest import answer


def _as_the_layout_keeps_it(image: ImageRecord) -> ImageRecord:
    """What the .mat carries: no annotator ids, and gender and age per annotator only in train."""
    keep_person_fields = image.split == "train"
    people = tuple(
        dataclasses.replace(
            person,
            answers=tuple(
                dataclasses.replace(
                    a,
                    annotator_id=None,
                    gender=a.gender if keep_person_fields else None,
                    age=a.age if keep_person_fields else None,
                )
                for a in person.answers
            ),
        )
        for person in image.people
    )
    return dataclasses.replace(image, people=people)


@pytest.fixture
def mat_path(tmp_path, sample_images):
    return write_annotations_mat(tmp_path / "Annotations" / "Annotations.mat", sample_images)


def test_round_trip_keeps_every_field_the_layout_carries(mat_path, sample_images):
    read = read_annotations_mat(mat_path)
    assert list(read) == list(SPLITS)
    for split in SPLITS:
        expected = [_as_the_layout_keeps_it(image) for image in sample_images if image.split == split]
        assert read[split] == expected


def test_raw_layout_field_order_and_shapes(mat_path):
    mat = loadmat(mat_path)  # scipy's defaults: struct_as_record=True, squeeze_me=False
    assert {"train", "val", "test"} <= set(mat)
    assert mat["train"].shape == (1, 3) and mat["val"].shape == (1, 2) and mat["test"].shape == (1, 2)
    for split, person_fields in (("train", TRAIN_PERSON_FIELDS), ("val", EVAL_PERSON_FIELDS), ("test", EVAL_PERSON_FIELDS)):
        assert mat[split].dtype.names == IMAGE_FIELDS
        first = mat[split][0, 0]
        assert first["image_size"].dtype.names == ("n_col", "n_row")
        assert first["original_database"].dtype.names == ("name",)
        assert first["person"].dtype.names == person_fields
        assert first["person"].shape[0] == 1
    person = mat["val"][0, 0]["person"][0, 0]
    assert person["annotations_categories"].shape == (1, 5)
    assert person["annotations_continuous"].shape == (1, 5)
    assert person["annotations_continuous"].dtype.names == ("valence", "arousal", "dominance")
    assert person["combined_continuous"].dtype.names == ("valence", "arousal", "dominance")
    assert person["body_bbox"].dtype == np.float64 and person["body_bbox"].shape == (1, 4)


def test_raw_layout_without_struct_records(mat_path):
    mat = loadmat(mat_path, struct_as_record=False)
    image = mat["val"][0, 0]
    assert image._fieldnames == list(IMAGE_FIELDS)
    person = image.person[0, 0]
    assert person._fieldnames == list(EVAL_PERSON_FIELDS)
    assert [a.categories[0, k][0] for a in [person.annotations_categories[0, 0]] for k in range(2)] == [
        "Engagement",
        "Happiness",
    ]
    assert mat["train"][0, 0].person[0, 0]._fieldnames == list(TRAIN_PERSON_FIELDS)
    assert image.image_size[0, 0].n_col[0, 0] == 80 and image.image_size[0, 0].n_row[0, 0] == 60


@pytest.mark.parametrize("struct_as_record", [True, False])
@pytest.mark.parametrize("squeeze_me", [True, False])
def test_field_order_under_every_loadmat_option(mat_path, struct_as_record, squeeze_me):
    mat = loadmat(mat_path, struct_as_record=struct_as_record, squeeze_me=squeeze_me)

    def field_names(value):
        value = value.ravel()[0] if isinstance(value, np.ndarray) and value.dtype.names is None else value
        return list(value.dtype.names) if struct_as_record else list(value._fieldnames)

    for split, person_fields in (("train", TRAIN_PERSON_FIELDS), ("val", EVAL_PERSON_FIELDS)):
        image = mat[split].ravel()[0] if not struct_as_record else mat[split]
        assert field_names(image) == list(IMAGE_FIELDS)
        first = mat[split].ravel()[0]
        person = first["person"] if struct_as_record else first.person
        assert field_names(person) == list(person_fields)
        size = first["image_size"] if struct_as_record else first.image_size
        assert field_names(size) == ["n_col", "n_row"]


def test_squeezed_access_as_most_emotic_scripts_use_it(mat_path):
    mat = loadmat(mat_path, struct_as_record=False, squeeze_me=True)
    train, val, test = mat["train"], mat["val"], mat["test"]
    assert [image.filename for image in train] == ["two_people.jpg", "one_person.png", "café été.jpg"]
    assert train[0].folder == "mscoco/images" and train[0].original_database.name == "mscoco"
    assert (train[0].image_size.n_col, train[0].image_size.n_row) == (64, 48)
    # Two people: an array; one person: the struct itself (the official file's quirk).
    assert len(train[0].person) == 2 and list(train[0].person[1].body_bbox) == [31, 0, 64, 48]
    one = train[1].person
    assert list(one.body_bbox) == [0, 0, 40, 40]
    assert one.annotations_categories.categories == "Peace"  # one category squeezes to a string
    assert list(train[0].person[0].annotations_categories.categories) == ["Excitement", "Happiness"]
    assert (one.annotations_continuous.valence, one.annotations_continuous.arousal) == (6, 3)
    assert (one.gender, one.age) == ("Female", "Adult")
    assert np.isnan(train[2].person.annotations_continuous.valence)
    crowd = val[0].person
    assert len(crowd[0].annotations_categories) == 5
    assert list(crowd[0].combined_categories) == ["Disquietment", "Doubt/Confusion", "Engagement", "Happiness", "Peace"]
    assert crowd[0].combined_continuous.valence == pytest.approx(6.8)
    assert len(crowd[1].combined_categories) == 0  # a person without combined categories
    single = val[1].person  # one annotator: a struct, not a 1x1 array
    assert single.annotations_categories.categories == "Surprise"
    assert single.annotations_continuous.dominance == 4
    assert single.combined_categories == "Surprise"
    assert np.isnan(test[1].person.combined_continuous.arousal)


def _baseline_rows(mat: dict, split: str) -> list[tuple]:
    """Index the file the way the common PyTorch baseline's mat2py.py does (scipy defaults, by position)."""

    def first(value):
        return np.array(value).flatten().tolist()[0]

    def names(struct_field):
        cell = np.array(np.array(struct_field).flatten().tolist()[0]).flatten().tolist()
        return [first(c) for c in cell]

    rows = []
    for image in mat[split][0]:
        size = np.array(image[2]).flatten().tolist()[0]
        width, height = first(size[0]), first(size[1])
        for person in image[4][0]:
            box = np.array(person[0]).flatten().tolist()
            if split == "train":
                categories = names(person[1])
                vad = [first(v) for v in np.array(person[2]).flatten().tolist()[0]]
                gender, age = person[3][0], person[4][0]
            else:
                per_annotator = [names(person[1][0][k]) for k in range(len(person[1][0]))]
                categories = [first(c) for c in person[2][0]]
                vad = [first(v) for v in [first(c) for c in person[4][0]][0]]
                gender, age = person[5][0], person[6][0]
                assert len(per_annotator) == len(person[3][0])
            rows.append((image[0][0], image[1][0], [width, height], box, categories, vad, gender, age))
    return rows


def test_the_baseline_converter_indexing_reads_our_file(mat_path):
    mat = loadmat(mat_path)
    train = _baseline_rows(mat, "train")
    assert train[0] == (
        "two_people.jpg", "mscoco/images", [64.0, 48.0], [2.0, 3.0, 30.0, 40.0],
        ["Excitement", "Happiness"], [7.0, 8.0, 6.0], "Male", "Adult",
    )
    assert len(train) == 4 and np.isnan(train[3][5]).all()  # NaN VAD: the baseline drops such people
    val = _baseline_rows(mat, "val")
    assert val[0][4] == ["Disquietment", "Doubt/Confusion", "Engagement", "Happiness", "Peace"]
    assert val[0][5] == pytest.approx([6.8, 5.2, 5.6])
    assert val[1][4] == [] and val[2][4] == ["Surprise"]
    assert all(c in CATEGORY_NAMES for row in train + val for c in row[4])


def _official_like(path, person_fields: dict, split="train", extra_splits=True):
    """A file written the way MATLAB stores the official one, for reader tolerance tests."""
    person = np.empty((1, 1), dtype=[(name, object) for name in person_fields])
    for name, value in person_fields.items():
        person[0, 0][name] = value
    image = np.empty((1, 1), dtype=[(name, object) for name in IMAGE_FIELDS])
    image[0, 0]["filename"] = "x.jpg"
    image[0, 0]["folder"] = "mscoco/images"
    image[0, 0]["image_size"] = {"n_col": 100.0, "n_row": 80.0}
    image[0, 0]["original_database"] = {"name": "mscoco", "info": {"image_id": 42.0}}
    image[0, 0]["person"] = person
    empty = np.empty((1, 0), dtype=image.dtype)
    splits = {s: (image if s == split else empty) for s in SPLITS} if extra_splits else {split: image}
    savemat(path, splits)
    return path


def _train_person(**overrides):
    fields = {
        "body_bbox": np.array([[10.0, 5.0, 60.0, 70.0]]),
        "annotations_categories": {"categories": np.array([["Happiness"]], dtype=object)},
        "annotations_continuous": {"valence": 7.0, "arousal": 4.0, "dominance": 6.0},
        "gender": "Male",
        "age": "Adult",
    }
    return {**fields, **overrides}


def test_reads_an_official_style_train_person(tmp_path):
    path = _official_like(tmp_path / "a.mat", _train_person(body_bbox=np.array([[-3.0, 5.0, 104.0, 70.0]])))
    (image,) = read_annotations_mat(path)["train"]
    (person,) = image.people
    assert person.body_bbox == (0, 5, 100, 70)  # clamped to the image, as the baseline does
    assert person.answers == (answer(["Happiness"], (7, 4, 6), "Male", "Adult"),)
    assert person.combined_categories == ("Happiness",) and person.combined_continuous == (7.0, 4.0, 6.0)


def test_reads_an_official_style_val_person_with_uneven_annotations(tmp_path):
    categories = np.empty((1, 2), dtype=[("categories", object)])
    categories[0, 0]["categories"] = np.array([["Fear", "Pain"]], dtype=object)
    categories[0, 1]["categories"] = "Fear"  # a bare string instead of a cell
    continuous = np.empty((1, 1), dtype=[(d, object) for d in ("valence", "arousal", "dominance")])
    continuous[0, 0] = (3.0, 8.0, 2.0)
    path = _official_like(
        tmp_path / "v.mat",
        {
            "body_bbox": np.array([[1.0, 1.0, 50.0, 50.0]]),
            "annotations_categories": categories,
            "combined_categories": np.array([["Fear", "Pain"]], dtype=object),
            "annotations_continuous": continuous,
            "combined_continuous": {"valence": 3.0, "arousal": 8.0, "dominance": 2.0},
            "gender": "Female",
            "age": "Teenager",
        },
        split="val",
    )
    (person,) = read_annotations_mat(path)["val"][0].people
    assert person.answers == (
        answer(["Fear", "Pain"], (3, 8, 2), None, None),
        answer(["Fear"], None, None, None),
    )
    assert person.combined_categories == ("Fear", "Pain") and person.combined_gender == "Female"


def test_writes_and_reads_an_empty_split(tmp_path, sample_images):
    train_only = [image for image in sample_images if image.split == "train"]
    read = read_annotations_mat(write_annotations_mat(tmp_path / "a.mat", train_only))
    assert read["val"] == [] and read["test"] == [] and len(read["train"]) == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"body_bbox": np.array([[1.0, 2.0, 3.0]])}, "train[0].person[0].body_bbox: expected four numbers"),
        ({"gender": "Robot"}, "train[0].person[0].gender: must be one of Male, Female"),
        (
            {"annotations_categories": {"categories": np.array([["Joy"]], dtype=object)}},
            "train[0].person[0].annotations_categories[0].categories: unknown category 'Joy'",
        ),
        (
            {"annotations_continuous": {"valence": 7.0, "arousal": 11.0, "dominance": 6.0}},
            "train[0].person[0].annotations_continuous[0].arousal: must be from 1 to 10, got 11",
        ),
        (
            {"annotations_continuous": {"valence": 7.5, "arousal": 4.0, "dominance": 6.0}},
            "train[0].person[0].annotations_continuous[0].valence: expected a whole number, got 7.5",
        ),
        (
            {"annotations_continuous": {"valence": 7.0, "arousal": 4.0}},
            "train[0].person[0].annotations_continuous[0]: missing field 'dominance'",
        ),
        ({"body_bbox": np.array([[200.0, 5.0, 300.0, 70.0]])}, "train[0].person[0].body_bbox: [200, 5, 300, 70] has no area inside the image (100 x 80 pixels)"),
    ],
)
def test_malformed_files_name_split_image_and_field(tmp_path, overrides, message):
    path = _official_like(tmp_path / "bad.mat", _train_person(**overrides))
    with pytest.raises(FormatError) as raised:
        read_annotations_mat(path)
    assert message in str(raised.value)
    assert str(raised.value).startswith("bad.mat ")


def test_a_missing_person_field_is_named(tmp_path):
    fields = _train_person()
    del fields["age"]
    with pytest.raises(FormatError, match=r"bad\.mat train\[0\]\.person\[0\]: missing field 'age'"):
        read_annotations_mat(_official_like(tmp_path / "bad.mat", fields))


def test_a_missing_split_and_a_non_mat_file_are_reported(tmp_path):
    with pytest.raises(FormatError, match=r"no 'val' split"):
        read_annotations_mat(_official_like(tmp_path / "a.mat", _train_person(), extra_splits=False))
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"this is not MATLAB")
    with pytest.raises(FormatError, match=r"junk\.mat: not a readable MATLAB file"):
        read_annotations_mat(junk)


def test_train_people_must_hold_exactly_one_consistent_annotation(tmp_path, sample_images):
    image, path = sample_images[0], tmp_path / "out" / "a.mat"
    two = dataclasses.replace(image.people[0], answers=image.people[0].answers * 2)
    with pytest.raises(FormatError, match=r"train\[0\]\.person\[0\]\.answers: the train layout holds exactly one"):
        write_annotations_mat(path, [dataclasses.replace(image, people=(two,))])
    differs = dataclasses.replace(image.people[0], combined_categories=("Fear",))
    with pytest.raises(FormatError, match=r"train\[0\]\.person\[0\]: combined labels differ"):
        write_annotations_mat(path, [dataclasses.replace(image, people=(differs,))])
    assert not path.exists()


def test_a_writer_dying_mid_file_keeps_the_previous_file(tmp_path, sample_images, monkeypatch):
    path = write_annotations_mat(tmp_path / "out" / "Annotations.mat", sample_images)
    before = path.read_bytes()

    def writer_that_dies(stream, *args, **kwargs):
        stream.write(b"MATLAB 5.0 MAT-file, half of it")
        raise OSError("No space left on device")

    monkeypatch.setattr("emotic.formats.mat.write_mat5", writer_that_dies)
    with pytest.raises(OSError, match="No space left"):
        write_annotations_mat(path, sample_images[:2])
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["Annotations.mat"]
