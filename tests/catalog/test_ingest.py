"""Ingest: stored once, duplicates found exactly and nearly across sources, nothing half-written."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from PIL import Image as PILImage

from annotator.models import Person
from catalog.models import Image
from catalog.dedup import phash_index
from catalog.imaging import prepare_image
from catalog.ingest import IngestOutcome, IngestRequest, Provenance, commit_prepared_images, ingest_image_bytes, write_blob
from catalog.models import Source
from tests.catalog.images import encode, jpeg, photo

pytestmark = pytest.mark.django_db


def ingest(data: bytes, source: Source, **fields):
    fields.setdefault("filename", "")
    fields.setdefault("original_database", "web")
    return ingest_image_bytes(data, source=source, **fields)


def stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def test_an_image_is_stored_with_its_provenance(folder_source, media_in_tmp):
    data = jpeg(10)
    result = ingest(
        data,
        folder_source,
        filename="party.jpg",
        folder="web/images",
        source_url="http://photos.example.org/party.jpg",
        page_url="http://photos.example.org/party.html",
        source_record="happy people dancing in a park",
        license="CC BY 4.0",
        http_headers={"content-type": "image/jpeg"},
    )
    assert result.outcome == IngestOutcome.STORED and result.stored
    image = Image.objects.get()
    assert result.image == image
    assert (image.width, image.height, image.format, image.filename) == (320, 240, "JPEG", "party.jpg")
    assert (image.source_url, image.page_url, image.license) == (
        "http://photos.example.org/party.jpg",
        "http://photos.example.org/party.html",
        "CC BY 4.0",
    )
    assert image.source_record == "happy people dancing in a park"
    assert image.http_headers == {"content-type": "image/jpeg"}
    assert image.fetched_at is not None
    with default_storage.open(image.storage_key) as handle:
        assert handle.read() == data
    assert stored_files(media_in_tmp) == [image.storage_key]


def test_an_empty_filename_is_made_from_the_content_hash(folder_source):
    image = ingest(jpeg(11), folder_source).image
    assert image.filename == f"{image.sha256[:24]}.jpg"


def test_the_same_bytes_twice_are_stored_once(folder_source, media_in_tmp):
    first = ingest(jpeg(12), folder_source)
    second = ingest(jpeg(12), folder_source)
    assert second.outcome == IngestOutcome.EXACT_DUPLICATE and second.image == first.image
    assert Image.objects.count() == 1 and len(stored_files(media_in_tmp)) == 1


def test_exact_duplicates_are_found_across_sources_with_each_sources_boxes(folder_source):
    # The boxes come back for the annotator's intake, which merges them into people (tests/annotator/test_intake.py).
    coco = Source.objects.create(kind=Source.Kind.DATASET, name="coco", dataset="mscoco")
    first = ingest(jpeg(13), coco, people_boxes=[(10, 10, 100, 200)])
    second = ingest(jpeg(13), folder_source, people_boxes=[(10, 10, 100, 200), (150, 20, 300, 230)])
    assert second.outcome == IngestOutcome.EXACT_DUPLICATE and second.image == first.image
    assert first.people_boxes == ((10, 10, 100, 200),)
    assert second.people_boxes == ((10, 10, 100, 200), (150, 20, 300, 230))
    assert not Person.objects.exists()  # people are the annotator's: ingest makes none


def test_a_resized_reencoded_copy_is_a_near_duplicate(folder_source, media_in_tmp):
    original = ingest(jpeg(14, (640, 480), quality=92), folder_source)
    other_source = Source.objects.create(kind=Source.Kind.URL_LIST, name="list")
    copy = ingest(encode(photo(14, (400, 300)), "WEBP", quality=70), other_source)
    assert copy.outcome == IngestOutcome.NEAR_DUPLICATE
    assert copy.image == original.image and copy.distance <= 6
    assert Image.objects.count() == 1 and stored_files(media_in_tmp) == [original.image.storage_key]


def test_different_photos_are_not_near_duplicates(folder_source):
    results = [ingest(jpeg(seed), folder_source) for seed in range(20, 26)]
    assert all(r.outcome == IngestOutcome.STORED for r in results)


def test_the_near_duplicate_distance_is_a_setting(folder_source, settings):
    original, degraded = jpeg(15, (640, 480)), jpeg(15, (160, 120), quality=50)
    first = ingest(original, folder_source).image
    copy = prepare_image(degraded, max_pixels=10**8, min_side=1)
    distance = bin(int(first.phash, 16) ^ int(copy.phash, 16)).count("1")
    assert 0 < distance <= 6  # a near duplicate at the default distance
    settings.SCRAPER_NEAR_DUPLICATE_DISTANCE = distance - 1
    assert ingest(degraded, folder_source).outcome == IngestOutcome.STORED


def test_a_stale_hash_index_does_not_invent_duplicates(folder_source):
    first = ingest(jpeg(16), folder_source)
    Image.objects.filter(pk=first.image.pk).delete()  # the index still remembers it
    again = ingest(jpeg(16, (300, 225)), folder_source)
    assert again.outcome == IngestOutcome.STORED
    assert phash_index.nearest(again.image.phash, 0).image_id == again.image.pk


def batch_of(source: Source, *blobs: bytes) -> list[IngestRequest]:
    """Requests whose files the fetch threads have written, as the pipeline hands them over."""
    requests = [_request(blob, source) for blob in blobs]
    return [replace(request, blob_written=write_blob(request.prepared)) for request in requests]


def test_a_batch_is_not_fooled_by_a_stale_hash_index_either(folder_source):
    first = ingest(jpeg(17), folder_source)
    phash_index.refresh()  # the batch path looks once for the whole batch: make it remember the row
    Image.objects.filter(pk=first.image.pk).delete()
    [result] = commit_prepared_images(batch_of(folder_source, jpeg(17, (300, 225))))
    assert result.outcome == IngestOutcome.STORED


def test_a_batch_compares_with_every_stored_image_however_it_is_split_up(folder_source, monkeypatch):
    import catalog.dedup

    stored = [ingest(jpeg(seed), folder_source).image for seed in (20, 21, 22)]
    monkeypatch.setattr(catalog.dedup, "_COMPARISONS_AT_ONCE", 2)  # a row of the distance matrix at a time
    matches = phash_index.nearest_many([image.phash for image in stored] + ["0" * 16], 0)
    assert [match and match.image_id for match in matches] == [image.pk for image in stored] + [None]
    copies = commit_prepared_images(batch_of(folder_source, *(jpeg(seed, (300, 225)) for seed in (20, 21, 22))))
    assert [(r.outcome, r.image.pk) for r in copies] == [(IngestOutcome.NEAR_DUPLICATE, image.pk) for image in stored]


def test_rejected_content_says_why_and_stores_nothing(folder_source, media_in_tmp):
    result = ingest(b"<html><body>404</body></html>", folder_source)
    assert result.outcome == IngestOutcome.REJECTED
    assert result.reason == "not_an_image" and "HTML" in result.detail
    assert not Image.objects.exists() and stored_files(media_in_tmp) == []


def test_boxes_are_turned_with_the_image(folder_source):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    data = encode(photo(17, (300, 200)), "JPEG", exif=exif.tobytes())
    result = ingest(data, folder_source, people_boxes=[(20, 30, 90, 80)])
    image = result.image
    assert (image.width, image.height) == (200, 300)
    assert result.people_boxes == ((120, 20, 170, 90),)
    with default_storage.open(image.storage_key) as handle:
        assert PILImage.open(io.BytesIO(handle.read())).size == (200, 300)


def test_a_box_outside_the_image_is_rejected_with_its_index(folder_source, media_in_tmp):
    result = ingest(jpeg(18), folder_source, people_boxes=[(0, 0, 10, 10), (400, 300, 500, 400)])
    assert result.outcome == IngestOutcome.REJECTED and result.reason == "invalid_box"
    assert result.detail.startswith("people_boxes[1]:")
    assert not Image.objects.exists() and stored_files(media_in_tmp) == []


def test_provenance_the_row_cannot_hold_is_refused_before_writing(folder_source, media_in_tmp):
    result = ingest(jpeg(19), folder_source, filename="x" * 300)
    assert result.outcome == IngestOutcome.REJECTED and result.reason == "bad_record"
    assert result.detail.startswith("filename:")
    assert stored_files(media_in_tmp) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"folder": "ade20k/../../../etc"}, "folder"),  # ADE20K's ../
        ({"folder": "/srv/images"}, "folder"),
        ({"folder": "mscoco\\images"}, "folder"),
        ({"filename": "train2017\\000001.jpg"}, "filename"),  # COCO's backslash
        ({"filename": "../escape.jpg"}, "filename"),
        ({"filename": "a\x00b.jpg"}, "filename"),
        ({"filename": "a\nb.jpg"}, "filename"),
        ({"filename": "a\x1b[31mb.jpg"}, "filename"),
        ({"filename": ".."}, "filename"),
        ({"folder": "x" * 201}, "folder"),
        ({"original_database": "../web"}, "original_database"),
    ],
)
def test_names_that_cannot_be_placed_in_a_dataset_are_refused_naming_the_field(folder_source, media_in_tmp, fields, field):
    result = ingest(jpeg(20), folder_source, **{"filename": "ok.jpg", "folder": "web/images", **fields})
    assert result.outcome == IngestOutcome.REJECTED and result.reason == "bad_record"
    assert result.detail.startswith(f"{field}: ")
    assert not Image.objects.exists() and stored_files(media_in_tmp) == []


def test_a_name_with_one_meaning_is_normalised(folder_source, media_in_tmp):
    result = ingest(jpeg(21), folder_source, filename="party.jpg", folder="./web//images/")
    assert result.outcome == IngestOutcome.STORED
    assert (result.image.folder, result.image.filename) == ("web/images", "party.jpg")
    assert Image.objects.get().folder == "web/images"


def test_a_database_failure_leaves_neither_row_nor_file(folder_source, media_in_tmp):
    kept = ingest(jpeg(30), folder_source).image
    with connection.cursor() as cursor:  # make the database itself refuse the next image row
        cursor.execute(
            "CREATE FUNCTION refuse_images() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute("CREATE TRIGGER refuse_images BEFORE INSERT ON annotator_image FOR EACH ROW EXECUTE FUNCTION refuse_images()")
    with pytest.raises(Exception, match="disk full"):
        ingest(jpeg(31), folder_source)
    assert list(Image.objects.values_list("pk", flat=True)) == [kept.pk]
    assert stored_files(media_in_tmp) == [kept.storage_key]


def _request(data: bytes, source: Source, **fields) -> IngestRequest:
    prepared = prepare_image(data, max_pixels=10**8, min_side=64)
    return IngestRequest(prepared, Provenance(source=source, original_database="web", **fields))


def test_a_batch_stores_the_first_of_twins_and_finds_near_duplicates_within_it(folder_source, media_in_tmp):
    batch = [
        _request(jpeg(40), folder_source),
        _request(jpeg(40), folder_source),  # the same bytes again
        _request(jpeg(40, (200, 150), quality=60), folder_source),  # a resized copy
        _request(jpeg(41), folder_source),
    ]
    for request in batch:  # as the pipeline's fetch threads do
        write_blob(request.prepared)
    results = commit_prepared_images([replace(r, blob_written=True) for r in batch])
    assert [r.outcome for r in results] == ["stored", "exact_duplicate", "near_duplicate", "stored"]
    assert results[1].image == results[2].image == results[0].image
    assert Image.objects.count() == 2
    assert sorted(stored_files(media_in_tmp)) == sorted(i.storage_key for i in Image.objects.all())  # the copy's file is gone


@pytest.mark.django_db(transaction=True)
def test_two_threads_committing_inside_their_own_transactions_never_wait_for_each_other(folder_source):
    """The crawl pipeline commits a batch and hands it over in one transaction, so the ingest lock is
    held until that commits; a second commit in that transaction (a near duplicate's clean-up, the next
    batch) must not wait for a lock another thread took meanwhile."""
    import threading
    import time

    from django.db import transaction

    first_committed, errors = threading.Event(), []

    def holder():
        try:
            with transaction.atomic():
                commit_prepared_images([_request(jpeg(60), folder_source)])
                first_committed.set()
                time.sleep(0.5)  # the other thread is now waiting for the ingest lock
                commit_prepared_images([_request(jpeg(61), folder_source)])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def waiter():
        try:
            first_committed.wait(10)
            commit_prepared_images([_request(jpeg(62), folder_source)])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=holder, daemon=True), threading.Thread(target=waiter, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads), "the two commits wait for each other for ever"
    assert errors == [] and Image.objects.count() == 3


def test_a_file_written_for_an_image_refused_at_commit_is_removed(folder_source, media_in_tmp):
    request = _request(jpeg(63), folder_source, filename="x" * 300)  # a row the database cannot hold
    assert write_blob(request.prepared)  # as the fetch threads do before the commit
    (result,) = commit_prepared_images([replace(request, blob_written=True)])
    assert result.outcome == IngestOutcome.REJECTED and result.reason == "bad_record"
    assert stored_files(media_in_tmp) == []
