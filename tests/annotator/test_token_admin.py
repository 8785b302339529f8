"""API tokens in the admin: listed with worker, name, prefix, dates and expiry; revoked; their keys never shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import ApiToken
from annotator.services.workers import create_api_token
from tests.factories import UserFactory, WorkerFactory

pytestmark = pytest.mark.django_db
LIST = "admin:annotator_apitoken_changelist"


@pytest.fixture
def tokens(settings):
    settings.API_TOKEN_LIFETIME_DAYS = 30
    ada, bob = WorkerFactory(user__username="ada", api_access=True), WorkerFactory(user__username="bob", api_access=True)
    (live, live_key), (old, old_key) = create_api_token(ada, "mturk bridge"), create_api_token(bob, "old script")
    ApiToken.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    for token in (live, old):
        token.refresh_from_db()
    return {"live": (live, live_key), "old": (old, old_key)}


def test_the_list_shows_every_workers_tokens_and_never_a_key(admin_client, tokens):
    page = admin_client.get(reverse(LIST)).content.decode()
    for token, key in tokens.values():
        assert token.name in page and token.key_prefix in page and str(token.worker) in page
        assert key not in page and key[8:20] not in page and token.key_sha256 not in page
    assert page.count(">live<") == 1 and page.count(">expired<") == 1
    assert "Expires" in page and "Last used at" in page and "Created at" in page
    detail = admin_client.get(reverse("admin:annotator_apitoken_change", args=[tokens["live"][0].pk])).content.decode()
    assert tokens["live"][0].key_sha256 not in detail and tokens["live"][1] not in detail
    assert "mturk bridge" in detail and f"{tokens['live'][0].expires_at:%Y}" in detail
    expired_only = admin_client.get(reverse(LIST), {"expiry": "expired"}).content.decode()
    assert "old script" in expired_only and "mturk bridge" not in expired_only


def test_an_admin_revokes_tokens_and_programs_using_them_get_401(admin_client, tokens):
    live, key = tokens["live"]
    program = APIClient()
    program.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert program.get("/api/me/").status_code == 200
    response = admin_client.post(reverse(LIST), {"action": "revoke_selected", "_selected_action": [live.pk]}, follow=True)
    assert "Revoked 1 token(s)." in response.content.decode()
    assert not ApiToken.objects.filter(pk=live.pk).exists() and ApiToken.objects.filter(pk=tokens["old"][0].pk).exists()
    assert program.get("/api/me/").status_code == 401


def test_tokens_are_not_added_or_edited_in_the_admin_and_view_only_staff_cannot_revoke(client, tokens):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    client.force_login(staff)
    assert client.get(reverse(LIST)).status_code == 200
    assert client.get(reverse("admin:annotator_apitoken_add")).status_code == 403
    live = tokens["live"][0]
    client.post(reverse(LIST), {"action": "revoke_selected", "_selected_action": [live.pk]})
    client.post(reverse("admin:annotator_apitoken_change", args=[live.pk]), {"name": "renamed"})
    live.refresh_from_db()
    assert live.name == "mturk bridge"
