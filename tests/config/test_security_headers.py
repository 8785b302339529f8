"""Every page kind answers with the Content-Security-Policy and Permissions-Policy, and no page needs inline script."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.security_headers import default_content_security_policy, storage_image_sources
from emotic_export.models import DatasetSnapshot
from tests.factories import ImageFactory, PersonFactory, UserFactory, WorkerFactory
from training.models import TrainingRun

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class InlineScripts(HTMLParser):
    """Inline <script> blocks, on* handler attributes and javascript: URLs: what a script-src 'self' policy blocks."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self._in_inline_script = True
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.found.append(f"inline script: {data.strip()[:60]!r}")


def inline_scripts(html: str) -> list[str]:
    parser = InlineScripts()
    parser.feed(html)
    return parser.found


@pytest.fixture
def world(db):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    worker = WorkerFactory()
    image = ImageFactory(file=True, split="val", width=64, height=48)
    PersonFactory(image=image, x1=1, y1=1, x2=30, y2=40)
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s", completed_at=timezone.now())
    TrainingRun.objects.create(snapshot=snapshot, mode="body", state="succeeded", checkpoint_key="training-runs/1/best.pt")
    return {"admin": admin_user, "worker": worker, "image": image}


def page_kinds(world) -> list[tuple[str, str, str]]:
    """(who, URL, kind) for one page of every kind the platform serves."""
    image = world["image"]
    return [
        ("anonymous", "/", "html"),
        ("anonymous", "/accounts/login/", "html"),
        ("anonymous", "/accounts/signup/", "html"),
        ("anonymous", "/no-such-page/", "html"),
        ("worker", "/work/", "html"),
        ("worker", "/work/annotate/", "html"),
        ("worker", "/work/history/", "html"),
        ("worker", "/work/api-tokens/", "html"),
        ("worker", "/api/me/", "other"),
        ("anonymous", "/api/tasks/next/", "other"),  # a 401 in the API's error shape
        ("anonymous", "/api/schema/", "other"),
        ("anonymous", "/api/docs/", "html"),
        ("anonymous", "/api/docs/?script=", "other"),
        ("admin", "/admin/", "html"),
        ("admin", "/admin/catalog/image/", "html"),
        ("admin", f"/admin/catalog/image/{image.pk}/change/", "html"),
        ("admin", f"/admin/catalog/image/{image.pk}/review/", "html"),
        ("admin", f"/admin/catalog/image/{image.pk}/picture/", "other"),
        ("admin", reverse("admin:quality_qualityreport_changelist"), "html"),
        ("admin", reverse("admin:quality_qualityreport_csv", args=["worker-accuracy"]), "other"),
        ("admin", reverse("admin:annotator_worker_change", args=[world["worker"].pk]), "html"),
        ("admin", reverse("admin:annotator_apitoken_changelist"), "html"),
        ("admin", reverse("admin:scraper_crawljob_add"), "html"),
        ("admin", reverse("admin:training_trainingrun_changelist"), "html"),
        ("admin", "/admin/jsi18n/", "other"),
        ("anonymous", "/admin/login/", "html"),
    ]


def client_for(world, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(world[who].user if who == "worker" else world[who])
    return client


def test_every_page_kind_carries_both_policies_and_needs_no_inline_script(world):
    for who, url, kind in page_kinds(world):
        response = client_for(world, who).get(url)
        assert response.status_code < 500, (url, response.status_code)
        assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY, url
        assert response["Permissions-Policy"] == settings.PERMISSIONS_POLICY, url
        if kind == "html" and response.get("Content-Type", "").startswith("text/html"):
            assert inline_scripts(response.content.decode()) == [], url


def test_the_default_policy_allows_the_sites_own_scripts_only():
    policy = dict(part.strip().split(" ", 1) for part in settings.CONTENT_SECURITY_POLICY.split(";"))
    assert policy["script-src"] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in settings.CONTENT_SECURITY_POLICY
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'self'"
    assert "camera=()" in settings.PERMISSIONS_POLICY and "geolocation=()" in settings.PERMISSIONS_POLICY


def test_images_redirected_to_storage_are_allowed_from_its_origin():
    assert storage_image_sources("s3", "http://minio:9000/", True) == ["http://minio:9000"]
    assert storage_image_sources("s3", "", True) == ["https://*.amazonaws.com"]
    assert storage_image_sources("s3", "http://minio:9000", False) == []
    assert storage_image_sources("local", "", True) == []
    assert "img-src 'self' data: blob: http://minio:9000;" in default_content_security_policy(["http://minio:9000"])


def test_the_policies_are_settings(world, settings):
    settings.CONTENT_SECURITY_POLICY = "default-src 'none'"
    settings.PERMISSIONS_POLICY = ""
    response = Client().get("/")
    assert response["Content-Security-Policy"] == "default-src 'none'" and "Permissions-Policy" not in response


def test_no_template_of_the_project_has_inline_script_or_handlers():
    offenders = []
    for template in sorted(ROOT.glob("*/templates/**/*.html")) + sorted((ROOT / "templates").glob("**/*.html")):
        text = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", text, re.IGNORECASE):
            offenders.append(f"{template.relative_to(ROOT)}: {match.group(0).strip()}")
    assert offenders == []
