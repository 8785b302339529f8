"""The demo loader fills an empty database through the real ingest, and running it again changes nothing."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import call_command

from annotator.models import GoldItem, Person, Worker
from catalog.models import Image
from catalog.models import Source


def load_demo(*args) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


def snapshot_counts() -> dict:
    return {
        "sources": Source.objects.count(),
        "images": Image.objects.count(),
        "people": Person.objects.count(),
        "users": get_user_model().objects.count(),
        "workers": Worker.objects.count(),
        "gold": GoldItem.objects.count(),
    }


@pytest.mark.django_db
def test_the_demo_loads_photos_people_and_accounts():
    output = load_demo()
    assert "Demo photos: 9 new, 0 already loaded; 5 people ready for annotation." in output
    assert snapshot_counts() == {"sources": 1, "images": 9, "people": 5, "users": 3, "workers": 2, "gold": 6}
    # The qualification test: at least five items, of both task kinds, none of them real work.
    qualification = GoldItem.objects.filter(for_qualification=True, for_control=False)
    assert qualification.count() >= 5
    assert set(qualification.values_list("kind", flat=True)) == {"emotions", "boxes"}
    assert sorted(len(g.expected_boxes) for g in qualification.filter(kind="boxes")) == [0, 1, 2]
    for image in Image.objects.all():
        assert default_storage.exists(image.storage_key)
        assert image.license and image.source_url
        assert image.split in {"train", "val", "test"}
    assert Image.objects.get(filename="coffee.png").people.count() == 0
    # Printed passwords log in.
    passwords = dict(re.findall(r"(\w+)\s+password: (\S+)", output))
    assert set(passwords) == {"admin", "worker1", "worker2"}
    user_model = get_user_model()
    assert user_model.objects.get(username="admin").check_password(passwords["admin"])
    assert user_model.objects.get(username="admin").is_superuser
    assert Worker.objects.get(user__username="worker1").qualification == "qualified"
    assert Worker.objects.get(user__username="worker2").qualification == "pending"


@pytest.mark.django_db
def test_running_the_demo_loader_twice_duplicates_nothing():
    load_demo()
    before = snapshot_counts()
    keys = set(Image.objects.values_list("storage_key", flat=True))
    output = load_demo("--password", "demo-pass-123")
    assert "Demo photos: 0 new, 9 already loaded" in output
    assert snapshot_counts() == before
    assert set(Image.objects.values_list("storage_key", flat=True)) == keys
    assert get_user_model().objects.get(username="worker2").check_password("demo-pass-123")
