"""Other apps add panels to an image's review page; the review itself knows none of them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from quality.review_panels import PanelContent, ReviewPanel, register_review_panel, registered_panels, unregister_review_panel

pytestmark = pytest.mark.django_db


@pytest.fixture
def note_panel(settings, tmp_path):
    (tmp_path / "note_panel.html").write_text('<p id="note-panel">Notes by {{ panel.author }}</p>')
    (tmp_path / "note_row.html").write_text('<tr class="note-row"><td>{{ row.note }}</td></tr>')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    seen = []

    def build(request, image):
        seen.append((request.GET.get("who"), image.pk))
        people = image.people.order_by("id")
        return PanelContent({"author": request.GET.get("who", "nobody")}, {people[0].pk: {"note": "looks happy"}})

    register_review_panel(ReviewPanel("tests.notes", "note_panel.html", build, person_template="note_row.html"))
    yield seen
    unregister_review_panel("tests.notes")


def test_a_registered_panel_is_shown_above_the_people_and_in_the_rows_it_gives(review_data, admin_client, note_panel):
    image = review_data.val_image
    html = admin_client.get(reverse("admin:quality_image_review", args=[image.pk]), {"who": "ana"}).content.decode()
    assert note_panel == [("ana", image.pk)]  # built from the request, for this image
    assert '<p id="note-panel">Notes by ana</p>' in html
    assert html.count('class="note-row"') == 1 and "looks happy" in html  # only the person it gave a row for


def test_the_training_app_adds_the_model_predictions_panel():
    assert "training.predictions" in {panel.name for panel in registered_panels()}
