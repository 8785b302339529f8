"""Quality left the annotator app without moving data: rows written before the move are read after it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User as UserNow
from django.contrib.contenttypes.models import ContentType as ContentTypeNow
from django.utils import timezone

from quality.models import PersonAgreement, QualityReport, WorkerTrustEvent

BEFORE = [
    ("annotator", "0005_link_person_box_answers"), ("scraper", "0003_crawljob_stalled_requeue"),
    ("contenttypes", "0002_remove_content_type_name"), ("auth", "0012_alter_user_first_name_max_length"),
]
AFTER = [("quality", "0001_initial")]
MOVED = ("personagreement", "qualityreport", "workertrustevent")


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_the_quality_apps_after_it(migrator):
    old = migrator(BEFORE)
    User, Worker, Person = (old.get_model(*name) for name in (("auth", "User"), ("annotator", "Worker"), ("annotator", "Person")))
    Source, Image = old.get_model("scraper", "Source"), old.get_model("annotator", "Image")
    ContentType, Permission = old.get_model("contenttypes", "ContentType"), old.get_model("auth", "Permission")
    assert set(ContentType.objects.filter(app_label="annotator", model__in=MOVED).values_list("model", flat=True)) == set(MOVED)

    source = Source.objects.create(kind="folder", name="m", location="/m")
    image = Image.objects.create(
        source=source, storage_key="images/1.jpg", sha256="1" * 64, phash="0" * 16, width=100, height=100,
        format="JPEG", original_database="web", filename="1.jpg", fetched_at=timezone.now(),
    )
    person = Person.objects.create(image=image, x1=1, y1=1, x2=50, y2=50, image_width=100, image_height=100,
                                   box_origin="imported")
    admin_user = User.objects.create(username="reviewer", is_staff=True)
    worker = Worker.objects.create(user=User.objects.create(username="w"), qualification="qualified", is_blocked=True)
    old.get_model("annotator", "PersonAgreement").objects.create(
        person=person, annotators=3, fleiss_kappa=0.25, union_mask=5, majority_mask=1, computed_at=timezone.now())
    report = old.get_model("annotator", "QualityReport").objects.create(trigger="admin", figures={"all": {"people": 1}})
    event = old.get_model("annotator", "WorkerTrustEvent").objects.create(
        worker=worker, kind="blocked", reason="copied answers", by=admin_user)
    view_reports = Permission.objects.get(content_type__app_label="annotator", codename="view_qualityreport")
    admin_user.user_permissions.add(view_reports)

    migrator(AFTER)
    agreement = PersonAgreement.objects.get(person_id=person.pk)
    assert (agreement.annotators, agreement.fleiss_kappa, agreement.union_mask) == (3, 0.25, 5)
    assert QualityReport.objects.get(pk=report.pk).figures == {"all": {"people": 1}}
    assert WorkerTrustEvent.objects.get(pk=event.pk).reason == "copied answers"
    assert {PersonAgreement._meta.db_table, QualityReport._meta.db_table, WorkerTrustEvent._meta.db_table} == {
        f"annotator_{name}" for name in MOVED}
    # The content types moved with the models, so the permissions granted before still apply.
    ContentTypeNow.objects.clear_cache()
    assert set(ContentTypeNow.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) == {"quality"}
    assert UserNow.objects.get(pk=admin_user.pk).has_perm("quality.view_qualityreport")
