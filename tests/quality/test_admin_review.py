"""The review pages: an image with its people, answers, combined labels and agreement; workers; answers."""

import re

import pytest
from django.urls import reverse

from annotator.models import BoxAnnotation, EmotionAnnotation, Worker
from catalog.models import Image
from quality.figures import display
from quality.models import PersonAgreement
from quality.services import recompute_quality
from emotic.agreement import person_kappa, vad_spread
from emotic.taxonomy import mask_to_categories
from emotic.annotation_arrays import AnnotationArrays, EmotionAnswer
from emotic.worker_quality import leave_one_out_agreement
from tests.quality.conftest import control_answers
from tests.factories import BoxAnnotationFactory, ImageFactory, WorkerFactory

pytestmark = pytest.mark.django_db


def no_nan(html: str) -> bool:
    return re.search(r"\bnan\b", html, re.IGNORECASE) is None


def review_url(image) -> str:
    return reverse("admin:quality_image_review", args=[image.pk])


def row_html(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start: html.index("</tr>", start)]


def person_html(html: str, person) -> str:
    start = html.index(f'id="person-{person.pk}"')
    end = html.find('class="quality-person"', start + 1)
    return html[start: end if end > 0 else len(html)]


def counted_arrays(person):
    answers = person.annotations.filter(status__in=["submitted", "accepted"], is_gold=False, excluded=False)
    return answers.order_by("created_at", "id"), AnnotationArrays.from_answers([[
        EmotionAnswer(a.worker_id, a.categories_mask, a.valence, a.arousal, a.dominance) for a in
        answers.order_by("created_at", "id")
    ]])


def test_image_page_shows_boxes_answers_combined_labels_and_agreement(review_data, admin_client):
    response = admin_client.get(review_url(review_data.val_image))
    assert response.status_code == 200
    html = response.content.decode()
    first, second = review_data.val_people
    assert f'x="{first.x1}" y="{first.y1}" width="{first.x2 - first.x1}" height="{first.y2 - first.y1}"' in html
    assert f'x="{second.x1}" y="{second.y1}" width="{second.x2 - second.x1}" height="{second.y2 - second.y1}"' in html
    for person in (first, second):
        section = person_html(html, person)
        answers, arrays = counted_arrays(person)
        kappa = person_kappa(arrays.choices, arrays.present)[0]
        spread = vad_spread(arrays.vad)[0]
        assert '<b class="kappa' in section and f">{display(kappa)}</b>" in section
        assert f"V <b>{display(spread[0])}</b>, A <b>{display(spread[1])}</b>, D <b>{display(spread[2])}</b>" in section
        assert f'<b class="annotators">{answers.count()}</b>' in section
        loo = leave_one_out_agreement(arrays.choices, arrays.vad, arrays.worker_index)
        for slot, answer in enumerate(answers):
            row = row_html(html, f"answer-{answer.pk}")
            assert answer.worker.user.username in row and ", ".join(answer.categories) in row
            assert f"<td>{display(loo.jaccard_majority[0, slot])}</td><td>{display(loo.jaccard_union[0, slot])}</td>" in row
    assert "Engagement, Excitement, Happiness" in row_html(html.replace('class="quality-combined combined-union"', 'id="u1"', 1), "u1")
    majority_first = row_html(html.replace('class="quality-combined combined-majority"', 'id="m1"', 1), "m1")
    assert "<td>Happiness</td>" in majority_first and "<td>8.0</td><td>6.3</td><td>5.7</td>" in majority_first
    majority_second = row_html(person_html(html, second).replace('class="quality-combined combined-majority"', 'id="m2"', 1), "m2")
    assert "<td>none</td>" in majority_second  # nobody's categories reach a strict majority
    rejected = EmotionAnnotation.objects.get(person=first, status="rejected")
    gold = EmotionAnnotation.objects.get(person=second, is_gold=True)
    assert "no: rejected" in row_html(html, f"answer-{rejected.pk}")
    assert "no: gold answer" in row_html(html, f"answer-{gold.pk}")
    assert "<td colspan=\"11\">n/a</td>" in html  # Dawid-Skene before the first full run
    assert no_nan(html)


