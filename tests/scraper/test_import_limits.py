"""Small hostile dataset files cannot balloon: limits on records, people, declared elements and unpickled arrays.

Every limit is a setting (SCRAPER_IMPORT_MAX_*); its error names the file and the setting,
and a file over a limit writes nothing (no items, no images).
"""

from __future__ import annotations

import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from catalog.models import Image
from emotic.formats.mat import write_annotations_mat
from emotic.formats.mat5 import MI_COMPRESSED, MI_INT8, MI_INT32, MI_MATRIX, MI_UINT32, MX_CELL, MX_STRUCT, _element
from emotic.records import ImageRecord
from scraper.models import CrawlItem
from scraper.services.jobs import create_crawl_job, run_crawl_job
from scraper.sources import SourceError
from scraper.sources.ade20k import load_index
from tests.catalog.images import jpeg
from tests.emotic.conftest import train_person
from tests.scraper.datasets import PERSON_ADE, coco_person, write_ade20k, write_coco

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


# --- hostile files, built byte by byte ------------------------------------------------------
def mat_header() -> bytes:
    return b"MATLAB 5.0 MAT-file, hostile".ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM"


def struct_array(name: bytes, count: int, fields: tuple[str, ...] = ()) -> bytes:
    """A 1 x count struct array: with no fields, nothing in the file stands for its elements."""
    width = max((len(f) for f in fields), default=0) + 1
    parts = [
        _element(MI_UINT32, struct.pack("<II", MX_STRUCT, 0)),
        _element(MI_INT32, struct.pack("<ii", 1, count)),
        _element(MI_INT8, name),
        _element(MI_INT32, struct.pack("<i", width)),
        _element(MI_INT8, b"".join(f.encode().ljust(width, b"\0") for f in fields)),
    ]
    return _element(MI_MATRIX, b"".join(parts))


def nested_cells(depth: int) -> bytes:
    inner = _element(MI_MATRIX, b"")
    for level in range(depth):
        name = b"train" if level == depth - 1 else b""
        header = [_element(MI_UINT32, struct.pack("<II", MX_CELL, 0)), _element(MI_INT32, struct.pack("<ii", 1, 1)), _element(MI_INT8, name)]
        inner = _element(MI_MATRIX, b"".join(header) + inner)
    return inner


def compressed(matrix: bytes) -> bytes:
    body = zlib.compress(matrix, 9)
    return struct.pack("<II", MI_COMPRESSED, len(body)) + body


def hostile_mat(path: Path, train_records: int) -> Path:
    """The issue's file: a few hundred bytes whose train split is train_records empty structs."""
    path.write_bytes(
        mat_header() + compressed(struct_array(b"train", train_records)) + compressed(struct_array(b"val", 0))
        + compressed(struct_array(b"test", 0))
    )
    return path


def no_rows() -> bool:
    return not CrawlItem.objects.exists() and not Image.objects.exists()


# --- .mat -----------------------------------------------------------------------------------
def test_a_tiny_mat_with_tens_of_thousands_of_records_is_refused_naming_the_file_and_the_limit(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_RECORDS = 10_000
    path = hostile_mat(tmp_path / "Annotations.mat", 65_538)
    assert path.stat().st_size < 400
    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert job.state == "failed"
    assert job.error == "path: Annotations.mat: holds 65,538 records, more than 10,000 (SCRAPER_IMPORT_MAX_RECORDS)"
    assert no_rows()


def test_a_mat_declaring_more_elements_than_the_limit_is_refused_before_reading(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_MAT_ELEMENTS = 10_000
    path = hostile_mat(tmp_path / "Annotations.mat", 5_000)  # 5,000 records: under the record limit
    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert job.state == "failed" and job.error.startswith("path: Annotations.mat: declares more than 10,000 array elements")
    assert job.error.endswith("(SCRAPER_IMPORT_MAX_MAT_ELEMENTS)")
    assert no_rows()


READ_IN_A_SMALL_PROCESS = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, 1536 * 1024 * 1024))
from emotic.formats.mat import read_annotations_mat_records
try:
    read_annotations_mat_records(sys.argv[1])
except Exception as error:
    print(type(error).__name__, error)
