"""Control items made from the review page and edited in the admin: ticks, sliders and choices, never masks or JSON."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotator.models import EmotionAnnotation, GoldItem, ProtocolVersion
from emotic.annotation_arrays import AnnotationArrayError
from emotic.gold import acceptable_from_answers
from emotic.taxonomy import categories_to_mask
from tests.factories import GoldItemFactory, ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def control_url(image, person=None) -> str:
    if person is None:
        return reverse("admin:quality_image_control_boxes", args=[image.pk])
    return reverse("admin:quality_image_control_person", args=[image.pk, person.pk])


def checked(html: str, name: str) -> list[str]:
    """The values of the ticked boxes (or chosen radios) called ``name``."""
    values = []
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and " checked" in tag:
            values.append(re.search(r'value="([^"]*)"', tag).group(1))
    return values


def value_of(html: str, name: str) -> str:
    tag = next(t for t in re.findall(r"<input[^>]*>", html) if f'name="{name}"' in t)
    return re.search(r'value="([^"]*)"', tag).group(1)


def emotion_post(person, **overrides) -> dict:
    data = {
        "kind": "emotions", "person": person.pk, "for_control": "on",
        "required_categories": ["Happiness"], "allowed_categories": ["Happiness", "Excitement"],
        "valence_min": 6, "valence_max": 10, "arousal_min": 4, "arousal_max": 9, "dominance_min": 4, "dominance_max": 7,
        "allowed_genders_choice": ["Female", "Male"], "allowed_ages_choice": ["Adult"], "min_iou": 0.5,
        "explanation": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_acceptable_answers_from_accepted_ones_majority_required_union_allowed_ranges_widened():
    gold = acceptable_from_answers([
        (["Happiness", "Engagement"], 8, 6, 6, "Female", "Adult"),
        (["Happiness"], 7, 5, 5, "Female", "Adult"),
        (["Happiness", "Excitement"], 10, 8, 1, "Male", "Adult"),
    ])
    assert gold.required_categories == {"Happiness"}
    assert gold.allowed_categories == {"Happiness", "Engagement", "Excitement"}
    assert (gold.valence, gold.arousal, gold.dominance) == ((6, 10), (4, 9), (1, 7))
    assert (gold.allowed_genders, gold.allowed_ages) == ({"Female", "Male"}, {"Adult"})
    # Nobody's majority: the most chosen categories are required.
    split = acceptable_from_answers([(["Anger"], 2, 2, 2, "Male", "Adult"), (["Anger", "Fear"], 2, 2, 2, "Male", "Adult"),
                                     (["Fear"], 2, 2, 2, "Male", "Adult"), (["Pain"], 2, 2, 2, "Male", "Adult"),
                                     (["Pain"], 2, 2, 2, "Male", "Adult")])
    assert split.required_categories == {"Anger", "Fear", "Pain"}
    with pytest.raises(AnnotationArrayError, match="answers: no accepted answers"):
        acceptable_from_answers([])


def test_the_review_page_offers_to_make_each_person_and_the_boxes_a_control_item(review_data, admin_client):
    image = review_data.val_image
    html = admin_client.get(reverse("admin:quality_image_review", args=[image.pk])).content.decode()
    for person in review_data.val_people:
        assert control_url(image, person) in html
    assert control_url(image) in html and "make the boxes a control item" in html


def test_make_control_item_opens_prefilled_from_the_accepted_answers_as_ticks_sliders_and_choices(review_data, admin_client):
    first = review_data.val_people[0]
    EmotionAnnotation.objects.filter(person=first, status="submitted").update(status="accepted")
    html = admin_client.get(control_url(review_data.val_image, first)).content.decode()
    assert "Prefilled from 3 accepted answer(s)" in html
    assert checked(html, "required_categories") == ["Happiness"]
    assert checked(html, "allowed_categories") == ["Engagement", "Excitement", "Happiness"]
    assert (value_of(html, "valence_min"), value_of(html, "valence_max")) == ("6", "10")
    assert 'type="range"' in html and checked(html, "allowed_genders_choice") == ["Male", "Female"]
    assert checked(html, "allowed_ages_choice") == ["Adult"]
    assert "mask" not in html.lower() and "[[" not in html  # no bit masks, no JSON


def test_without_accepted_answers_it_starts_from_the_answers_that_count(review_data, admin_client):
    second = review_data.val_people[1]
    html = admin_client.get(control_url(review_data.val_image, second)).content.decode()
    assert "no accepted answers yet: the 4 answer(s) that count" in html
    assert checked(html, "required_categories") == ["Sadness"]


def test_saving_makes_the_control_item_with_the_masks_written_from_the_ticks(review_data, admin_client):
    first = review_data.val_people[0]
    response = admin_client.post(control_url(review_data.val_image, first), emotion_post(first))
    assert response.status_code == 302
    item = GoldItem.objects.get(person=first)
    assert (item.kind, item.for_control, item.for_qualification) == ("emotions", True, False)
    assert item.required_categories_mask == categories_to_mask(["Happiness"])
    assert item.allowed_categories_mask == categories_to_mask(["Happiness", "Excitement"])
    assert (item.valence_min, item.valence_max, item.allowed_genders, item.allowed_ages) == (6, 10, ["Male", "Female"], ["Adult"])
    html = admin_client.get(reverse("admin:quality_image_review", args=[review_data.val_image.pk])).content.decode()
    assert f"Edit control item #{item.pk}" in html
    # Opening it again shows the item as it is, and saving edits it.
    again = admin_client.get(control_url(review_data.val_image, first)).content.decode()
    assert f"This is control item <b>#{item.pk}</b>" in again and checked(again, "allowed_categories") == ["Excitement", "Happiness"]
    admin_client.post(control_url(review_data.val_image, first), emotion_post(first, valence_min=7))
    assert GoldItem.objects.get(pk=item.pk).valence_min == 7 and GoldItem.objects.count() == 1


@pytest.mark.parametrize("overrides, field, reason", [
    ({"valence_min": 9, "valence_max": 3}, "valence_min", "range must satisfy 1 <= min <= max <= 10, got 9-3"),
    ({"required_categories": None}, "required_categories", "a gold item needs at least one"),
    ({"arousal_max": 11}, "arousal_min", "range must satisfy 1 <= min <= max <= 10, got 4-11"),
])
def test_bad_acceptable_answers_are_refused_naming_the_field_and_nothing_is_saved(review_data, admin_client, overrides, field, reason):
    first = review_data.val_people[0]
    response = admin_client.post(control_url(review_data.val_image, first), emotion_post(first, **overrides))
    assert response.status_code == 200
    assert reason in response.context["form"].errors[field][0]
    assert not GoldItem.objects.exists()


def test_the_boxes_of_an_image_become_a_control_item_as_ticked_people_and_typed_boxes(admin_client):
    image = ImageFactory(width=400, height=300)
    people = [PersonFactory(image=image, x1=10, y1=10, x2=150, y2=290), PersonFactory(image=image, x1=200, y1=20, x2=390, y2=280)]
    html = admin_client.get(control_url(image)).content.decode()
    assert checked(html, "expected_people") == [str(p.pk) for p in people]
    response = admin_client.post(control_url(image), {
        "kind": "boxes", "image": image.pk, "for_control": "on", "expected_people": [str(people[0].pk)],
        "other_boxes": "5, 5, 60, 90", "min_iou": 0.6, "explanation": "",
    })
    assert response.status_code == 302
    item = GoldItem.objects.get(image=image)
    assert (item.expected_boxes, item.min_iou) == ([[10, 10, 150, 290], [5, 5, 60, 90]], 0.6)
    bad = admin_client.post(control_url(image), {
        "kind": "boxes", "image": image.pk, "expected_people": [], "other_boxes": "5 5 sixty 90", "min_iou": 0.5,
    })
    assert bad.context["form"].errors["other_boxes"] == ["line 1: four whole numbers x1, y1, x2, y2, got '5 5 sixty 90'"]
    outside = admin_client.post(control_url(image), {
        "kind": "boxes", "image": image.pk, "expected_people": [], "other_boxes": "5 5 600 90", "min_iou": 0.5,
    })
    assert outside.context["form"].errors["other_boxes"] == ["[5, 5, 600, 90] lies outside the image (400 x 300 pixels)"]
    assert GoldItem.objects.get(image=image).expected_boxes == [[10, 10, 150, 290], [5, 5, 60, 90]]


def test_the_gold_items_admin_form_is_the_typed_one(admin_client):
    item = GoldItemFactory(allowed_genders=["Female"])
    url = reverse("admin:annotator_golditem_change", args=[item.pk])
    html = admin_client.get(url).content.decode()
    assert checked(html, "required_categories") == ["Happiness"] and checked(html, "allowed_genders_choice") == ["Female"]
    assert 'name="required_categories_mask"' not in html and 'name="allowed_genders"' not in html
    assert admin_client.get(reverse("admin:annotator_golditem_add")).status_code == 403  # made from the review page


def test_the_gold_items_list_shows_coverage_per_item_and_per_active_worker(admin_client, settings):
    from django.utils import timezone

    settings.CONTROL_POOL_WARN_TASKS = 30
    golds = GoldItemFactory.create_batch(2)
    keen, fresh = WorkerFactory(), WorkerFactory()
    keen.user.username = "keen"
    keen.user.save()
    for worker in (keen, fresh):
        type(worker).objects.filter(pk=worker.pk).update(last_task_request_at=timezone.now())
    for gold in golds:
        TaskAssignmentFactory(worker=keen, person=gold.person, gold_item=gold, state="submitted", gold_passed=True)
    html = admin_client.get(reverse("admin:annotator_golditem_changelist")).content.decode()
    assert "workers who met it" in html
    assert re.search(r'<a href="[^"]+">keen</a></td>\s*<td>2</td><td><strong>none</strong></td>', html)
    assert "1 active worker(s) have met every control: they are given the control they answered longest ago" in html


def test_the_protocol_page_changes_the_protocol_and_lists_what_changed(admin_client, admin_user):
    add = reverse("admin:annotator_protocolversion_add")
    html = admin_client.get(add).content.decode()
    assert 'name="annotators_val"' in html and 'type="range"' in html
    initial = admin_client.get(add).context["form"].initial
    data = {**{k: v for k, v in initial.items() if not isinstance(v, bool)},
            **{k: "on" for k, v in initial.items() if v is True},
            "annotators_val": 7, "applied_to": "all", "note": "more val annotators"}
    response = admin_client.post(add, data)
    assert response.status_code == 302, response.context["form"].errors
    version = ProtocolVersion.objects.get(number=2)
    assert (version.annotators_val, version.created_by, version.changes) == (7, admin_user, {"annotators_val": [5, 7]})
    listing = admin_client.get(reverse("admin:annotator_protocolversion_changelist")).content.decode()
    assert "annotators_val: 5 → 7" in listing and "more val annotators" in listing
    bad = admin_client.post(add, {**data, "trust_window": 3, "trust_min_answers": 4})
    assert bad.context["form"].errors["trust_min_answers"] == [
        "must be at most the control answers judged (3), got 4: no one could be judged"]
    assert ProtocolVersion.objects.count() == 2


def test_a_refused_protocol_change_shows_the_figures_and_new_work_only_applies_it(admin_client, settings):
    from annotator.services.assignment import assign_next_task

    settings.GOLD_RATE = 0.0
    person = PersonFactory(image=ImageFactory(split="test"))
    for _ in range(3):
        assign_next_task(WorkerFactory())
    add = reverse("admin:annotator_protocolversion_add")
    initial = admin_client.get(add).context["form"].initial
    data = {**{k: v for k, v in initial.items() if not isinstance(v, bool)},
            **{k: "on" for k, v in initial.items() if v is True}, "annotators_test": 1, "applied_to": "all"}
    refused = admin_client.post(add, data)
    assert refused.status_code == 200
    assert "1 person(s) of the test split already have more annotators given or assigned (up to 3) than the new 1, " \
           "with 3 task(s) still in progress on them" in refused.context["form"].errors["annotators_test"][0]
    assert admin_client.post(add, {**data, "applied_to": "new_work"}).status_code == 302
    person.refresh_from_db()
    assert person.annotators_pinned == 3
