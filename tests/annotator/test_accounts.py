"""Sign-up names: reserved prefixes and look-alikes are refused; the importer's accounts are no one's to take."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotator.models import AccountName, Worker
from annotator.services.accounts import name_skeletons
from annotator.services.errors import WorkerNotEligible
from annotator.services.assignment import assign_next_task
from annotator.services.intake import original_annotator
from annotator.services.workers import create_api_token, worker_for_api_key
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PASSPHRASE = "a-quite-long-passphrase"


def sign_up(username: str):
    return Client().post("/accounts/signup/", {"username": username, "password1": PASSPHRASE, "password2": PASSPHRASE})


def refused_because(username: str) -> str:
    response = sign_up(username)
    assert response.status_code == 200, "signed up"
    errors = response.context["form"].errors
    assert list(errors) == ["username"], errors
    assert not get_user_model().objects.filter(username=username).exists()
    return " ".join(errors["username"])


@pytest.mark.parametrize(
    "username",
    ["emotic-original-1", "EMOTIC-ORIGINAL-7", "emotic-original-", "admin", "Administrator", "ROOT", "root_beer",
     "system", "System42", "AdMlN", "ＡＤＭＩＮ"],
)
def test_reserved_names_are_refused_at_sign_up_with_the_reason_on_the_field(username):
    assert "is reserved" in refused_because(username)


def test_the_reserved_prefixes_are_a_setting_and_the_importers_stays_reserved(settings):
    settings.RESERVED_USERNAME_PREFIXES = ["moderator"]
    assert "is reserved" in refused_because("Moderator-Jane")
    assert "is reserved" in refused_because("emotic-original-2")
    assert sign_up("admin").status_code == 302  # no longer reserved here


@pytest.mark.parametrize(
    ("existing", "imitation"),
    [
        ("alice", "Alice"),  # case
        ("worker1", "workerl"),  # 1 and l
        ("worker1", "WORKERI"),  # I and l
        ("mary", "rnary"),  # rn and m
        ("BOB", "ВОВ"),  # Cyrillic capitals, one alphabet
        ("peter", "ｐｅｔｅｒ"),  # full-width forms
        ("w0lf", "wolf"),  # 0 and o
    ],
)
def test_a_name_that_looks_like_an_existing_one_is_refused(existing, imitation):
    UserFactory(username=existing)
    reason = refused_because(imitation)
    assert "looks like the name of an existing account" in reason or "already exists" in reason
    assert existing not in reason  # the other account's name is not given away


@pytest.mark.parametrize("username", ["аdmin", "pаypal", "Ѕtaff"])  # a Cyrillic letter among Latin ones
def test_a_name_mixing_alphabets_with_look_alike_letters_is_refused(username):
    reason = refused_because(username)
    assert "is reserved" in reason or "mixes alphabets" in reason


def test_a_cyrillic_a_in_admin_is_reserved_as_admin_is():
    assert "is reserved" in refused_because("\u0430dmin")


def test_ordinary_names_still_sign_up():
    UserFactory(username="worker1")
    for name in ("jean-pierre", "María", "Σωκράτης", "李小龙", "worker2", "Ada.Lovelace+annot"):
        assert sign_up(name).status_code == 302, name
        Client().logout()
    assert get_user_model().objects.filter(username="Σωκράτης").exists()


def test_every_user_has_its_skeletons_recorded_however_it_was_made():
    user = get_user_model().objects.create_user("Carol", password=PASSWORD)
    assert (user.account_name.skeleton_folded, user.account_name.skeleton_cased) == name_skeletons("Carol")
    user.username = "Caroline"
    user.save()
    assert AccountName.objects.get(user=user).skeleton_folded == name_skeletons("Caroline")[0]
    assert name_skeletons("caroline")[0] == name_skeletons("CAROLINE")[0] == name_skeletons("Caroline")[0]


def test_an_original_worker_cannot_log_in_work_or_use_a_token():
    original = original_annotator(1)
    assert (original.kind, original.original_number) == (Worker.Kind.ORIGINAL, 1)
    user = original.user
    assert not user.is_active and not user.has_usable_password()
    assert not Client().login(username=user.username, password="")
    with pytest.raises(WorkerNotEligible) as raised:
        assign_next_task(original)
    assert raised.value.code == "internal"
    original.api_access = True  # even granted, an original worker's token is refused
    original.save(update_fields=["api_access"])
    _, key = create_api_token(original, "stolen")
    user.is_active = True  # even an admin's slip does not open the API to it
    user.save()
    assert worker_for_api_key(key) is None


def test_the_importer_finds_its_accounts_by_number_not_by_name():
    first = original_annotator(1)
    first.user.username = "renamed-by-an-admin"
    first.user.save()
    assert original_annotator(1) == first
    assert original_annotator(2) != first and Worker.objects.filter(kind="original").count() == 2


def test_a_squatter_on_the_importers_name_gets_nothing_and_the_importer_another_name():
    squatter = get_user_model().objects.create_user("emotic-original-1", password=PASSWORD)  # before the rule
    original = original_annotator(1)
    assert original.user != squatter and original.user.username.startswith("emotic-original-1-")
    assert not hasattr(squatter, "worker") or squatter.worker.kind == Worker.Kind.CROWD
