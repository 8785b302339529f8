"""The pages work in a real Chromium under the Content-Security-Policy: no violation, scripts that run.

The policy allows the site's own scripts only; the review page's model choice
(a static script now, not an inline handler) and Swagger UI (its start-up
script served from ?script) must still work.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from emotic_export.models import DatasetSnapshot
from tests.factories import PASSWORD, ImageFactory, PersonFactory, UserFactory
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def violations_of(page: Page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if "Content Security Policy" in message.text else None)
    return found


def test_admin_pages_swagger_and_the_model_choice_work_under_the_policy(page: Page, live_server):
    violations = violations_of(page)
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    image = ImageFactory(file=True, split="val", width=64, height=48)
    PersonFactory(image=image, x1=1, y1=1, x2=30, y2=40)
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s", completed_at=timezone.now())
    run = TrainingRun.objects.create(snapshot=snapshot, mode="body", state="succeeded", checkpoint_key="training-runs/1/best.pt")

    response = page.goto(f"{live_server.url}/admin/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Username").fill(admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # The review page: choosing a model submits the form (the static script), under the policy.
    page.goto(f"{live_server.url}/admin/catalog/image/{image.pk}/review/")
    page.select_option("#model-choice", str(run.pk))
    page.wait_for_url(f"**/review/?model={run.pk}")
    expect(page.locator("#model-choice")).to_have_value(str(run.pk))

    # The admin's own scripts (the change list's actions, the dashboard) and Swagger UI.
    page.goto(f"{live_server.url}/admin/annotator/apitoken/")
    page.goto(f"{live_server.url}/admin/quality/qualityreport/")
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("EMOTIC crowd annotation API")
    assert violations == []