"""


def test_a_mat_declaring_two_billion_structs_is_refused_before_anything_is_allocated(tmp_path):
    """184 bytes declaring a 1 x 2,147,483,647 struct array: scipy would allocate 16 GiB first.
    Read with the default limits in a process allowed 1.5 GiB: a clear error, not a MemoryError."""
    path = tmp_path / "Annotations.mat"
    path.write_bytes(mat_header() + compressed(struct_array(b"train", 2**31 - 1)))
    result = subprocess.run(
        [sys.executable, "-c", READ_IN_A_SMALL_PROCESS, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("LimitExceeded Annotations.mat: declares more than 50,000,000 array elements")
    assert "train declares 2,147,483,647" in result.stdout


def test_arrays_nested_deeper_than_a_reader_should_follow_are_refused(tmp_path):
    path = tmp_path / "Annotations.mat"
    path.write_bytes(mat_header() + compressed(nested_cells(200)))
    result = subprocess.run(
        [sys.executable, "-c", READ_IN_A_SMALL_PROCESS, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.startswith("LimitExceeded Annotations.mat: nests arrays more than 32 deep"), result.stdout + result.stderr


def test_an_emotic_image_with_more_people_than_the_limit_is_a_bad_record(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE = 2
    crowd = tuple(train_person((10 * i, 1, 10 * i + 9, 20), ["Peace"]) for i in range(3))
    records = [
        ImageRecord("crowd.jpg", "mscoco/images", 640, 480, "mscoco", "train", crowd),
        ImageRecord("pair.jpg", "mscoco/images", 640, 480, "mscoco", "train", crowd[:2]),
    ]
    for record in records:
        target = tmp_path / "emotic" / record.folder / record.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jpeg(500 + len(record.people), (640, 480)))
    write_annotations_mat(tmp_path / "Annotations" / "Annotations.mat", records)
    job = run_crawl_job(create_crawl_job("emotic", {"path": str(tmp_path / "Annotations" / "Annotations.mat")}))
    assert (job.stored, job.rejected_by_reason) == (1, {"bad_record": 1})
    assert job.items.get(reason="bad_record").detail == (
        "Annotations.mat train[0].person: 3 people, more than SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE (2)"
    )


# --- COCO, ADE20K, URL lists ------------------------------------------------------------------
def test_a_coco_file_with_more_records_than_the_limit_fails_before_anything_is_saved(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_RECORDS = 3
    path = write_coco(tmp_path, [{"id": i, "seed": 510 + i} for i in range(1, 6)], [coco_person(i, i, [1, 1, 50, 50]) for i in range(1, 3)])
    job = run_crawl_job(create_crawl_job("coco", {"path": str(path)}))
    assert job.state == "failed"
    assert job.error == "path: instances_val2017.json holds 5 'images' records, more than SCRAPER_IMPORT_MAX_RECORDS (3)"
    assert no_rows()


def test_a_coco_image_with_more_people_than_the_limit_is_a_bad_record(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE = 2
    path = write_coco(
        tmp_path, [{"id": 1, "seed": 520}, {"id": 2, "seed": 521}],
        [coco_person(10 + i, 1, [10 * i, 1, 9, 9]) for i in range(3)] + [coco_person(20, 2, [1, 1, 50, 50])],
    )
    job = run_crawl_job(create_crawl_job("coco", {"path": str(path)}))
    assert (job.stored, job.rejected_by_reason) == (1, {"bad_record": 1})
    assert job.items.get(reason="bad_record").detail == (
        "images[0] (id 1): people: 3 people, more than SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE (2)"
    )


def test_an_ade20k_index_or_image_over_the_limits(tmp_path, settings):
    person = (PERSON_ADE, [10, 50], [10, 90], 0)
    index = write_ade20k(tmp_path, [{"name": f"ADE_train_{i}", "seed": 530 + i, "objects": [person] * (i + 1)} for i in range(3)])
    settings.SCRAPER_IMPORT_MAX_RECORDS = 2
    job = run_crawl_job(create_crawl_job("ade20k", {"path": str(index)}))
    assert job.error == "path: index_ade20k.pkl holds 3 image records, more than SCRAPER_IMPORT_MAX_RECORDS (2)"
    settings.SCRAPER_IMPORT_MAX_RECORDS, settings.SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE = 100, 2
    job = run_crawl_job(create_crawl_job("ade20k", {"path": str(index)}))
    assert (job.stored, job.rejected_by_reason) == (2, {"bad_record": 1})
    assert job.items.get(reason="bad_record").detail == (
        "ADE_train_2.json: annotation.object: 3 people, more than SCRAPER_IMPORT_MAX_PEOPLE_PER_IMAGE (2)"
    )


def test_a_url_list_with_more_entries_than_the_limit_fails_before_anything_is_saved(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_RECORDS = 3
    (tmp_path / "urls.txt").write_text("\n".join(f"http://a.example/{i}.jpg" for i in range(5)))
    job = run_crawl_job(create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")}))
    assert job.error == "path: urls.txt holds 5 entries, more than SCRAPER_IMPORT_MAX_RECORDS (3)"
    assert no_rows()


@pytest.mark.parametrize("kind", ["urls", "coco", "emotic", "ade20k"])
def test_a_file_larger_than_the_limit_is_not_read(tmp_path, settings, kind):
    settings.SCRAPER_IMPORT_MAX_FILE_BYTES = 1024
    path = tmp_path / {"urls": "urls.txt", "coco": "instances_val2017.json", "emotic": "Annotations.mat", "ade20k": "index_ade20k.pkl"}[kind]
    path.write_bytes(b"x" * 2048)
    job = run_crawl_job(create_crawl_job(kind, {"path": str(path)}))
    assert job.error == f"path: {path.name} is 2,048 bytes, more than SCRAPER_IMPORT_MAX_FILE_BYTES (1,024)"
    assert no_rows()


# --- the ADE20K index's unpickler -------------------------------------------------------------
class Reconstruct:
    """What numpy's own pickles call, with a shape a few bytes can declare."""

    def __init__(self, shape, dtype=b"b", state=None):
        self.shape, self.dtype, self.state = shape, dtype, state

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        arguments = (np.ndarray, self.shape, self.dtype)
        return (_reconstruct, arguments) if self.state is None else (_reconstruct, arguments, self.state)


