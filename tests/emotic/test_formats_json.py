"""JSONL and COCO-style JSON: lossless round trips, the COCO conventions, malformed input named."""

from __future__ import annotations

import json

import pytest

from emotic.formats import FormatError
from emotic.formats.coco import read_coco, write_coco
from emotic.formats.jsonl import read_jsonl, write_jsonl
from emotic.taxonomy import CATEGORY_NAMES, SPLITS


def _in_split_order(images):
    return [image for split in SPLITS for image in images if image.split == split]


def test_jsonl_round_trip_keeps_everything(tmp_path, sample_images):
    path = write_jsonl(tmp_path / "out" / "annotations.jsonl", sample_images)
    read = read_jsonl(path)
    assert [image for split in SPLITS for image in read[split]] == _in_split_order(sample_images)
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == sum(len(image.people) for image in sample_images)  # one person per line
    first = json.loads(lines[0])
    assert first["annotations"][0] == {
        "annotator_id": "w-1", "categories": ["Excitement", "Happiness"],
        "valence": 7, "arousal": 8, "dominance": 6, "gender": "Male", "age": "Adult",
    }
    assert first["combined"] == {
        "categories": ["Excitement", "Happiness"], "valence": 7.0, "arousal": 8.0, "dominance": 6.0,
        "gender": "Male", "age": "Adult",
    }
    assert "café été.jpg" in path.read_text("utf-8")  # UTF-8, not escaped


def test_coco_round_trip_keeps_everything(tmp_path, sample_images):
    path = write_coco(tmp_path / "out" / "emotic_coco.json", sample_images)
    read = read_coco(path)
    assert [image for split in SPLITS for image in read[split]] == _in_split_order(sample_images)


def test_coco_follows_the_coco_conventions(tmp_path, sample_images):
    document = json.loads(write_coco(tmp_path / "coco.json", sample_images).read_text("utf-8"))
    assert document["categories"] == [{"id": 1, "name": "person", "supercategory": "person"}]
    assert [c["name"] for c in document["emotion_categories"]] == list(CATEGORY_NAMES)
    image = document["images"][0]
    assert image == {
        "id": 1, "file_name": "mscoco/images/two_people.jpg", "width": 64, "height": 48,
        "split": "train", "original_database": "mscoco",
    }
    annotation = document["annotations"][0]
    assert annotation["bbox"] == [2, 3, 28, 37] and annotation["area"] == 28 * 37  # [x, y, w, h]
    assert (annotation["image_id"], annotation["category_id"], annotation["iscrowd"]) == (1, 1, 0)
    assert annotation["attributes"]["categories"] == ["Excitement", "Happiness"]
    assert annotation["attributes"]["annotations"][0]["annotator_id"] == "w-1"
    ids = [a["id"] for a in document["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    nan_person = document["annotations"][-1]["attributes"]
    assert (nan_person["valence"], nan_person["arousal"], nan_person["dominance"]) == (None, None, None)


def _jsonl_line(**changes) -> str:
    line = {
        "split": "val",
        "image": {"filename": "a.jpg", "folder": "f", "width": 50, "height": 40, "original_database": "web"},
        "person_index": 0,
        "body_bbox": [1, 2, 30, 40],
        "annotations": [
            {"annotator_id": "w", "categories": ["Fear"], "valence": 3, "arousal": 8, "dominance": 2,
             "gender": "Male", "age": "Kid"}
        ],
        "combined": {"categories": ["Fear"], "valence": 3.0, "arousal": 8.0, "dominance": 2.0,
                     "gender": "Male", "age": "Kid"},
    }
    for key, value in changes.items():
        target, _, leaf = key.rpartition("__")
        holder = line
        for part in filter(None, target.split("__")):
            holder = holder[int(part)] if part.isdigit() else holder[part]
        leaf = int(leaf) if leaf.isdigit() else leaf
        if value is KeyError:
            del holder[leaf]
        else:
            holder[leaf] = value
    return json.dumps(line)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"annotations__0__valence": 0}, "line 2: annotations[0].valence: must be from 1 to 10, got 0"),
        ({"annotations__0__categories": ["Joy"]}, "line 2: annotations[0].categories: unknown category 'Joy'"),
        ({"annotations__0__gender": KeyError}, "line 2: annotations[0].gender: missing"),
        ({"combined__age": "Old"}, "line 2: combined_age: must be one of Kid, Teenager, Adult"),
        ({"combined__categories": "Fear"}, "line 2: combined.categories: must be a list"),
        ({"combined": None}, "line 2: combined: must be an object, got None"),
        ({"body_bbox": [1, 2, 60, 40]}, "line 2: people[0].body_bbox: [1, 2, 60, 40] lies outside the image (50 x 40 pixels)"),
        ({"image__width": "50"}, "line 2: width: must be a positive whole number of pixels"),
        ({"split": "dev"}, "line 2: split: must be one of train, val, test"),
        ({"person_index": 1}, "line 2: person_index: expected 0 for this image, got 1"),
        ({"image": KeyError}, "line 2: image: missing"),
        ({"image__folder": KeyError}, "line 2: image.folder: missing"),
        ({"annotations__0": "Fear"}, "line 2: annotations[0]: must be an object, got 'Fear'"),
    ],
)
def test_malformed_jsonl_lines_name_the_line_and_field(tmp_path, changes, message):
    path = tmp_path / "bad.jsonl"
    other = _jsonl_line(image__filename="first.jpg")
    path.write_text(other + "\n" + _jsonl_line(**changes) + "\n", "utf-8")
    with pytest.raises(FormatError) as raised:
        read_jsonl(path)
    assert f"bad.jsonl {message}" in str(raised.value)


