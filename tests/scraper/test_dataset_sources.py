"""Dataset sources on files the tests write: COCO, ADE20K, a folder, URL lists; bad input named."""

from __future__ import annotations

import json
import pickle

import pytest

from scraper.sources import SourceError
from scraper.sources.ade20k import Ade20kSource
from scraper.sources.coco import CocoSource, coco_box
from scraper.sources.folder import FolderSource
from scraper.sources.url_list import UrlListSource
from tests.scraper.datasets import PERSON_ADE, coco_person, write_ade20k, write_coco
from tests.catalog.images import jpeg


def items_of(source, cursor=None):
    return [item for batch in source.discover(cursor or {}) for item in batch.items]


# --- COCO -----------------------------------------------------------------------
def test_coco_takes_images_with_people_and_their_boxes_without_crowds(tmp_path):
    path = write_coco(
        tmp_path,
        [{"id": 1, "seed": 1}, {"id": 2, "seed": 2}, {"id": 3, "seed": 3}],
        [
            coco_person(10, 1, [10.4, 20.6, 100.0, 200.2]),
            coco_person(11, 1, [300, 50, 80, 160], crowd=1),  # a crowd region is not a person
            coco_person(12, 2, [0, 0, 50, 50], category=18),  # a dog
            coco_person(13, 3, [5, 5, 10, 10], crowd=1),  # only a crowd: no person to annotate
        ],
    )
    (item,) = items_of(CocoSource(str(path)))
    assert item.key == "coco image 1" and item.original_database == "mscoco" and item.folder == "mscoco/images"
    assert item.people == [[10, 20, 111, 221]]  # the whole-pixel box that covers the float box
    assert item.local_path == str(tmp_path / "val2017" / "000000000001.jpg") and item.filename == "000000000001.jpg"
    assert item.license == "Attribution License (http://creativecommons.org/licenses/by/2.0/)"
    assert item.extra == {"coco_image_id": 1, "coco_annotation_ids": [10]}


def test_coco_names_a_malformed_annotation_and_imports_the_rest(tmp_path):
    path = write_coco(
        tmp_path,
        [{"id": 1, "seed": 1}, {"id": 2, "seed": 2}],
        [coco_person(10, 1, [10, 10, -5, 40]), coco_person(11, 2, [10, 10, 50, 60])],
    )
    bad, good = items_of(CocoSource(str(path)))
    assert bad.rejection == ("bad_record", "annotations[0] (id 10): bbox: width and height must be positive, got [10, 10, -5, 40]")
    assert good.rejection is None and good.people == [[10, 10, 60, 70]]


@pytest.mark.parametrize(
    ("record", "message"),
    [({"id": "seven", "file_name": "a.jpg"}, "id: must be an integer"), ({"id": 1}, "file_name: missing")],
)
def test_coco_names_a_malformed_image_record(tmp_path, record, message):
    path = write_coco(tmp_path, [], [coco_person(10, 1, [1, 1, 5, 5])])
    data = json.loads(path.read_text())
    data["images"] = [record]
    path.write_text(json.dumps(data))
    (item,) = items_of(CocoSource(str(path)))
    assert item.rejection[0] == "bad_record" and message in item.rejection[1] and "images[0]" in item.rejection[1]


def test_coco_file_names_cannot_leave_the_images_folder(tmp_path):
    path = write_coco(tmp_path, [{"id": 1, "seed": 1, "file_name": "../../secret.jpg", "missing": True}], [coco_person(1, 1, [1, 1, 5, 5])])
    (item,) = items_of(CocoSource(str(path)))
    assert item.rejection[0] == "bad_record" and "leaves the images folder" in item.rejection[1]


def test_coco_falls_back_to_the_image_url_when_the_file_is_missing(tmp_path):
    path = write_coco(
        tmp_path, [{"id": 1, "seed": 1, "missing": True, "extra": {"coco_url": "http://images.cocodataset.org/val2017/1.jpg"}}], [coco_person(1, 1, [1, 1, 5, 5])]
    )
    (item,) = items_of(CocoSource(str(path)))
    assert item.image_url == "http://images.cocodataset.org/val2017/1.jpg" and item.local_path == ""


def test_coco_malformed_json_names_the_line(tmp_path):
    path = tmp_path / "instances_val2017.json"
    path.write_text('{"images": [\n{"id": 1,}\n]}')
    with pytest.raises(SourceError, match=r"is not valid JSON \(line 2, column 10"):
        items_of(CocoSource(str(path), images_dir=str(tmp_path)))


def test_coco_without_a_person_category_is_refused(tmp_path):
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]}))
    with pytest.raises(SourceError, match="categories: .* has no category named 'person'"):
        items_of(CocoSource(str(path), images_dir=str(tmp_path)))


@pytest.mark.parametrize("missing", ["images", "annotations", "categories"])
def test_coco_without_a_section_names_it(tmp_path, missing):
    data = {"images": [], "annotations": [], "categories": []}
    del data[missing]
    path = tmp_path / "instances_x.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SourceError, match=f"{missing}: missing or not a list"):
        items_of(CocoSource(str(path), images_dir=str(tmp_path)))


