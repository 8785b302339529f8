"""Log-in landing, and password reset by e-mail (Django's own flow, in the site's pages)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from access.models import AccessAttempt
from annotator.models import Worker
from tests.factories import PASSWORD, UserFactory, WorkerFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def log_in(client: Client, username: str, password: str = PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password, **extra})


def test_a_staff_log_in_lands_in_the_admin_and_makes_no_worker():
    admin = UserFactory(username="research-lead", is_staff=True, is_superuser=True)
    client = Client()
    response = log_in(client, admin.username)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    # Worker pages send a staff account to the admin, and the worker API refuses it: no worker is ever made.
    for path in ("/work/", "/work/annotate/", "/work/history/", "/work/api-tokens/", "/work/account/"):
        page = client.get(path)
        assert (page.status_code, page["Location"]) == (302, "/admin/"), path
    refused = client.get("/api/tasks/next/")
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "worker: staff accounts run the platform from the admin and are never workers",
        "code": "staff_account", "errors": {"worker": ["staff accounts run the platform from the admin and are never workers"]},
    }
    assert not Worker.objects.filter(user=admin).exists()


def test_the_login_page_no_longer_sends_everyone_to_the_work_page():
    page = Client().get("/accounts/login/").content.decode()
    assert 'name="next"' not in page  # without a next, the view chooses by role
    assert 'href="/accounts/password-reset/"' in page


def test_a_worker_log_in_lands_on_the_work_page_and_a_next_is_kept():
    worker = WorkerFactory(user__username="annotator-7")
    assert log_in(Client(), worker.user.username)["Location"] == "/work/"
    assert log_in(Client(), worker.user.username, next="/work/history/")["Location"] == "/work/history/"


def test_a_staff_member_who_once_became_a_worker_has_no_worker_token_access():
    from annotator.services.workers import create_api_token

    worker = WorkerFactory(user__username="promoted", api_access=True)
    _, key = create_api_token(worker, "script")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/me/").status_code == 200
    User.objects.filter(pk=worker.user.pk).update(is_staff=True)
    assert client.get("/api/me/").status_code == 401


def reset_link(message) -> str:
    return re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)


def test_a_password_reset_sends_one_link_that_sets_a_new_password_once():
    worker = WorkerFactory(user__username="forgetful", user__email="forgetful@example.org")
    other_session = Client()
    other_session.force_login(worker.user)
    client = Client()
    sent = client.post("/accounts/password-reset/", {"email": "Forgetful@example.org"})
    assert (sent.status_code, sent["Location"]) == (302, "/accounts/password-reset/sent/")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["forgetful@example.org"] and "forgetful" in message.body and "\n" not in message.subject

    link = reset_link(message)
    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    set_url = form.redirect_chain[-1][0]
    too_short = client.post(set_url, {"new_password1": "abc", "new_password2": "abc"})
    assert too_short.status_code == 200 and b"too short" in too_short.content
    done = client.post(set_url, {"new_password1": "a-new-pass-phrase-77", "new_password2": "a-new-pass-phrase-77"})
    assert (done.status_code, done["Location"]) == (302, "/accounts/reset/done/")
    assert b"Your password is changed" in client.get("/accounts/reset/done/").content

    assert log_in(Client(), "forgetful", "a-new-pass-phrase-77")["Location"] == "/work/"
    assert log_in(Client(), "forgetful", PASSWORD).status_code == 200  # the old one no longer works
    assert other_session.get("/work/")["Location"].startswith("/accounts/login/")  # other sessions ended
    used = Client().get(link, follow=True)
    assert b"This link no longer works" in used.content  # a link works once


def test_an_unknown_address_is_answered_like_a_known_one_and_sends_nothing():
    response = Client().post("/accounts/password-reset/", {"email": "nobody@example.org"})
    assert (response.status_code, response["Location"]) == (302, "/accounts/password-reset/sent/")
    assert mail.outbox == []
    row = AccessAttempt.objects.get()
    assert (row.kind, row.outcome, row.username) == ("reset", "requested", "nobody@example.org")


def test_a_malformed_address_is_refused_naming_the_field():
    response = Client().post("/accounts/password-reset/", {"email": "not-an-address"})
    assert response.status_code == 200 and b"Enter a valid email address" in response.content and mail.outbox == []


def test_a_worker_may_sign_up_with_an_e_mail_address_and_change_it():
    client = Client()
    response = client.post("/accounts/signup/", {
        "username": "newcomer", "email": "new@example.org", "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9",
    })
    assert response.status_code == 302
    assert User.objects.get(username="newcomer").email == "new@example.org"
    assert client.post("/work/account/", {"email": "other@example.org"})["Location"] == "/work/account/"
    assert User.objects.get(username="newcomer").email == "other@example.org"
    refused = client.post("/work/account/", {"email": "nope"})
    assert refused.status_code == 200 and b"Enter a valid email address" in refused.content
    assert User.objects.get(username="newcomer").email == "other@example.org"


def test_the_e_mail_settings_come_from_the_environment(tmp_path):
    import os
    import subprocess
    import sys

    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL)")

    def run(module: str, **environment):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": module, **environment}
        env.pop("EMAIL_BACKEND", None) if "EMAIL_BACKEND" not in environment else None
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    demo = run("config.settings.base", DEBUG="true")
    assert demo.stdout.split()[0] == "django.core.mail.backends.console.EmailBackend", demo.stderr
    smtp = run("config.settings.base", DEBUG="false", EMAIL_HOST="smtp.example.org", EMAIL_PORT="587",
               EMAIL_USE_TLS="true", DEFAULT_FROM_EMAIL="team@example.org")
    assert smtp.stdout.split() == ["django.core.mail.backends.smtp.EmailBackend", "smtp.example.org", "587", "True",
                                   "team@example.org"], smtp.stderr
    both = run("config.settings.base", EMAIL_USE_TLS="true", EMAIL_USE_SSL="true")
    assert both.returncode != 0 and "EMAIL_USE_SSL" in both.stderr
    bad_port = run("config.settings.base", EMAIL_PORT="smtp")
    assert bad_port.returncode != 0 and "EMAIL_PORT: must be an integer" in bad_port.stderr