def test_jsonl_rejects_nan_and_broken_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(_jsonl_line().replace('"valence": 3.0', '"valence": NaN') + "\n", "utf-8")
    with pytest.raises(FormatError, match=r"bad\.jsonl line 1: not JSON \(NaN is not valid JSON"):
        read_jsonl(path)
    path.write_text("{\n", "utf-8")
    with pytest.raises(FormatError, match=r"bad\.jsonl line 1: not JSON"):
        read_jsonl(path)


def test_jsonl_groups_people_of_one_image(tmp_path):
    path = tmp_path / "two.jsonl"
    second = _jsonl_line(person_index=1, body_bbox=[20, 0, 50, 40])
    path.write_text(_jsonl_line() + "\n\n" + second + "\n", "utf-8")
    (image,) = read_jsonl(path)["val"]
    assert [p.body_bbox for p in image.people] == [(1, 2, 30, 40), (20, 0, 50, 40)]
    path.write_text(_jsonl_line() + "\n" + _jsonl_line(person_index=1, image__height=45) + "\n", "utf-8")
    with pytest.raises(FormatError, match=r"two\.jsonl line 2: image: differs from line 1, which gives the same file"):
        read_jsonl(path)


def _coco(tmp_path, sample_images, change):
    document = json.loads(write_coco(tmp_path / "c.json", sample_images).read_text("utf-8"))
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), "utf-8")
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["annotations"][1].update(bbox=[31, 0, 33.5, 48]), "annotations[1].bbox: must be four whole pixels"),
        (lambda d: d["annotations"][1].update(bbox=[31, 0, 0, 48]), "annotations[1].body_bbox: [31, 0, 31, 48] has no area: need x1 < x2"),
        (lambda d: d["annotations"][2]["attributes"].update(valence=11), "annotations[2].combined_continuous.valence"),
        (
            lambda d: d["annotations"][3]["attributes"]["annotations"][0].update(age="Baby"),
            "annotations[3].attributes.annotations[0].age: must be one of Kid, Teenager, Adult",
        ),
        (lambda d: d["annotations"][0].pop("attributes"), "annotations[0].attributes: must be an object"),
        (lambda d: d["annotations"][0].update(image_id=99), "annotations point at missing image ids [99]"),
        (lambda d: d["images"][1].update(width=-4), "images[1]: width: must be a positive whole number"),
        (lambda d: d["images"][1].pop("split"), "images[1]: needs id, file_name, width, height, split"),
        (lambda d: d["images"][1].update(id=1), "images[1].id: must be a whole number used by one image, got 1"),
        (lambda d: d["annotations"][0].update(image_id="1"), "annotations[0]: needs a whole-number image_id"),
        (lambda d: d.pop("annotations"), "bad.json: needs 'images' and 'annotations' lists"),
    ],
)
def test_malformed_coco_names_the_entry_and_field(tmp_path, sample_images, change, message):
    with pytest.raises(FormatError) as raised:
        read_coco(_coco(tmp_path, sample_images, change))
    assert message in str(raised.value)
