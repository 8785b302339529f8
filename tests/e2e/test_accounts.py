"""Accounts and researcher tokens in a real headless Chromium: where staff land, a password reset by e-mail,
an account deleted by its worker, a researcher token granted in the admin.

With ``ACCOUNT_SCREENSHOTS=docs/img`` each page is saved there (docs/accounts.md and docs/research-api.md show them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from playwright.sync_api import Page, expect

from annotator.models import Worker
from research_api.models import ResearchToken
from tests.factories import PASSWORD, EmotionAnnotationFactory, UserFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = os.environ.get("ACCOUNT_SCREENSHOTS", "")


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def log_in(page: Page, live_server, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_staff_member_logs_in_and_lands_in_the_admin(page: Page, live_server):
    admin = UserFactory(username="research-lead", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("link", name="Forgot your password?")).to_be_visible()
    shot(page, "accounts-login")
    log_in(page, live_server, admin.username)
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert page.url == f"{live_server.url}/admin/"
    page.goto(f"{live_server.url}/work/")  # a worker page sends staff back to the admin
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert not Worker.objects.filter(user=admin).exists()


def test_a_worker_resets_a_forgotten_password_by_e_mail(page: Page, live_server):
    WorkerFactory(user__username="forgetful", user__email="forgetful@example.org")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("forgetful@example.org")
    shot(page, "accounts-password-reset")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()

    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/accounts/reset/\S+/", mail.outbox[0].body).group(0)
    page.goto(link.replace("http://testserver", live_server.url))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.locator("#id_new_password1").fill("a-fresh-pass-phrase-31")
    page.locator("#id_new_password2").fill("a-fresh-pass-phrase-31")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Your password is changed")).to_be_visible()

    log_in(page, live_server, "forgetful", "a-fresh-pass-phrase-31")
    assert page.url == f"{live_server.url}/work/"


def test_a_worker_deletes_their_account_and_their_answers_stay(page: Page, live_server):
    worker = WorkerFactory(user__username="leaving", user__email="leaving@example.org")
    answer = EmotionAnnotationFactory(worker=worker)
    log_in(page, live_server, "leaving")
    page.get_by_role("link", name="Your account").click()
    expect(page.get_by_label("E-mail")).to_have_value("leaving@example.org")
    page.get_by_role("link", name="Delete my account…").click()
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("is not this account's password")).to_be_visible()
    page.get_by_label("Your password").fill(PASSWORD)
    shot(page, "accounts-delete")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_role("heading", name="Your account is deleted")).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()  # logged out

    user = get_user_model().objects.get(pk=worker.user.pk)
    assert user.username.startswith("erased-") and user.email == "" and not user.is_active
    answer.refresh_from_db()
    assert answer.worker_id == worker.pk


def test_an_admin_grants_a_researcher_token_and_sees_its_key_once(page: Page, live_server):
    UserFactory(username="lead", is_staff=True, is_superuser=True)
    UserFactory(username="data-team", is_staff=True)
    log_in(page, live_server, "lead")
    page.goto(f"{live_server.url}/admin/research_api/researchtoken/add/")
    page.locator("#id_user").select_option(label="data-team")
    page.locator("#id_name").fill("nightly snapshots")
    page.get_by_label("Start snapshots").check()
    page.get_by_role("button", name="Save", exact=True).click()
    key = page.locator("#research-token-key").inner_text()
    assert key.startswith("rk_")
    shot(page, "research-token-granted")
    token = ResearchToken.objects.get()
    assert token.scopes == ["read", "export"] and token.user.username == "data-team"

    page.get_by_role("link", name="Back to the researcher tokens").click()
    expect(page.get_by_role("link", name="nightly snapshots")).to_be_visible()
    assert key not in page.content()
