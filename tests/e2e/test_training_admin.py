"""An admin watching a training run in a real headless Chromium: the live line follows the run, then the page reloads."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from emotic_export.models import DatasetSnapshot
from tests.factories import PASSWORD, UserFactory
from training.admin import TrainingRunAdmin
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(TrainingRunAdmin, "progress_poll_ms", 300)


def log_in_to_the_admin(page: Page, live_server) -> None:
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_the_run_page_follows_a_running_run_live_and_shows_the_result_when_it_ends(page: Page, live_server):
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s",
                                              completed_at=timezone.now(), formats=["npy"])
    run = TrainingRun.objects.create(snapshot=snapshot, mode="body", state="running", started_at=timezone.now())
    log_in_to_the_admin(page, live_server)
    page.goto(f"{live_server.url}/admin/training/trainingrun/{run.pk}/change/")
    line = page.locator("#run-progress")
    expect(line).to_contain_text("Running (epoch 0, step 0)")

    # The worker reports progress; the page shows it without being reloaded.
    TrainingRun.objects.filter(pk=run.pk).update(
        epoch=2, step=7, last_loss=0.51234, best_val_map=0.3,
        history=[{"epoch": 1, "val_map": 0.3}, {"epoch": 2, "val_map": 0.25}],
    )
    expect(line).to_have_text(
        "running (epoch 2, step 7, loss 0.5123, val mAP of the last epoch 0.2500, best 0.3000)"
    )
    page.evaluate("window.stillTheSamePage = true")

    # The run ends: the page reloads itself to show the outcome, and stops polling.
    TrainingRun.objects.filter(pk=run.pk).update(state="succeeded", finished_at=timezone.now())
    expect(page.get_by_text("Succeeded after 2 epoch(s), 7 step(s)")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is None
    expect(page.locator("#run-progress")).to_have_count(0)