def test_the_stored_dawid_skene_label_appears_after_a_full_run(review_data, admin_client):
    recompute_quality()
    html = admin_client.get(review_url(review_data.val_image)).content.decode()
    first = review_data.val_people[0]
    stored = PersonAgreement.objects.get(person=first).dawid_skene_mask
    section = person_html(html, first)
    shown = section[section.index("Dawid-Skene, last full run"):]
    expected = ", ".join(mask_to_categories(stored)) or "none"
    assert f'<td colspan="11">{expected}</td>' in shown


def test_single_annotator_and_empty_person_show_not_defined(review_data, admin_client):
    html = admin_client.get(review_url(review_data.train_person.image)).content.decode()
    assert '<b class="kappa">n/a</b>' in html and "V <b>n/a</b>, A <b>n/a</b>, D <b>n/a</b>" in html
    assert no_nan(html)
    html = admin_client.get(review_url(review_data.lonely_person.image)).content.decode()
    assert "No answers yet." in html and '<b class="annotators">0</b>' in html and no_nan(html)


def test_accept_and_reject_in_bulk_from_the_image_page(review_data, admin_client):
    recompute_quality()
    first = review_data.val_people[0]
    answers = list(EmotionAnnotation.objects.filter(person=first, status="submitted").order_by("id"))
    response = admin_client.post(review_url(review_data.val_image), {"action": "reject", "annotation": [answers[0].pk]})
    assert response.status_code == 302
    response = admin_client.post(review_url(review_data.val_image),
                                 {"action": "accept", "annotation": [a.pk for a in answers[1:]]})
    assert response.status_code == 302
    assert [EmotionAnnotation.objects.get(pk=a.pk).status for a in answers] == ["rejected", "accepted", "accepted"]
    assert PersonAgreement.objects.get(person=first).annotators == 2
    html = admin_client.get(review_url(review_data.val_image)).content.decode()
    assert "no: rejected" in row_html(html, f"answer-{answers[0].pk}")


@pytest.mark.parametrize("data, message", [
    ({"action": "delete", "annotation": ["1"]}, "action: must be one of accept, reject, reopen"),
    ({"action": "accept", "annotation": ["x"]}, "annotation: must be whole numbers"),
    ({"action": "accept"}, "annotation: choose answers given on this image"),
])
def test_bad_review_posts_change_nothing(review_data, admin_client, data, message):
    response = admin_client.post(review_url(review_data.val_image), data, follow=True)
    assert message.capitalize() in response.content.decode()  # the admin capitalises messages
    assert not EmotionAnnotation.objects.filter(status="accepted").exists()


def test_an_answer_from_another_image_is_refused(review_data, admin_client):
    elsewhere = EmotionAnnotation.objects.get(person=review_data.train_person)
    response = admin_client.post(review_url(review_data.val_image), {"action": "reject", "annotation": [elsewhere.pk]},
                                 follow=True)
    assert "Annotation: choose answers given on this image" in response.content.decode()
    assert EmotionAnnotation.objects.get(pk=elsewhere.pk).status == "submitted"


def test_the_picture_is_served_to_staff_only(db, admin_client, client):
    image = ImageFactory(file=True, width=64, height=48)
    url = reverse("admin:quality_image_picture", args=[image.pk])
    response = admin_client.get(url)
    assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"
    assert client.get(url).status_code == 302  # to the admin login
    missing = ImageFactory()
    assert admin_client.get(reverse("admin:quality_image_picture", args=[missing.pk])).status_code == 404