def test_a_small_index_asking_for_hundreds_of_megabytes_of_arrays_is_refused(tmp_path):
    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps({"filename": [Reconstruct((274 * 2**20,))], "folder": []}))
    assert path.stat().st_size < 1000
    with pytest.raises(SourceError) as raised:
        load_index(path)
    assert raised.value.field == "path"
    assert raised.value.reason == (
        "index_ade20k.pkl: the index builds more than 67,108,864 bytes of arrays (SCRAPER_IMPORT_MAX_PICKLE_BYTES)"
    )


def test_the_pickle_limit_counts_every_array_together(tmp_path, settings):
    settings.SCRAPER_IMPORT_MAX_PICKLE_BYTES = 10_000
    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps({"filename": [Reconstruct((4_000,)) for _ in range(3)]}))
    with pytest.raises(SourceError, match="builds more than 10,000 bytes of arrays"):
        load_index(path)


LOAD_IN_A_PROCESS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
import django; django.setup()
from pathlib import Path
from scraper.sources.ade20k import load_index
try:
    load_index(Path(sys.argv[1]))
except Exception as error:
    print(type(error).__name__, error)
"""


@pytest.mark.parametrize(
    "state",
    [
        (1, (10**8,), np.dtype(object), False, [None]),  # numpy crashes filling 10^8 items from a list of one
        (1, (10**8,), np.dtype("f8"), False, b"12345678"),
        (1, (2,), np.dtype([("a", "O")]), False, [None, None]),
    ],
    ids=["object-items", "numbers", "record-dtype"],
)
def test_array_state_that_does_not_fit_its_shape_is_refused_not_a_crash(tmp_path, state):
    """Run in a process of its own: before the check, the first case killed the interpreter (SIGSEGV)."""
    path = tmp_path / "index_ade20k.pkl"
    path.write_bytes(pickle.dumps({"filename": [Reconstruct((0,), state=state)]}))
    result = subprocess.run(
        [sys.executable, "-c", LOAD_IN_A_PROCESS, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("SourceError path: ") and "is not a readable ADE20K index" in result.stdout


def test_an_index_with_object_and_number_arrays_still_loads(tmp_path):
    index = write_ade20k(tmp_path, [{"name": "ADE_train_1", "seed": 540, "objects": [(PERSON_ADE, [10, 50], [10, 90], 0)]}])
    data = pickle.loads(index.read_bytes())
    data["objectnames"] = np.array(data["objectnames"], dtype=object)
    data["proportionClassIsPart"] = np.zeros(2, dtype=np.float32)
    index.write_bytes(pickle.dumps(data))
    loaded = load_index(index)
    assert list(loaded["objectnames"]) == list(data["objectnames"]) and loaded["objectPresence"].tolist() == [[1], [0]]
