"""Imports read only under the import roots, and nothing echoes a file's text that is not a record.

Each test has two folders: ``roots/`` (SCRAPER_IMPORT_ROOTS) and ``outside/``,
which holds what an admin must never get to read (a .env, a password file).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog.models import Image, Source
from scraper.admin import CrawlJobForm
from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import create_crawl_job, run_crawl_job
from scraper.sources import SourceError, build_source
from tests.catalog.images import jpeg
from tests.scraper.datasets import coco_person, write_ade20k, write_coco

pytestmark = pytest.mark.django_db
SECRET = "hunter2-do-not-show"


@pytest.fixture
def places(tmp_path, settings):
    roots, outside = tmp_path / "roots", tmp_path / "outside"
    roots.mkdir()
    outside.mkdir()
    (outside / ".env").write_text(f"SECRET_KEY={SECRET}\nDATABASE_URL=postgres://u:{SECRET}@db/x\n")
    (outside / "passwd.csv").write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")
    (outside / "photo.jpg").write_bytes(jpeg(401))
    settings.SCRAPER_IMPORT_ROOTS = [str(roots)]
    return roots, outside


def nothing_written():
    return not CrawlJob.objects.exists() and not Source.objects.exists() and not CrawlItem.objects.exists()


@pytest.mark.parametrize(
    ("kind", "name"),
    [("urls", ".env"), ("urls", "passwd.csv"), ("coco", ".env"), ("ade20k", ".env"), ("emotic", ".env"), ("folder", "")],
)
def test_a_path_outside_the_roots_is_refused_naming_the_field_and_the_roots(places, kind, name):
    roots, outside = places
    path = str(outside / name) if name else str(outside)
    with pytest.raises(SourceError) as raised:
        create_crawl_job(kind, {"path": path})
    assert raised.value.field == "path"
    assert "is outside the import roots" in raised.value.reason and str(roots) in raised.value.reason
    assert SECRET not in str(raised.value)
    assert nothing_written()


def test_symlinks_and_dot_dots_are_resolved_before_the_check(places):
    roots, outside = places
    (roots / "list.txt").symlink_to(outside / ".env")
    (roots / "linked").symlink_to(outside, target_is_directory=True)
    for path in (roots / "list.txt", roots / "linked" / ".env", roots / ".." / "outside" / ".env", roots / "linked"):
        kind = "folder" if path.name == "linked" else "urls"
        with pytest.raises(SourceError, match="path: .* is outside the import roots"):
            create_crawl_job(kind, {"path": str(path)})
    assert nothing_written()


def test_a_path_outside_is_refused_before_its_existence_is_looked_at(places):
    """The same answer whether or not the file exists: no probing the rest of the disk."""
    _, outside = places
    messages = []
    for name in (".env", "no-such-file"):
        with pytest.raises(SourceError) as raised:
            build_source("urls", {"path": str(outside / name)})
        messages.append(raised.value.reason.replace(name, "NAME"))
    assert messages[0] == messages[1]


def test_other_path_parameters_are_checked_too(places):
    roots, outside = places
    coco = write_coco(roots / "coco", [{"id": 1, "seed": 402}], [coco_person(1, 1, [1, 1, 50, 50])])
    with pytest.raises(SourceError) as raised:
        create_crawl_job("coco", {"path": str(coco), "images_dir": str(outside)})
    assert raised.value.field == "images_dir" and "outside the import roots" in raised.value.reason
    (roots / "Annotations.mat").write_bytes(b"")
    with pytest.raises(SourceError) as raised:
        create_crawl_job("emotic", {"path": str(roots / "Annotations.mat"), "images_root": str(outside)})
    assert raised.value.field == "images_root"
    assert nothing_written()


def test_the_admin_form_refuses_a_path_outside_on_its_field_and_shows_nothing_of_the_file(places, admin_client):
    roots, outside = places
    form = CrawlJobForm(data={"kind": "urls", "path": str(outside / ".env")})
    assert not form.is_valid()
    (error,) = form.errors["path"]
    assert "is outside the import roots" in error and str(roots) in error
    response = admin_client.post(reverse("admin:scraper_crawljob_add"), {"kind": "urls", "path": str(outside / ".env")})
    assert response.status_code == 200 and "outside the import roots" in response.content.decode()
    assert SECRET not in response.content.decode()
    assert nothing_written()


def test_the_commands_refuse_a_path_outside_naming_the_flag(places):
    roots, outside = places
    with pytest.raises(CommandError, match=r"PATH: '.*/outside/\.env' is outside the import roots"):
        call_command("import_dataset", "--format", "urls", str(outside / ".env"), stdout=io.StringIO(), stderr=io.StringIO())
    coco = write_coco(roots / "coco", [{"id": 1, "seed": 407}], [coco_person(1, 1, [1, 1, 50, 50])])
    with pytest.raises(CommandError, match="--images-dir: .* is outside the import roots"):
        call_command(
            "import_dataset", "--format", "coco", str(coco), "--images-dir", str(outside),
            stdout=io.StringIO(), stderr=io.StringIO(),
        )
    assert nothing_written()


def test_a_job_whose_path_left_the_roots_is_not_resumed(places, settings):
    """A job created before the roots changed: crawl_job resume (and the admin's action) refuse it, unchanged."""
    roots, outside = places
    (roots / "photos").mkdir()
    (roots / "photos" / "a.jpg").write_bytes(jpeg(403))
    job = create_crawl_job("folder", {"path": str(roots / "photos")})
    settings.SCRAPER_IMPORT_ROOTS = [str(outside)]
    with pytest.raises(CommandError, match=rf"job #{job.pk}: path: .* is outside the import roots"):
        call_command("crawl_job", "resume", str(job.pk), stdout=io.StringIO(), stderr=io.StringIO())
    job.refresh_from_db()
    assert (job.state, job.found) == ("pending", 0) and not Image.objects.exists()


def test_items_found_before_the_roots_changed_are_not_read(places, settings):
    roots, outside = places
    (roots / "photos").mkdir()
    (roots / "photos" / "a.jpg").write_bytes(jpeg(404))
    job = create_crawl_job("folder", {"path": str(roots / "photos")})
    from scraper.services.jobs import advance_crawl_job

    advance_crawl_job(job.pk)  # discovery: the item is found
    settings.SCRAPER_IMPORT_ROOTS = [str(outside)]
    job = run_crawl_job(job)
    item = job.items.get()
    assert (item.state, item.reason) == ("rejected", "bad_record") and "outside the import roots" in item.detail
    assert not Image.objects.exists()


def test_a_link_in_a_folder_to_a_file_outside_is_a_bad_record_never_read(places):
    roots, outside = places
    (roots / "photos").mkdir()
    (roots / "photos" / "inside.jpg").write_bytes(jpeg(405))
    (roots / "photos" / "escape.jpg").symlink_to(outside / "photo.jpg")
    job = run_crawl_job(create_crawl_job("folder", {"path": str(roots / "photos")}))
    assert (job.stored, job.rejected_by_reason) == (1, {"bad_record": 1})
    assert job.items.get(reason="bad_record").detail == "escape.jpg: links outside the import roots"
    assert list(Image.objects.values_list("filename", flat=True)) == ["inside.jpg"]


def test_an_ade20k_annotation_linked_outside_is_a_bad_record(places):
    roots, outside = places
    index = write_ade20k(roots, [{"name": "ADE_train_1", "seed": 406, "objects": [
        ("person, individual, someone, somebody, mortal, soul", [10, 50], [10, 90], 0)]}])
    annotation = next(roots.rglob("ADE_train_1.json"))
    annotation.unlink()
    annotation.symlink_to(outside / ".env")
    (item,) = [i for batch in build_source("ade20k", {"path": str(index)}).discover({}) for i in batch.items]
    assert item.rejection == ("bad_record", "ADE_train_1.json: links outside the import roots")


def test_a_file_that_is_not_a_url_list_shows_nothing_but_line_numbers(places, admin_client):
    """A .env under the roots imported as a URL list: every bad line is its number and the reason, no text anywhere."""
    roots, outside = places
    (roots / "settings.txt").write_text((outside / ".env").read_text() + "https://example.org/a.jpg\n")
    job = create_crawl_job("urls", {"path": str(roots / "settings.txt")})
    from scraper.services.jobs import advance_crawl_job

    advance_crawl_job(job.pk)  # discovery only: nothing is fetched
    bad = list(job.items.filter(state="rejected").order_by("position"))
    assert [(i.key, i.reason, i.detail) for i in bad] == [
        ("line 1", "bad_record", "line 1: url: not an http(s) URL"),
        ("line 2", "bad_record", "line 2: url: not an http(s) URL"),
    ]
    stored = " ".join(str(v) for row in CrawlItem.objects.values() for v in row.values())
    job.refresh_from_db()
    assert SECRET not in stored and SECRET not in job.error and SECRET not in str(job.page_errors)
    page = admin_client.get(reverse("admin:scraper_crawlitem_changelist") + f"?job__id__exact={job.pk}").content.decode()
    assert "line 1: url: not an http(s) URL" in page and SECRET not in page
    for item in bad:
        detail = admin_client.get(reverse("admin:scraper_crawlitem_change", args=[item.pk])).content.decode()
        assert SECRET not in detail


def test_a_csv_without_a_url_column_does_not_echo_its_header(places):
    roots, _ = places
    (roots / "users.csv").write_text(f"name,{SECRET}\nx,y\n")
    job = run_crawl_job(create_crawl_job("urls", {"path": str(roots / "users.csv")}))
    assert job.state == "failed" and "no 'url' column" in job.error and SECRET not in job.error


def test_the_default_root_is_var_imports(settings):
    from config.settings import base

    assert base.SCRAPER_IMPORT_ROOTS == [str((base.VAR_DIR / "imports").resolve())]
    assert os.path.isdir(base.SCRAPER_IMPORT_ROOTS[0])
    assert Path(base.SCRAPER_IMPORT_ROOTS[0]).parent == base.VAR_DIR.resolve()
