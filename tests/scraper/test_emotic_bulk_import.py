"""The EMOTIC import at speed: set-based batches give the rows one image at a time gives, survive a kill, and
count a bad record under its reason while the rest of its batch goes in together."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time

import pytest
from PIL import Image as PILImage
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from annotator.models import EmotionAnnotation, Person, Worker
from catalog.files import open_stored
from catalog.models import Image
from catalog.renditions import ensure_rendition
from emotic.records import AnnotatorAnswer, ImageRecord
from quality.models import PendingRefresh
from scraper.models import CrawlJob
from scraper.services.jobs import create_crawl_job, run_crawl_job
from tests.catalog.images import encode, jpeg, photo
from tests.scraper.test_emotic_import import person, write_emotic

CATEGORIES = ("Peace", "Happiness", "Engagement", "Fatigue", "Anger", "Sadness")


def official_layout(count: int) -> list[tuple[ImageRecord, int]]:
    """``count`` images over the three splits, as EMOTIC has them: train one annotator, val and test three."""
    images = []
    for k in range(count):
        split = ("train", "train", "val", "test")[k % 4]
        annotators = 1 if split == "train" else 3
        people = []
        for p in range(1 + k % 3):
            answers = [
                AnnotatorAnswer((CATEGORIES[(k + p + a) % 6],), 1 + (k + a) % 10, 1 + (p + a) % 10, 1 + (k * p + a) % 10,
                                *(("Male", "Adult") if split == "train" else ()))
                for a in range(annotators)
            ]  # fmt: skip
            x1 = 5 + 40 * p
            people.append(person((x1, 130 - 40 * (k % 2), x1 + 60, 230), answers, "Female", "Kid"))
        folder = ("mscoco/images", "framesdb/images", "emodb_small/images", "ade20k/images")[k % 4]
        images.append((ImageRecord(f"img_{k:03d}.jpg", folder, 320, 240, folder.split("/")[0], split, tuple(people)), 700 + k))
    return images


def rows() -> dict:
    """Everything an import writes, keyed by what it means rather than by ids."""
    return {
        "images": sorted(Image.objects.values_list("folder", "filename", "split", "split_locked", "boxes_confirmed", "original_database")),
        "people": sorted(Person.objects.values_list("image__filename", "x1", "y1", "x2", "y2", "box_origin", "annotation_slots_taken")),
        "answers": sorted(
            EmotionAnnotation.objects.values_list(
                "person__image__filename", "person__x1", "worker__original_number", "categories_mask",
                "valence", "arousal", "dominance", "gender", "age", "status",
            )
        ),  # fmt: skip
        "workers": sorted(Worker.objects.filter(kind="original").values_list("original_number", "user__username")),
        "to_refresh": (
            set(PendingRefresh.objects.values_list("worker__original_number", flat=True)),
            set(PendingRefresh.objects.exclude(person=None).values_list("person__image__filename", "person__x1")),
        ),
    }


def inserts_into(queries: CaptureQueriesContext, table: str) -> int:
    return sum(q["sql"].startswith(f'INSERT INTO "{table}" ') for q in queries.captured_queries)


def expected_people(images) -> int:
    return sum(len(record.people) for record, _ in images)


@pytest.mark.django_db
def test_batches_store_the_rows_one_image_at_a_time_stores(tmp_path, settings):
    images = official_layout(24)
    path = write_emotic(tmp_path, images)
    settings.SCRAPER_CHUNK_SIZE = 1  # each image committed alone
    one_by_one = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    alone = rows()
    assert (one_by_one.state, one_by_one.stored, len(alone["people"])) == ("done", 24, expected_people(images))
    assert len(alone["answers"]) == sum(len(p.answers) for record, _ in images for p in record.people)
    assert alone["to_refresh"] == ({1, 2, 3}, {(filename, x1) for filename, x1, *_ in alone["people"]})

    for model in (PendingRefresh, EmotionAnnotation, Person, Image, CrawlJob):
        model.objects.all().delete()
    settings.SCRAPER_CHUNK_SIZE = 200  # the whole file in one batch
    with CaptureQueriesContext(connection) as queries:
        batched = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (batched.state, batched.stored) == ("done", 24)
    assert rows() == alone
    batches = inserts_into(queries, "annotator_image")  # one per batch of images that arrived together
    assert 1 <= batches < 24
    for table in ("annotator_person", "annotator_emotionannotation", "quality_pendingrefresh"):
        assert inserts_into(queries, table) == batches, table  # one statement a batch, whatever its size


@pytest.mark.django_db
def test_a_bad_record_is_counted_under_its_reason_and_its_batch_goes_in_together(tmp_path, settings, caplog):
    images = official_layout(30)
    path = write_emotic(tmp_path, images)
    # The file says 320 x 240, but one image on disk is smaller: its people's boxes lie below its pixels.
    (tmp_path / "emotic" / images[17][0].relative_path).write_bytes(jpeg(717, (100, 80)))
    settings.SCRAPER_CHUNK_SIZE = 200
    with caplog.at_level(logging.INFO, logger="scraper"), CaptureQueriesContext(connection) as queries:
        job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (job.state, job.stored, job.rejected_by_reason) == ("done", 29, {"invalid_box": 1})
    bad = job.items.get(state="rejected")
    assert bad.key == "train[9] framesdb/images/img_017.jpg"
    assert bad.detail.startswith("people_boxes[0]") and "no area inside the image (100 x 80 pixels)" in bad.detail
    assert not Image.objects.filter(filename="img_017.jpg").exists()
    good_people = expected_people(images) - len(images[17][0].people)
    assert Person.objects.count() == good_people
    assert not [r for r in caplog.records if "could not be committed" in r.getMessage()]
    batches = inserts_into(queries, "annotator_image")
    assert inserts_into(queries, "annotator_person") == batches < 29  # batches of what arrived together, not one by one


def _import_until_killed(job_id: int) -> None:
    connection.close()  # a connection of its own, as a worker has
    job = CrawlJob.objects.get(pk=job_id)
    run_crawl_job(job)


@pytest.mark.django_db(transaction=True)  # the killed process commits where this test sees it
def test_an_import_killed_midway_leaves_whole_images_and_resumes_without_duplicates(tmp_path, settings):
    images = official_layout(60)
    path = write_emotic(tmp_path, images)
    settings.SCRAPER_CHUNK_SIZE = 4
    settings.SCRAPER_CLAIM_TIMEOUT_SECONDS = 1  # the dead process's claims run out at once
    job = create_crawl_job("emotic", {"path": str(path)})
    connection.close()
    importer = multiprocessing.get_context("fork").Process(target=_import_until_killed, args=(job.pk,))
    importer.start()
    deadline = time.monotonic() + 120
    while Image.objects.count() < 12 and time.monotonic() < deadline and importer.is_alive():
        time.sleep(0.005)
    os.kill(importer.pid, signal.SIGKILL)
    importer.join()
    stored_at_kill = Image.objects.count()
    assert 12 <= stored_at_kill < 60

    by_name = {record.filename: record for record, _ in images}
    for image in Image.objects.all():  # every image there has all its people and all their answers
        record = by_name[image.filename]
        assert image.people.count() == len(record.people), image.filename
        assert EmotionAnnotation.objects.filter(person__image=image).count() == sum(len(p.answers) for p in record.people)
        assert image.split == record.split and image.boxes_confirmed

    job = run_crawl_job(CrawlJob.objects.get(pk=job.pk))
    assert (job.state, job.stored, job.exact_duplicates, job.rejected) == ("done", 60, 0, 0)
    assert Image.objects.count() == 60 and Person.objects.count() == expected_people(images)
    assert EmotionAnnotation.objects.count() == sum(len(p.answers) for record, _ in images for p in record.people)
    assert not Person.objects.values("image", "x1", "y1", "x2", "y2").annotate(n=Count("id")).filter(n__gt=1).exists()


@pytest.mark.django_db
def test_a_local_dataset_can_be_referenced_where_it_lies(tmp_path, settings, media_in_tmp):
    settings.CATALOG_LOCAL_IMAGES = "reference"
    images = official_layout(6)
    path = write_emotic(tmp_path / "dataset", images)
    turned = tmp_path / "dataset" / "emotic" / images[5][0].relative_path
    exif = PILImage.Exif()
    exif[0x0112] = 3  # stored upside down: the platform stores it upright, re-encoded, so it must copy it
    turned.write_bytes(encode(photo(705, (320, 240)), "JPEG", exif=exif.tobytes()))

    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (job.state, job.stored) == ("done", 6)
    for record, _ in images[:5]:
        image = Image.objects.get(filename=record.filename)
        where = tmp_path / "dataset" / "emotic" / record.relative_path
        assert image.storage_key == f"file:{where.resolve()}"
        with open_stored(image.storage_key) as stored:
            assert stored.read() == where.read_bytes()
    copied = Image.objects.get(filename=images[5][0].filename)
    assert copied.storage_key.startswith("images/") and (media_in_tmp / copied.storage_key).is_file()
    assert [p.relative_to(media_in_tmp).as_posix() for p in media_in_tmp.rglob("*") if p.is_file()] == [copied.storage_key]

    shown = Image.objects.get(filename=images[0][0].filename)
    key = ensure_rendition(shown, 100)  # workers see a rendition made from the file where it lies
    with PILImage.open(media_in_tmp / key) as rendition:
        assert rendition.size == (100, 75)
    again = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (again.stored, again.exact_duplicates, Image.objects.count()) == (0, 6, 6)
    assert all((tmp_path / "dataset" / "emotic" / record.relative_path).is_file() for record, _ in images)  # never deleted