def test_coco_path_errors_name_the_argument(tmp_path):
    with pytest.raises(SourceError, match="path: .* does not exist"):
        CocoSource(str(tmp_path / "nope.json"))
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(SourceError, match="images_dir: .* does not exist"):
        CocoSource(str(tmp_path / "a.json"), images_dir=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("bbox", [[1, 2, 3], "1,2,3,4", [1, 2, float("nan"), 4], [True, 1, 2, 3]])
def test_coco_boxes_must_be_four_numbers(bbox):
    with pytest.raises(ValueError, match="bbox: must be 4 numbers"):
        coco_box(bbox)


# --- ADE20K ----------------------------------------------------------------------
def test_ade20k_takes_images_with_people_and_boxes_their_polygons(tmp_path):
    index = write_ade20k(
        tmp_path,
        [
            {"name": "ADE_train_1", "seed": 1, "objects": [(PERSON_ADE, [10, 60, 35], [20, 20, 200], 0), (PERSON_ADE, [5, 9], [5, 9], 1)]},
            {"name": "ADE_train_2", "seed": 2, "objects": [("car, auto, automobile, machine, motorcar", [1, 5], [1, 5], 0)]},
        ],
    )
    (item,) = items_of(Ade20kSource(str(index)))
    assert item.original_database == "ade20k" and item.folder == "ade20k/images" and item.filename == "ADE_train_1.jpg"
    assert item.people == [[10, 20, 61, 201]]  # the part-level polygon is not a person
    assert item.local_path.endswith("training/urban/street/ADE_train_1.jpg")
    assert item.extra["scene"] == ["street"]


def test_ade20k_accepts_the_release_folder(tmp_path):
    index = write_ade20k(tmp_path, [{"name": "ADE_train_1", "seed": 1, "objects": [(PERSON_ADE, [1, 90], [1, 90], 0)]}])
    assert len(items_of(Ade20kSource(str(index.parent)))) == 1


def test_ade20k_names_a_malformed_polygon_and_a_missing_annotation(tmp_path):
    index = write_ade20k(
        tmp_path,
        [
            {"name": "ADE_train_1", "seed": 1, "objects": [(PERSON_ADE, [1, 2], [1], 0)]},
            {"name": "ADE_train_2", "seed": 2, "objects": [(PERSON_ADE, [1, 90], [1, 90], 0)], "no_json": True},
            {"name": "ADE_train_3", "seed": 3, "objects": [(PERSON_ADE, [1, 90], [1, 90], 0)]},
        ],
    )
    bad, missing, good = items_of(Ade20kSource(str(index)))
    assert bad.rejection == ("bad_record", "ADE_train_1.json: annotation.object[0] (id 0): polygon: x and y must be non-empty lists of the same length")
    assert missing.rejection[0] == "missing_file" and "ADE_train_2.json" in missing.rejection[1]
    assert good.rejection is None


def test_ade20k_index_that_is_not_a_pickle_is_refused(tmp_path):
    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(SourceError, match="path: .* is not a readable ADE20K index"):
        items_of(Ade20kSource(str(path)))


def test_ade20k_index_cannot_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps({"filename": [Exploit()]}))
    with pytest.raises(SourceError, match="builtins.print, which an ADE20K index never needs"):
        items_of(Ade20kSource(str(path)))


def test_ade20k_index_missing_a_field_names_it(tmp_path):
    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps({"filename": ["a.jpg"], "folder": ["x"], "objectnames": []}))
    with pytest.raises(SourceError, match="objectPresence: missing from the index"):
        items_of(Ade20kSource(str(path)))


# --- folders --------------------------------------------------------------------------
def test_a_folder_gives_its_images_recursively_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b/2.jpg", "1.PNG", "notes.txt", ".hidden/3.jpg"):
        (tmp_path / name).write_bytes(jpeg(1))
    items = items_of(FolderSource(str(tmp_path), original_database="framesdb", folder="framesdb/images"))
    assert [i.key for i in items] == ["1.PNG", "b/2.jpg"]
    assert items[1].filename == "b_2.jpg" and items[1].folder == "framesdb/images" and items[1].original_database == "framesdb"


@pytest.mark.usefixtures("every_path_importable")
def test_a_missing_folder_is_named():
    with pytest.raises(SourceError, match="path: '/no/such/folder' does not exist"):
        FolderSource("/no/such/folder")


# --- URL lists ----------------------------------------------------------------------
def test_a_text_list_gives_one_url_per_line_and_names_bad_lines(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text("# photos\nhttp://a.org/1.jpg\n\nnot a url\nhttps://b.org/2.png\n")
    good, bad, other = items_of(UrlListSource(str(path)))
    assert good.image_url == "http://a.org/1.jpg" and good.source_record == "urls.txt line 2"
    assert bad.rejection == ("bad_record", "line 4: url: not an http(s) URL")  # the line's text is never echoed
    assert other.image_url == "https://b.org/2.png"


def test_a_csv_list_gives_urls_with_pages_and_licenses(tmp_path):
    path = tmp_path / "urls.csv"
    path.write_text("url,page_url,license\nhttp://a.org/1.jpg,http://a.org/1.html,CC0\nhttp://a.org/2.jpg,ftp://x,\n")
    good, bad = items_of(UrlListSource(str(path)))
    assert (good.image_url, good.page_url, good.license) == ("http://a.org/1.jpg", "http://a.org/1.html", "CC0")
    assert bad.rejection[0] == "bad_record" and bad.rejection[1].startswith("line 3: page_url:")


def test_a_csv_without_a_url_column_is_refused(tmp_path):
    path = tmp_path / "urls.csv"
    path.write_text("link,title\nhttp://a.org/1.jpg,x\n")
    with pytest.raises(SourceError, match="has no 'url' column \\(it has 2 column\\(s\\), none named url or image_url\\)"):
        items_of(UrlListSource(str(path)))


def test_a_url_list_resumes_after_the_last_line_read(tmp_path):
    path = tmp_path / "urls.txt"
    path.write_text("\n".join(f"http://a.org/{i}.jpg" for i in range(5)))
    assert [i.image_url for i in items_of(UrlListSource(str(path)), {"line": 3})] == ["http://a.org/3.jpg", "http://a.org/4.jpg"]
