"""The images' admin: everything shown, the licence corrected, the split moved only through the split service."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Image
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def test_the_split_actions_move_images_and_fix_them_there(admin_client):
    first, second = ImageFactory(split="train"), ImageFactory(split="")
    response = admin_client.post(reverse("admin:catalog_image_changelist"),
                                 {"action": "put_in_val", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert "2 image(s) moved to val" in response.content.decode()
    assert set(Image.objects.values_list("split", "split_locked")) == {("val", True)}


def test_the_change_form_edits_the_licence_and_nothing_else(admin_client):
    image = ImageFactory(split="train", license="")
    url = reverse("admin:catalog_image_change", args=[image.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="license"' in page and 'name="split"' not in page and 'name="filename"' not in page
    admin_client.post(url, {"license": "CC BY 4.0", "split": "test", "split_locked": "on", "filename": "x.jpg",
                            "people-TOTAL_FORMS": "0", "people-INITIAL_FORMS": "0"})
    image.refresh_from_db()
    assert (image.license, image.split, image.split_locked) == ("CC BY 4.0", "train", False)
    assert image.filename != "x.jpg"


def test_images_are_not_added_by_hand(admin_client):
    assert admin_client.get(reverse("admin:catalog_image_add")).status_code == 403


def test_people_are_shown_on_the_image_but_not_edited(admin_client):
    from tests.factories import PersonFactory

    person = PersonFactory(x1=10, y1=20, x2=110, y2=220)
    page = admin_client.get(reverse("admin:catalog_image_change", args=[person.image_id])).content.decode()
    assert "110" in page and 'name="people-0-x1"' not in page
    assert admin_client.get(reverse("admin:annotator_person_add")).status_code == 403
    person_page = admin_client.get(reverse("admin:annotator_person_change", args=[person.pk])).content.decode()
    assert 'name="x1"' not in person_page


@pytest.mark.parametrize(("old", "new"), [
    ("/admin/annotator/image/?split__exact=val", "/admin/catalog/image/?split__exact=val"),
    ("/admin/scraper/source/3/change/", "/admin/catalog/source/3/change/"),
    ("/admin/annotator/qualityreport/", "/admin/quality/qualityreport/"),
    ("/admin/annotator/personagreement/", "/admin/quality/personagreement/"),
])
def test_admin_pages_of_moved_models_redirect_to_their_new_address(client, old, new):
    response = client.get(old)
    assert response.status_code == 301 and response["Location"] == new
