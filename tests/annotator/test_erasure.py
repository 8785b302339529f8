"""A worker deletes their account: personal data erased, answers kept anonymised, figures and snapshots unchanged."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotator.models import ApiToken, EmotionAnnotation, TaskAssignment, Worker
from annotator.services.accounts import check_new_username
from annotator.services.erasure import ErasureRefused, erase_worker_account, is_erased
from annotator.services.errors import NameRefused
from annotator.services.workers import create_api_token
from emotic_export.services import ExportOptions, export_to_directory
from quality.models import PersonAgreement
from quality.services import recompute_quality
from tests.factories import PASSWORD, EmotionAnnotationFactory, ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def crowd(db):
    """Three workers who answered the same two people; the first also holds a live task and a token."""
    image = ImageFactory(file=True, split="train")
    people = [PersonFactory(image=image), PersonFactory(image=image, x1=320, x2=600)]
    leaving, *others = [WorkerFactory(user__username=f"crowd{n}", user__email=f"crowd{n}@example.org",
                                      user__first_name="Ada", user__last_name="Lovelace", api_access=True)
                        for n in range(3)]
    for n, worker in enumerate([leaving, *others]):
        for person in people:
            EmotionAnnotationFactory(person=person, worker=worker, valence=4 + n,
                                     categories=("Happiness", "Excitement") if n else ("Happiness",))
    live = TaskAssignmentFactory(worker=leaving, person=PersonFactory(image=image, x1=10, x2=80))
    token, key = create_api_token(leaving, "script")
    return {"leaving": leaving, "others": others, "people": people, "live": live, "key": key}


def snapshot_files(tmp_path: Path, name: str) -> Path:
    return export_to_directory(tmp_path / name, ExportOptions(formats=("jsonl", "npy")))


def test_the_page_erases_the_account_and_keeps_its_answers_anonymised(crowd, tmp_path):
    leaving = crowd["leaving"]
    recompute_quality("admin")
    figures_before = list(PersonAgreement.objects.order_by("person_id").values_list("person_id", "annotators", "fleiss_kappa", "valence_std"))
    before = snapshot_files(tmp_path, "before")
    answers_before = list(EmotionAnnotation.objects.filter(worker=leaving).values_list("pk", "person_id", "valence"))

    client, elsewhere = Client(), Client()
    assert client.login(username="crowd0", password=PASSWORD) and elsewhere.login(username="crowd0", password=PASSWORD)
    api = Client(HTTP_AUTHORIZATION=f"Token {crowd['key']}")
    assert api.get("/api/me/").status_code == 200
    assert b"Delete my account" in client.get("/work/account/delete/").content

    done = client.post("/work/account/delete/", {"password": PASSWORD})
    assert done.status_code == 200 and b"Your account is deleted" in done.content

    user = User.objects.get(pk=leaving.user.pk)
    assert user.username.startswith("erased-") and user.username != "crowd0"
    assert (user.email, user.first_name, user.last_name, user.is_active, user.last_login) == ("", "", "", False, None)
    assert not user.has_usable_password()
    assert is_erased(Worker.objects.get(pk=leaving.pk))
    # Tokens revoked, every session ended, the live task handed back to the pool.
    assert not ApiToken.objects.filter(worker=leaving).exists() and api.get("/api/me/").status_code == 401
    assert client.get("/work/")["Location"].startswith("/accounts/login/")
    assert elsewhere.get("/work/")["Location"].startswith("/accounts/login/")
    assert TaskAssignment.objects.get(pk=crowd["live"].pk).state == TaskAssignment.State.EXPIRED
    assert not Client().login(username="crowd0", password=PASSWORD)
    # The answers stay with the same (anonymous) worker record: figures and snapshots do not change.
    assert list(EmotionAnnotation.objects.filter(worker=leaving).values_list("pk", "person_id", "valence")) == answers_before
    recompute_quality("admin")
    assert list(PersonAgreement.objects.order_by("person_id").values_list(
        "person_id", "annotators", "fleiss_kappa", "valence_std")) == figures_before
    after = snapshot_files(tmp_path, "after")
    compared_files = [path.relative_to(before) for path in before.rglob("*") if path.suffix in (".jsonl", ".npy")]
    assert any(path.suffix == ".npy" for path in compared_files)
    for name in compared_files:
        assert (before / name).read_bytes() == (after / name).read_bytes(), name
    compared = filecmp.dircmp(before, after)
    assert compared.left_only == compared.right_only == []
    # Nothing of the person is left in the snapshot's files either.
    assert all(b"crowd0" not in path.read_bytes() for path in after.rglob("*") if path.is_file())


def test_a_wrong_password_erases_nothing_and_says_so(crowd):
    client = Client()
    client.force_login(crowd["leaving"].user)
    refused = client.post("/work/account/delete/", {"password": "not-it"})
    assert refused.status_code == 200 and b"is not this account&#x27;s password" in refused.content
    empty = client.post("/work/account/delete/", {"password": ""})
    assert b"This field is required" in empty.content
    user = User.objects.get(pk=crowd["leaving"].user.pk)
    assert (user.username, user.email, user.is_active) == ("crowd0", "crowd0@example.org", True)
    assert ApiToken.objects.filter(worker=crowd["leaving"]).count() == 1
    assert client.get("/work/").status_code == 200


def test_staff_accounts_are_not_erased_by_the_service():
    from tests.factories import UserFactory

    staff = UserFactory(username="lead", is_staff=True)
    with pytest.raises(ErasureRefused) as refused:
        erase_worker_account(staff, PASSWORD)
    assert refused.value.field == "account"
    assert User.objects.get(pk=staff.pk).is_active


def test_no_one_can_take_an_erased_accounts_kind_of_name():
    with pytest.raises(NameRefused):
        check_new_username("erased-0123456789abcdef")
    with pytest.raises(NameRefused):
        check_new_username("Erased-me")


def test_deleting_an_account_needs_the_csrf_token(crowd):
    client = Client(enforce_csrf_checks=True)
    client.force_login(crowd["leaving"].user)
    assert client.post("/work/account/delete/", {"password": PASSWORD}).status_code == 403
    assert User.objects.get(pk=crowd["leaving"].user.pk).is_active
