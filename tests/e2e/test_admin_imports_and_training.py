"""A research admin in a real headless Chromium: imports a zip of photos from the admin and watches the
job list follow it live (cancel, resume), sees a bad archive refused, then starts a training run from the
typed form and reads a finished run's page (flagged metrics, plots, downloads) and a failed one's.

No Celery worker runs here: the test process advances the import job itself (as a worker would), so
the page is seen changing without being reloaded. ``ADMIN_SCREENSHOTS=docs/img`` saves the screenshots
in docs/img/ (admin-*.png).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
import torch
from django.utils import timezone
from playwright.sync_api import Page, expect

from emotic_export.models import DatasetSnapshot
from scraper.admin import CrawlJobAdmin
from scraper.models import CrawlJob
from scraper.services.jobs import advance_crawl_job
from tests.catalog.images import jpeg
from tests.factories import PASSWORD, UserFactory
from tests.training.conftest import write_snapshot
from training.core.model import resnet18_trunk
from training.models import TrainingRun
from training.services import run_training, start_training_run

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = os.environ.get("ADMIN_SCREENSHOTS", "")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch, settings, tmp_path, media_in_tmp):
    monkeypatch.setattr(CrawlJobAdmin, "progress_poll_ms", 300)
    settings.SCRAPER_UPLOAD_STAGING_DIR = str(tmp_path / "staging")
    settings.SCRAPER_CHUNK_SIZE = 2
    settings.SCRAPER_MIN_IMAGE_SIDE = 64
    settings.TRAINING_WEIGHTS_DIR = tmp_path / "weights"
    settings.TRAINING_WORK_DIR = tmp_path / "training-work"
    settings.TRAINING_BODY_WEIGHTS = settings.TRAINING_CONTEXT_WEIGHTS = ""


def log_in(page: Page, live_server) -> None:
    admin = UserFactory(username="research-admin", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_admin_imports_a_zip_and_the_list_follows_it_live_with_cancel_and_resume(page: Page, live_server):
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/scraper/crawljob/")
    page.get_by_role("link", name="Import a dataset").click()
    expect(page.get_by_role("heading", name="Import a dataset")).to_be_visible()

    # A bad archive first: refused with the reason, nothing queued.
    page.get_by_label("Format").select_option("folder")
    page.locator("#id_file").set_input_files(
        {"name": "holiday.zip", "mimeType": "application/zip", "buffer": zip_of({"ok.jpg": jpeg(1), "../../escape.jpg": jpeg(2)})}
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#form-errors")).to_contain_text("File: holiday.zip: member '../../escape.jpg' has a path escaping the archive's folder")
    shot(page, "admin-import-refused")
    assert not CrawlJob.objects.exists()

    # Now a good one: queued for the workers, shown in the list.
    page.get_by_label("Format").select_option("folder")
    page.locator("#id_original_database").fill("fieldwork")
    page.locator("#id_file").set_input_files(
        {"name": "holiday.zip", "mimeType": "application/zip", "buffer": zip_of({f"day1/{i}.jpg": jpeg(500 + i) for i in range(5)})}
    )
    shot(page, "admin-import-form")
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".messagelist")).to_contain_text("queued")
    job = CrawlJob.objects.get()
    row = page.locator("#result_list tbody tr").first
    expect(row).to_contain_text("upload holiday.zip")
    expect(row).to_contain_text("Pending")
    page.evaluate("window.stillTheSamePage = true")

    # A worker finds the five photos and stores two: the row follows without a reload.
    advance_crawl_job(job.pk)
    advance_crawl_job(job.pk)
    expect(row.locator('[data-field="state_label"]')).to_have_text("Running")
    expect(row.locator('[data-field="stored"]')).to_have_text("2")
    expect(row.locator('[data-field="percent"]')).to_have_text("40%")
    assert page.evaluate("window.stillTheSamePage") is True
    shot(page, "admin-crawl-jobs-live")

    # Cancel from the list; then resume, and a worker finishes it: the page reloads itself once it is done.
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Job {job.pk}: cancelled")
    row = page.locator("#result_list tbody tr").first
    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Job {job.pk} queued again")
    page.evaluate("window.stillTheSamePage = true")
    while advance_crawl_job(job.pk) is not None:
        pass
    expect(page.locator("#result_list tbody tr").first.locator('[data-field="state_label"]')).to_have_text("Done")
    expect(page.locator("#result_list tbody tr").first.locator('[data-field="stored"]')).to_have_text("5")
    expect(page.locator("#result_list tbody tr").first.get_by_role("button", name="Resume")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is None  # reloaded once the job ended
    shot(page, "admin-crawl-jobs-done")


def snapshot(media: Path) -> DatasetSnapshot:
    write_snapshot(media / "snapshots" / "tiny" / "arrays", {"train": 4, "val": 4, "test": 6})
    return DatasetSnapshot.objects.create(name="tiny", state="complete", storage_key="snapshots/tiny",
                                          completed_at=timezone.now(), formats=["npy"])


def test_an_admin_starts_a_run_from_the_typed_form_and_reads_its_page(page: Page, live_server, media_in_tmp, settings, tmp_path):
    ready = snapshot(media_in_tmp)
    log_in(page, live_server)

    # No weights anywhere: the form says so at the top.
    page.goto(f"{live_server.url}/admin/training/trainingrun/add/")
    expect(page.locator("#weights-warning")).to_contain_text("No pretrained weights are set")
    shot(page, "admin-training-no-weights")

    # Weight files appear as choices; a bad value is named at the top, above the fields.
    weights = Path(settings.TRAINING_WEIGHTS_DIR)
    weights.mkdir(parents=True)
    state = resnet18_trunk().state_dict()
    torch.save(state, weights / "resnet18-imagenet.pth")
    page.reload()
    expect(page.locator("#weights-warning")).to_have_count(0)
    page.get_by_label("Snapshot").select_option(str(ready.pk))
    page.get_by_label("Mode").select_option("body")
    page.get_by_label("Body stream weights").select_option("resnet18-imagenet.pth")
    page.get_by_label("Epochs").fill("0")
    page.get_by_label("Batch size").fill("2")
    page.get_by_label("Data-loading processes").fill("0")
    page.get_by_label("Device").select_option("cpu")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#form-errors")).to_contain_text("Epochs: Ensure this value is greater than or equal to 1.")
    shot(page, "admin-training-form-errors")
    page.get_by_label("Epochs").fill("1")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    run = TrainingRun.objects.get()
    assert run.hyperparameters["body_weights"] == "resnet18-imagenet.pth" and run.hyperparameters["epochs"] == 1

    # The worker trains it (inline here); its page flags the six-sample metrics, shows the plots, offers the files.
    run = run_training(run.pk)
    assert run.state == "succeeded", run.error
    page.goto(f"{live_server.url}/admin/training/trainingrun/{run.pk}/change/")
    expect(page.get_by_text("Too few samples:")).to_be_visible()
    expect(page.locator("#category-ap tr.weak")).to_have_count(26)
    for plot in ("loss_curves.png", "average_precision.png", "precision_recall.png"):
        image = page.locator(f'img[alt="{plot}"]')
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") > 0
    with page.expect_download() as download:
        page.get_by_role("link", name="checkpoint (best.pt)").click()
    assert download.value.suggested_filename == f"run-{run.pk}-best.pt"
    shot(page, "admin-training-run")

    # A run whose weights do not fit fails, and says why at the top of its page.
    torch.save({"conv1.weight": torch.zeros(3, 3, 3, 3)}, weights / "wrong.pth")
    failed = start_training_run(snapshot=ready, mode="body", hyperparameters={
        "epochs": 1, "batch_size": 2, "num_workers": 0, "device": "cpu", "body_weights": "wrong.pth"})
    with pytest.raises(Exception):
        run_training(failed.pk)
    page.goto(f"{live_server.url}/admin/training/trainingrun/{failed.pk}/change/")
    error = page.locator("#run-error")
    expect(error).to_contain_text("does not fit the ResNet-18 body stream")
    assert error.bounding_box()["y"] < page.locator(".field-snapshot").bounding_box()["y"]
    shot(page, "admin-training-failed")
