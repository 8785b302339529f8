"""Imports from the admin: an uploaded file or zip, or a storage prefix, run by the workers (eager Celery here);
the list's live progress and its cancel and resume buttons; and every bad upload refused with its reason,
leaving nothing behind (no job, no unpacked folder, no stored file)."""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotator.models import Person
from catalog.models import Image
from emotic.records import AnnotatorAnswer
from scraper.models import CrawlJob
from scraper.services.jobs import advance_crawl_job, create_crawl_job
from tests.catalog.images import jpeg
from tests.factories import PASSWORD, UserFactory
from tests.scraper.datasets import coco_person, write_coco
from tests.scraper.local_server import Route
from tests.scraper.test_emotic_import import person, train_image, write_emotic

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:scraper_crawljob_import"


@pytest.fixture
def staging(settings, tmp_path) -> Path:
    settings.SCRAPER_UPLOAD_STAGING_DIR = str(tmp_path / "staging")
    return tmp_path / "staging"


@pytest.fixture(autouse=True)
def upload_temp_dir(settings, tmp_path) -> Path:
    """Where Django's upload handler writes its temporary files, to see that none is left."""
    folder = tmp_path / "upload-temp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


@pytest.fixture
def runs(eager_celery, django_capture_on_commit_callbacks):
    """Queued jobs run at once, in this process, when the request's transaction commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def zip_bytes(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(client, name: str, content: bytes, kind: str, **fields):
    data = {"kind": kind, "origin": "upload", "licenses": "any", **fields, "file": SimpleUploadedFile(name, content)}
    return client.post(reverse(IMPORT_URL), data)


def nothing_written(staging: Path) -> None:
    assert not list((staging.parent / "upload-temp").iterdir())  # the temporary upload is gone
    assert not CrawlJob.objects.exists()
    assert not Image.objects.exists()
    assert not staging.exists() or not list(staging.iterdir())
    assert not default_storage.exists("imports/uploads") or default_storage.listdir("imports/uploads") == ([], [])


def test_a_zip_of_photos_is_uploaded_stored_and_imported_by_the_workers(admin_client, staging, media_in_tmp, runs):
    archive = zip_bytes({f"shoot/{i}.jpg": jpeg(400 + i) for i in range(3)} | {"shoot/notes.txt": b"not a photo"})
    with runs():
        response = upload(admin_client, "shoot.zip", archive, "folder", original_database="field", folder="field/images")
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert (job.kind, job.state, job.stored, job.created_by) == ("folder", "done", 3, "admin")
    assert set(Image.objects.values_list("original_database", flat=True)) == {"field"}
    stored = job.params["upload"]["storage_name"]
    assert stored.startswith("imports/uploads/") and stored.endswith("/shoot.zip")
    with default_storage.open(stored, "rb") as kept:
        assert kept.read() == archive  # the original, as uploaded
    assert Path(job.params["path"]).parent == staging
    page = admin_client.get(reverse("admin:scraper_crawljob_changelist")).content.decode()
    assert "upload shoot.zip" in page


def test_a_coco_zip_with_its_images_is_imported_with_its_people(admin_client, staging, media_in_tmp, runs, tmp_path):
    root = tmp_path / "coco"
    write_coco(root, [{"id": 1, "seed": 410}, {"id": 2, "seed": 411}],
               [coco_person(1, 1, [10, 20, 100, 200]), coco_person(2, 2, [50, 60, 100, 150])])
    members = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with runs():
        response = upload(admin_client, "coco.zip", zip_bytes(members), "coco")
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert (job.state, job.stored) == ("done", 2)
    assert job.params["path"].endswith("/annotations/instances_val2017.json")  # found by itself: the only .json
    assert Person.objects.count() == 2


def test_a_bare_url_list_is_uploaded_and_its_images_fetched(admin_client, staging, media_in_tmp, runs, web):
    for i in range(2):
        web.routes[f"/img/{i}.jpg"] = Route(jpeg(420 + i), headers={"Content-Type": "image/jpeg"})
    listing = "\n".join(web.url(f"/img/{i}.jpg") for i in range(2)).encode() + b"\n"
    with runs():
        response = upload(admin_client, "urls.txt", listing, "urls")
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert (job.state, job.stored) == ("done", 2)


def test_a_storage_prefix_is_copied_over_by_the_worker_and_imported(admin_client, staging, media_in_tmp, runs):
    for i in range(3):
        default_storage.save(f"imports/shoot-7/day{i % 2}/{i}.jpg", ContentFile(jpeg(430 + i)))
    with runs():
        response = admin_client.post(reverse(IMPORT_URL), {"kind": "folder", "origin": "prefix", "prefix": "imports/shoot-7/", "licenses": "any"})
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert (job.state, job.stored) == ("done", 3)
    assert job.params["storage_prefix"] == {"prefix": "imports/shoot-7", "staging": Path(job.params["path"]).name, "files": 3}
    assert sorted(p.relative_to(job.params["path"]).as_posix() for p in Path(job.params["path"]).rglob("*.jpg")) == [
        "day0/0.jpg", "day0/2.jpg", "day1/1.jpg"
    ]


def test_a_storage_prefix_that_holds_nothing_or_escapes_is_refused(admin_client, staging, media_in_tmp):
    for prefix, reason in (("imports/none", "nothing is stored under imports/none/"), ("../etc", "is not a storage prefix")):
        response = admin_client.post(reverse(IMPORT_URL), {"kind": "folder", "origin": "prefix", "prefix": prefix, "licenses": "any"})
        assert response.status_code == 200
        assert reason in response.content.decode()
    nothing_written(staging)


def test_an_emotic_upload_needs_a_mat_file(admin_client, staging, media_in_tmp):
    response = upload(admin_client, "Annotations.mat", b'{"images": []}', "emotic")
    assert response.status_code == 200
    assert "Annotations.mat is not a MATLAB .mat file (EMOTIC Annotations.mat): it lacks the MATLAB header" in response.content.decode()
    response = upload(admin_client, "instances.json", jpeg(1), "coco")
    assert "instances.json is not a COCO instances JSON file: a COCO file is a JSON object, starting with" in response.content.decode()
    response = upload(admin_client, "list.txt", b"http://a.example/\x00\x01", "urls")
    assert "list.txt is not a UTF-8 text list of URLs (.txt) or a CSV with a url column: it holds NUL bytes" in response.content.decode()
    response = upload(admin_client, "photos.zip", b"plain text, not an archive", "folder")
    assert "photos.zip is named .zip but is not a zip archive" in response.content.decode()
    response = upload(admin_client, "photo.jpg", jpeg(2), "folder")
    assert "a folder import is uploaded as a .zip archive, not as a single file" in response.content.decode()
    nothing_written(staging)


def test_a_file_larger_than_the_limit_is_refused_and_not_kept(admin_client, staging, media_in_tmp, settings):
    settings.SCRAPER_UPLOAD_MAX_BYTES = 4096
    response = upload(admin_client, "big.zip", zip_bytes({"a.jpg": jpeg(3, (640, 480))}, compression=zipfile.ZIP_STORED), "folder")
    assert response.status_code == 200
    assert "big.zip is larger than SCRAPER_UPLOAD_MAX_BYTES (4,096 bytes); nothing was imported" in response.content.decode()
    nothing_written(staging)


def test_a_body_beyond_the_upload_limit_is_refused_before_it_is_read_and_other_pages_keep_theirs(admin_client, settings):
    settings.SCRAPER_UPLOAD_MAX_BYTES = 1024 * 1024
    settings.REQUEST_MAX_BODY_BYTES = 256 * 1024
    too_big = {"CONTENT_LENGTH": str(2 * 1024 * 1024), "CONTENT_TYPE": "multipart/form-data; boundary=x"}
    response = admin_client.generic("POST", reverse(IMPORT_URL), b"", **too_big)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("body: 2097152 bytes is more than the 1114112 allowed")
    # A 300 KiB body is fine on the import page, and refused anywhere else.
    fine = {"CONTENT_LENGTH": str(300 * 1024), "CONTENT_TYPE": "multipart/form-data; boundary=x"}
    assert admin_client.generic("POST", reverse("admin:scraper_crawljob_add"), b"", **fine).status_code == 413


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../escape.jpg", "member '../escape.jpg' has a path escaping the archive's folder"),
        ("photos/../../escape.jpg", "member 'photos/../../escape.jpg' has a path escaping the archive's folder"),
        ("/etc/cron.d/evil", "member '/etc/cron.d/evil' has a path escaping the archive's folder"),
        ("C:/Windows/evil.jpg", "member 'C:/Windows/evil.jpg' has a path escaping the archive's folder"),
        ("photos\\..\\..\\evil.jpg", "has a path escaping the archive's folder"),
    ],
)
def test_an_archive_with_a_path_escaping_its_folder_is_refused(admin_client, staging, media_in_tmp, member, reason):
    archive = zip_bytes({"photos/ok.jpg": jpeg(5), member: jpeg(6)})
    response = upload(admin_client, "evil.zip", archive, "folder")
    assert response.status_code == 200
    assert reason.replace("'", "&#x27;") in response.content.decode()
    nothing_written(staging)
    assert not (staging.parent / "escape.jpg").exists()


def test_an_archive_holding_a_symbolic_link_is_refused(admin_client, staging, media_in_tmp):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/ok.jpg", jpeg(7))
        link = zipfile.ZipInfo("photos/secrets.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    response = upload(admin_client, "links.zip", buffer.getvalue(), "folder")
    assert "member &#x27;photos/secrets.jpg&#x27; is a symbolic link; nothing was imported" in response.content.decode()
    nothing_written(staging)


def test_a_zip_bomb_is_refused_by_its_ratio_and_by_its_total_size(admin_client, staging, media_in_tmp, settings):
    bomb = zip_bytes({"photos/zeros.jpg": bytes(8 * 1024 * 1024)})  # 8 MiB of zeros deflate to about 8 KiB
    response = upload(admin_client, "bomb.zip", bomb, "folder")
    page = response.content.decode()
    assert "member &#x27;photos/zeros.jpg&#x27; inflates" in page and "more than SCRAPER_UPLOAD_MAX_RATIO (100)" in page
    settings.SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES = 100_000
    many = zip_bytes({f"photos/{i}.jpg": jpeg(20 + i, (640, 480)) for i in range(8)}, compression=zipfile.ZIP_STORED)
    response = upload(admin_client, "many.zip", many, "folder")
    assert "unpacks to more than SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES (100,000 bytes)" in response.content.decode()
    settings.SCRAPER_UPLOAD_MAX_MEMBERS = 3
    response = upload(admin_client, "count.zip", zip_bytes({f"{i}.jpg": b"x" for i in range(4)}), "folder")
    assert "holds 4 members, more than SCRAPER_UPLOAD_MAX_MEMBERS (3)" in response.content.decode()
    nothing_written(staging)


def test_an_archive_whose_dataset_file_is_ambiguous_or_invalid_is_refused(admin_client, staging, media_in_tmp):
    two = zip_bytes({"a/instances_a.json": b"{}", "b/instances_b.json": b"{}"})
    response = upload(admin_client, "two.zip", two, "coco")
    assert "holds 2 candidates for a .json file (a/instances_a.json, b/instances_b.json); name the one to import" in response.content.decode()
    response = upload(admin_client, "two.zip", two, "coco", member="c/none.json")
    assert "&#x27;c/none.json&#x27; is not among the files (2 of them)" in response.content.decode()
    nothing_written(staging)


def test_the_import_page_needs_the_add_permission_and_a_csrf_token(staging, media_in_tmp):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_crawljob"))
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    strict = Client(enforce_csrf_checks=True)
    strict.login(username=admin.username, password=PASSWORD)
    response = upload(strict, "shoot.zip", zip_bytes({"a.jpg": jpeg(8)}), "folder")
    assert response.status_code == 403
    nothing_written(staging)


def test_the_list_reports_live_progress_and_cancels_and_resumes_a_job(admin_client, tmp_path, runs, settings):
    settings.SCRAPER_CHUNK_SIZE = 2
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(440 + i))
    job = create_crawl_job("folder", {"path": str(tmp_path)})
    advance_crawl_job(job.pk)  # discovery
    advance_crawl_job(job.pk)  # 2 of 3 stored
    progress = admin_client.get(reverse("admin:scraper_crawljob_progress"), {"ids": f"{job.pk},x"}).json()
    assert progress == {"jobs": [{
        "id": job.pk, "state": "running", "state_label": "Running", "live": True, "percent": 67, "finding": False, "found": 3,
        "stored": 2, "duplicates": 0, "rejected": 0, "refused_for_licence": 0, "error": "",
    }]}  # fmt: skip
    page = admin_client.get(reverse("admin:scraper_crawljob_changelist")).content.decode()
    assert 'data-job-control="cancel">Cancel</button>' in page and 'src="/static/scraper/crawl_jobs.js"' in page

    response = admin_client.post(reverse("admin:scraper_crawljob_cancel", args=[job.pk]), {"job": job.pk})
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.state, job.stored) == ("cancelled", 2)
    assert 'data-job-control="resume">Resume</button>' in admin_client.get(reverse("admin:scraper_crawljob_changelist")).content.decode()

    with runs():
        admin_client.post(reverse("admin:scraper_crawljob_resume", args=[job.pk]), {"job": job.pk})
    job.refresh_from_db()
    assert (job.state, job.stored) == ("done", 3)
    assert admin_client.get(reverse("admin:scraper_crawljob_cancel", args=[job.pk])).status_code == 405


def test_an_uploaded_import_whose_folder_has_gone_is_unpacked_again_on_resume(admin_client, staging, media_in_tmp, runs):
    upload(admin_client, "shoot.zip", zip_bytes({f"{i}.jpg": jpeg(450 + i) for i in range(2)}), "folder")  # queued, not run
    job = CrawlJob.objects.get()
    advance_crawl_job(job.pk)  # discovery: two items pending
    admin_client.post(reverse("admin:scraper_crawljob_cancel", args=[job.pk]), {"job": job.pk})
    shutil.rmtree(job.params["path"])  # another machine, or a cleaned disk
    with runs():
        admin_client.post(reverse("admin:scraper_crawljob_resume", args=[job.pk]), {"job": job.pk})
    job.refresh_from_db()
    assert (job.state, job.stored) == ("done", 2)
    assert sorted(p.name for p in Path(job.params["path"]).iterdir()) == ["0.jpg", "1.jpg"]


def test_an_emotic_zip_in_the_release_layout_is_imported_with_its_answers(admin_client, staging, media_in_tmp, runs, tmp_path):
    root = tmp_path / "emotic-release"
    answer = AnnotatorAnswer(("Engagement", "Happiness"), 7, 6, 5, "Female", "Adult")
    write_emotic(root, [(train_image("COCO_7.jpg", [person((10, 20, 200, 400), [answer])]), 460)])
    members = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with runs():
        response = upload(admin_client, "emotic.zip", zip_bytes(members), "emotic")
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert (job.state, job.stored, job.rejected) == ("done", 1, 0)
    assert job.params["path"].endswith("/Annotations/Annotations.mat")
    (annotated,) = Person.objects.filter(image__filename="COCO_7.jpg")
    assert annotated.annotations.get().categories == ["Engagement", "Happiness"]


def test_a_bare_annotations_mat_passes_the_format_check(admin_client, staging, media_in_tmp, tmp_path):
    path = write_emotic(tmp_path / "release", [(train_image("COCO_8.jpg", [person((10, 20, 200, 400), [AnnotatorAnswer(("Peace",), 6, 3, 6)])]), -1)])
    response = upload(admin_client, "Annotations.mat", path.read_bytes(), "emotic")
    assert response.status_code == 302, response.content.decode()[:3000]
    job = CrawlJob.objects.get()
    assert job.params["upload"]["name"] == "Annotations.mat" and Path(job.params["path"]).read_bytes() == path.read_bytes()


def test_progress_needs_the_view_permission_and_the_buttons_the_change_permission(tmp_path, runs):
    (tmp_path / "0.jpg").write_bytes(jpeg(470))
    job = create_crawl_job("folder", {"path": str(tmp_path)})
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_crawljob"))
    client = Client()
    client.force_login(viewer)
    assert client.get(reverse("admin:scraper_crawljob_progress"), {"ids": job.pk}).json()["jobs"][0]["state"] == "pending"
    assert client.post(reverse("admin:scraper_crawljob_cancel", args=[job.pk])).status_code == 403
    assert client.post(reverse("admin:scraper_crawljob_resume", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == "pending"
    nobody = Client()
    nobody.force_login(UserFactory(username="staff-without-scraper", is_staff=True))
    assert nobody.get(reverse("admin:scraper_crawljob_progress"), {"ids": job.pk}).status_code == 403
    assert Client().get(reverse("admin:scraper_crawljob_progress"), {"ids": job.pk}).status_code == 302  # to log in


def test_a_zip_bomb_whose_header_understates_its_size_is_refused_while_unpacking(admin_client, staging, media_in_tmp):
    archive = bytearray(zip_bytes({"photos/ok.jpg": jpeg(9), "photos/zeros.jpg": bytes(8 * 1024 * 1024)}))
    central = archive.rfind(b"PK\x01\x02")  # the second member's central directory record
    archive[central + 24:central + 28] = (4000).to_bytes(4, "little")  # says 4,000 bytes uncompressed: passes every check
    response = upload(admin_client, "liar.zip", bytes(archive), "folder")
    assert "liar.zip: cannot be unpacked (Bad CRC-32 for file &#x27;photos/zeros.jpg&#x27;); nothing was imported" in response.content.decode()
    nothing_written(staging)
