"""Importing malformed dataset files (COCO JSON, URL lists, EMOTIC Annotations.mat): clear errors, nothing half-stored.

A whole file that cannot be read fails the job (or its creation) with an error
that starts with the field at fault; a bad record is refused with a reason and
a detail while the rest is imported; storage and database agree after every
example. Generated text never contains ':' outside the fixed vocabulary, so no
generated line can name a host off this machine.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotator.models import Person
from catalog.models import Image
from emotic.formats.common import FormatError
from emotic.formats.mat import read_annotations_mat, write_annotations_mat
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord
from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import create_crawl_job, run_crawl_job
from scraper.sources import SourceError
from tests.properties.test_image_ingest import assert_storage_matches_database
from tests.catalog.images import jpeg
from tests.scraper.local_server import LocalServer, Route

pytestmark = pytest.mark.django_db
PROPERTY = settings(max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
# "field: reason", where the field may be indexed: "images[3] (id 7): file_name: ...", "line 4: url: ...".
NAMED_ERROR = re.compile(r"^[\w\[\]().'\- ]{1,80}: \S")
safe_text = st.text(st.characters(blacklist_characters=":\x00", blacklist_categories=("Cs",)), max_size=40)
junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | safe_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(autouse=True)
def offline_friendly_settings(settings):
    settings.SCRAPER_MIN_IMAGE_SIDE = 32
    settings.SCRAPER_RETRIES, settings.SCRAPER_RETRY_BACKOFF_SECONDS = 0, 0.0
    settings.SCRAPER_OBEY_ROBOTS_TXT = False
    settings.SCRAPER_CONNECT_TIMEOUT_SECONDS = settings.SCRAPER_READ_TIMEOUT_SECONDS = 2.0


def import_file(kind: str, params: dict) -> CrawlJob | None:
    """Run an import to its end; None when the file was refused at creation (with a named error)."""
    images_before = Image.objects.count()
    try:
        job = create_crawl_job(kind, params)
    except SourceError as error:
        assert NAMED_ERROR.match(str(error)), str(error)
        return None
    job = run_crawl_job(job)
    assert job.state in {CrawlJob.State.DONE, CrawlJob.State.FAILED}
    if job.state == CrawlJob.State.FAILED:
        assert NAMED_ERROR.match(job.error), job.error
        assert Image.objects.count() == images_before  # a file that cannot be read stores nothing
    for reason, detail in CrawlItem.objects.filter(job=job, state=CrawlItem.State.REJECTED).values_list("reason", "detail"):
        assert reason and detail
    assert_storage_matches_database()
    for person in Person.objects.select_related("image"):
        assert 0 <= person.x1 < person.x2 <= person.image.width and 0 <= person.y1 < person.y2 <= person.image.height
    return job


# --- COCO --------------------------------------------------------------------------------
VALID_COCO = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 320, "height": 240},
               {"id": 2, "file_name": "b.jpg", "width": 320, "height": 240}],
    "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 20, 100, 150], "iscrowd": 0},
                    {"id": 11, "image_id": 2, "category_id": 1, "bbox": [50.5, 5, 80, 200.2], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "person"}],
}
COCO_PLACES = [
    (), ("images",), ("annotations",), ("categories",), ("images", 0), ("annotations", 1), ("categories", 0),
    *[("images", i, key) for i in (0, 1) for key in ("id", "file_name", "width", "height")],
    *[("annotations", i, key) for i in (0, 1) for key in ("id", "image_id", "category_id", "bbox", "iscrowd")],
    ("annotations", 0, "bbox", 2), ("categories", 0, "name"), ("categories", 0, "id"),
]


def mutate(document: dict, place: tuple, value, delete: bool):
    if not place:
        return value
    parent = document
    for step in place[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        parent.pop(place[-1], None)
    else:
        parent[place[-1]] = value
    return document


@st.composite
def coco_files(draw) -> bytes:
    document = copy.deepcopy(VALID_COCO)
    for _ in range(draw(st.integers(1, 3))):
        try:
            document = mutate(document, draw(st.sampled_from(COCO_PLACES)), draw(junk), draw(st.booleans()))
        except (KeyError, IndexError, TypeError):
            break  # an earlier change removed the place
    text = json.dumps(document).encode()
    damage = draw(st.sampled_from(["none", "none", "truncate", "bad utf-8"]))
    if damage == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if damage == "bad utf-8":
        position = draw(st.integers(0, len(text)))
        return text[:position] + b"\xff\xfe" + text[position:]
    return text


@pytest.fixture
def coco_folder(tmp_path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.jpg").write_bytes(jpeg(1))
    (images / "b.jpg").write_bytes(jpeg(2))
    return tmp_path


@PROPERTY
@given(content=coco_files())
def test_malformed_coco_files(coco_folder, content):
    path = coco_folder / "instances.json"
    path.write_bytes(content)
    import_file("coco", {"path": str(path), "images_dir": str(coco_folder / "images")})


# --- URL lists ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def web():
    server = LocalServer().start()
    server.routes.update({
        "/photo.jpg": Route(jpeg(7), headers={"Content-Type": "image/jpeg"}),
        "/page.html": Route(b"<html>hello</html>", headers={"Content-Type": "text/html"}),
        "/gone.jpg": Route(b"", status=404),
        "/broken.jpg": Route(jpeg(8)[:500], headers={"Content-Type": "image/jpeg"}),
    })
    yield server
    server.stop()


def url_lines(web: LocalServer):
    loopback = st.sampled_from([web.url(p) for p in ("/photo.jpg", "/page.html", "/gone.jpg", "/broken.jpg", "/missing.png")])
    odd = st.sampled_from([
        "file:///etc/passwd", "ftp://ftp.invalid/a.jpg", "http://", "https://", "http://[::1", "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=", "http://127.0.0.1:1/refused.jpg", "url,title", "",
        f"{web.url('/photo.jpg')},a title,extra,fields", f'"{web.url("/photo.jpg")}"',
    ])
    return st.lists(loopback | odd | safe_text, min_size=1, max_size=8)


@PROPERTY
@given(data=st.data())
def test_malformed_url_lists(web, tmp_path_factory, data, settings):
    settings.SCRAPER_ALLOW_PRIVATE_ADDRESSES = False
    settings.SCRAPER_ALLOWED_NETWORKS = ["127.0.0.1/32"]  # loopback is the only place anything is fetched from
    lines = data.draw(url_lines(web))
    suffix = data.draw(st.sampled_from([".txt", ".csv"]))
    path = tmp_path_factory.mktemp("urls") / f"list{suffix}"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    job = import_file("urls", {"path": str(path)})
    if job is not None:
        keys = set(CrawlItem.objects.filter(job=job, state=CrawlItem.State.STORED).values_list("image_url", flat=True))
        assert keys <= {web.url("/photo.jpg")}  # nothing else is an image, and file:// is never read


# --- EMOTIC Annotations.mat --------------------------------------------------------------
def valid_mat(path: Path) -> Path:
    answer = AnnotatorAnswer(("Happiness",), 7, 5, 6, "Female", "Adult")
    person = PersonRecord((10, 20, 200, 230), (answer,), ("Happiness",), (7.0, 5.0, 6.0), "Female", "Adult")
    return write_annotations_mat(path, [ImageRecord("a.jpg", "mscoco/images", 320, 240, "mscoco", "train", (person,))])


@pytest.fixture
def emotic_root(tmp_path) -> Path:
    (tmp_path / "emotic" / "mscoco" / "images").mkdir(parents=True)
    (tmp_path / "emotic" / "mscoco" / "images" / "a.jpg").write_bytes(jpeg(3))
    (tmp_path / "Annotations").mkdir()
    return tmp_path


@PROPERTY
@given(damage=st.sampled_from(["random", "truncate", "overwrite"]), data=st.data())
def test_damaged_annotations_mat_files(emotic_root, damage, data):
    path = valid_mat(emotic_root / "Annotations" / "Annotations.mat")
    content = bytearray(path.read_bytes())
    if damage == "random":
        content = bytearray(data.draw(st.binary(max_size=2048)))
    elif damage == "truncate":
        content = content[: data.draw(st.integers(0, len(content) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 20))):
            content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(content))
    import_file("emotic", {"path": str(path)})


IMAGE_FIELDS = ("filename", "folder", "image_size", "original_database", "person")
PERSON_FIELDS = ("body_bbox", "annotations_categories", "annotations_continuous", "gender", "age")
mat_values = st.one_of(
    st.none().map(lambda _: np.zeros((0, 0))), st.integers(-5, 5000), st.floats(allow_nan=True, allow_infinity=True),
    safe_text, st.lists(st.integers(-10, 500), max_size=6).map(np.array),
)


@st.composite
def mat_structures(draw) -> dict:
    """Struct arrays with EMOTIC's field names (and missing or extra ones) holding values of any type."""
    def struct(fields, value_strategy):
        chosen = draw(st.lists(st.sampled_from(fields + ("extra",)), unique=True, max_size=len(fields) + 1))
        return {name: draw(value_strategy) for name in chosen}

    person = st.builds(lambda: struct(PERSON_FIELDS, mat_values))
    image_value = mat_values | person | st.lists(person, max_size=2).map(lambda people: np.array(people, dtype=object))
    splits = {}
    for split in draw(st.lists(st.sampled_from(["train", "val", "test"]), unique=True, max_size=3)):
        splits[split] = np.array([struct(IMAGE_FIELDS, image_value) for _ in range(draw(st.integers(0, 2)))], dtype=object)
    return splits


@PROPERTY
@given(structure=mat_structures())
def test_mat_files_of_the_wrong_shape_get_a_named_error(tmp_path_factory, structure):
    path = tmp_path_factory.mktemp("mat") / "Annotations.mat"
    scipy.io.savemat(path, structure or {"unrelated": 1})
    try:
        splits = read_annotations_mat(path)
    except FormatError as error:
        assert NAMED_ERROR.match(str(error)), str(error)
    else:
        assert set(splits) == {"train", "val", "test"}