def changelist_ids(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def test_image_list_filters(review_data, admin_client, settings):
    settings.QUALITY_LOW_AGREEMENT_KAPPA = 0.2
    recompute_quality()
    url = reverse("admin:catalog_image_changelist")
    val, train, lonely = review_data.val_image, review_data.train_person.image, review_data.lonely_person.image
    response = admin_client.get(url)
    assert response.status_code == 200 and {val.pk, train.pk, lonely.pk} <= changelist_ids(response)
    assert changelist_ids(admin_client.get(url, {"low_agreement": "yes"})) == {val.pk}  # person 2: kappa 0.09
    assert changelist_ids(admin_client.get(url, {"split": "train"})) == {train.pk}
    Image.objects.filter(pk=lonely.pk).update(reported_count=2)
    assert changelist_ids(admin_client.get(url, {"reported": "yes"})) == {lonely.pk}
    # The fourth worker disagrees with everyone on the second val person (consensus 0.0).
    assert changelist_ids(admin_client.get(url, {"flagged_workers": "yes"})) == {val.pk}
    Worker.objects.filter(pk=review_data.workers[0].pk).update(consensus_agreement=0.1)
    assert changelist_ids(admin_client.get(url, {"flagged_workers": "yes"})) == {val.pk, train.pk}
    html = admin_client.get(url).content.decode()
    kappa = PersonAgreement.objects.get(person=review_data.val_people[1]).fleiss_kappa
    assert f"<td class=\"field-lowest_kappa\">{display(kappa)}</td>" in html and no_nan(html)


def test_worker_page_shows_figures_history_and_blocks_with_a_reason(review_data, admin_client, settings):
    settings.QUALITY_GOLD_WINDOW = 5
    settings.QUALITY_GOLD_MIN_ANSWERS = 5
    settings.QUALITY_GOLD_MIN_ACCURACY = 0.5
    worker = review_data.workers[0]
    control_answers(worker, [True, False, True, True])
    recompute_quality()
    url = reverse("admin:annotator_worker_change", args=[worker.pk])
    html = admin_client.get(url).content.decode()
    worker.refresh_from_db()
    assert '<th>Gold accuracy (window)</th><td class="figure">75%</td>' in html
    assert '<th>Gold answers in window</th><td class="figure">4</td>' in html
    assert f'<th>Agreement with the others\' majority</th><td class="figure">{display(worker.consensus_agreement)}</td>' in html.replace("&#x27;", "'")
    assert '<th>Median seconds per task</th><td class="figure">12.5</td>' in html
    assert '<th>Skipped tasks</th><td class="figure">0%</td>' in html  # 4 control tasks, none skipped
    assert reverse("admin:quality_worker_gold_plot", args=[worker.pk]) in html and "Never blocked." in html
    assert no_nan(html)

    trust = reverse("admin:quality_worker_trust", args=[worker.pk])
    response = admin_client.post(trust, {"action": "block", "reason": ""}, follow=True)
    assert "Reason: say why" in response.content.decode()
    worker.refresh_from_db()
    assert not worker.is_blocked
    admin_client.post(trust, {"action": "block", "reason": "answers unrelated to the image"})
    worker.refresh_from_db()
    assert worker.is_blocked and not worker.blocked_automatically
    html = admin_client.get(url).content.decode()
    assert "answers unrelated to the image" in html and "Unblock and restore their answers" in html
    admin_client.post(trust, {"action": "unblock", "reason": "appeal accepted"})
    worker.refresh_from_db()
    assert not worker.is_blocked and not EmotionAnnotation.objects.filter(worker=worker, excluded=True).exists()
    png = admin_client.get(reverse("admin:quality_worker_gold_plot", args=[worker.pk]))
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_worker_with_no_gold_answers_reads_not_defined(db, admin_client):
    worker = WorkerFactory()
    html = admin_client.get(reverse("admin:annotator_worker_change", args=[worker.pk])).content.decode()
    assert '<th>Gold accuracy (window)</th><td class="figure">n/a</td>' in html
    assert "No control answers yet: gold accuracy is n/a." in html and no_nan(html)
    listing = admin_client.get(reverse("admin:annotator_worker_changelist")).content.decode()
    assert '<td class="field-gold_accuracy_shown">n/a</td>' in listing and no_nan(listing)


def test_worker_list_actions_and_flagged_filter(review_data, admin_client):
    url = reverse("admin:annotator_worker_changelist")
    target = review_data.workers[1]
    admin_client.post(url, {"action": "block_selected", "_selected_action": [target.pk]})
    target.refresh_from_db()
    assert target.is_blocked and "from the worker list" in target.blocked_reason
    assert changelist_ids(admin_client.get(url, {"flagged": "yes"})) == {target.pk}
    admin_client.post(url, {"action": "unblock_selected", "_selected_action": [target.pk]})
    target.refresh_from_db()
    assert not target.is_blocked


def test_trust_fields_cannot_be_edited_around_the_service(review_data, admin_client):
    worker = review_data.workers[0]
    response = admin_client.get(reverse("admin:annotator_worker_change", args=[worker.pk]))
    form = response.context["adminform"].form
    assert "is_blocked" not in form.fields and "gold_accuracy" not in form.fields
    answer = EmotionAnnotation.objects.filter(worker=worker).first()
    response = admin_client.get(reverse("admin:annotator_emotionannotation_change", args=[answer.pk]))
    assert "excluded" not in response.context["adminform"].form.fields


@pytest.mark.parametrize("model", [EmotionAnnotation, BoxAnnotation])
def test_a_workers_answer_is_shown_but_cannot_be_edited_added_or_deleted_in_the_admin(review_data, admin_client, model):
    """Review status goes through the review actions, exclusion through blocking: both refresh figures and pool."""
    answer = model.objects.first() or BoxAnnotationFactory()
    name = model._meta.model_name
    page = admin_client.get(reverse(f"admin:annotator_{name}_change", args=[answer.pk]))
    assert page.status_code == 200 and page.context["adminform"].form.fields == {}
    before = model.objects.filter(pk=answer.pk).values().get()
    posted = admin_client.post(reverse(f"admin:annotator_{name}_change", args=[answer.pk]),
                               {"status": "rejected", "excluded": "on", "valence": "1"})
    assert posted.status_code in (200, 302, 403)
    assert model.objects.filter(pk=answer.pk).values().get() == before
    assert admin_client.get(reverse(f"admin:annotator_{name}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:annotator_{name}_delete", args=[answer.pk]), {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=answer.pk).exists()


def test_answer_list_bulk_review_and_filters(review_data, admin_client, settings):
    settings.QUALITY_LOW_AGREEMENT_KAPPA = 0.2
    recompute_quality()
    url = reverse("admin:annotator_emotionannotation_changelist")
    second = review_data.val_people[1]
    low = changelist_ids(admin_client.get(url, {"low_agreement": "yes"}))
    assert low == set(EmotionAnnotation.objects.filter(person=second).values_list("pk", flat=True))
    assert changelist_ids(admin_client.get(url, {"person__image__split": "train"})) == set(
        EmotionAnnotation.objects.filter(person=review_data.train_person).values_list("pk", flat=True))
    chosen = list(EmotionAnnotation.objects.filter(person=second, is_gold=False).values_list("pk", flat=True))
    admin_client.post(url, {"action": "reject_selected", "_selected_action": chosen})
    assert set(EmotionAnnotation.objects.filter(pk__in=chosen).values_list("status", flat=True)) == {"rejected"}
    assert not PersonAgreement.objects.filter(person=second).exists()  # no counted answer left
    admin_client.post(url, {"action": "accept_selected", "_selected_action": chosen})
    assert PersonAgreement.objects.get(person=second).annotators == 4
    html = admin_client.get(url).content.decode()
    assert no_nan(html)


def test_people_by_agreement_list(review_data, admin_client):
    recompute_quality()
    response = admin_client.get(reverse("admin:quality_personagreement_changelist"))
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    defined = [r.fleiss_kappa for r in rows if r.fleiss_kappa is not None]
    assert defined == sorted(defined) and no_nan(response.content.decode())


def test_pages_need_staff(review_data, client):
    for url in (review_url(review_data.val_image), reverse("admin:quality_qualityreport_changelist")):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    worker = WorkerFactory()
    client.force_login(worker.user)
    assert client.get(review_url(review_data.val_image)).status_code == 302


def test_an_images_own_page_links_to_its_review(review_data, admin_client):
    image = review_data.val_image
    html = admin_client.get(reverse("admin:catalog_image_change", args=[image.pk])).content.decode()
    assert f'href="{review_url(image)}"' in html and "review answers" in html


@pytest.mark.parametrize("bad_id", ["abc", "1x", "²", "١", "1/2", "-1"])
def test_staff_pages_answer_404_for_an_id_that_is_not_a_whole_number(db, admin_client, bad_id):
    """Every custom admin page under <path:object_id> (review, picture, gold plot, trust, a run's cancel button):
    a malformed id is a 404, never a 500."""
    for method, url in (
        ("get", f"/admin/catalog/image/{bad_id}/review/"),
        ("post", f"/admin/catalog/image/{bad_id}/review/"),
        ("get", f"/admin/catalog/image/{bad_id}/picture/"),
        ("get", f"/admin/annotator/worker/{bad_id}/gold.png"),
        ("post", f"/admin/annotator/worker/{bad_id}/trust/"),
        ("post", f"/admin/training/trainingrun/{bad_id}/cancel/"),
    ):
        response = getattr(admin_client, method)(url, {"action": "block", "reason": "x"} if method == "post" else None)
        assert response.status_code == 404, (method, url, response.status_code)
    # Django's own change page redirects (to the list, saying so); the extra worker figures must not break it.
    assert admin_client.get(f"/admin/annotator/worker/{bad_id}/change/").status_code in (302, 404)
