"""Data migrations, run forward on rows written in the schema before them."""

from __future__ import annotations

import pytest
from django.utils import timezone

BEFORE = [("annotator", "0003_quality_agreement_reports_trust")]
AFTER = [("annotator", "0005_link_person_box_answers")]


@pytest.mark.django_db(transaction=True)
def test_box_status_migration_links_one_worker_boxes_and_excludes_a_blocked_drawers(migrator):
    old = migrator(BEFORE)
    User, Worker = old.get_model("auth", "User"), old.get_model("annotator", "Worker")
    Source, Image = old.get_model("scraper", "Source"), old.get_model("annotator", "Image")
    Person, BoxAnnotation = old.get_model("annotator", "Person"), old.get_model("annotator", "BoxAnnotation")
    source = Source.objects.create(kind="folder", name="m", location="/m")

    def image(n):
        return Image.objects.create(
            source=source, storage_key=f"images/{n}.jpg", sha256=f"{n:064x}", phash="0" * 16, width=100, height=100,
            format="JPEG", original_database="web", filename=f"{n}.jpg", fetched_at=timezone.now(), boxes_confirmed=True,
        )

    def worker(name, blocked=False):
        return Worker.objects.create(user=User.objects.create(username=name), qualification="qualified", is_blocked=blocked)

    def person(img, origin="worker"):
        return Person.objects.create(image=img, x1=1, y1=1, x2=50, y2=50, image_width=100, image_height=100,
                                     box_origin=origin)

    good, bad, other = worker("good"), worker("bad", blocked=True), worker("other")
    alone, by_blocked, two, imported = image(1), image(2), image(3), image(4)
    answer = BoxAnnotation.objects.create(image=alone, worker=good, boxes=[[1, 1, 50, 50]])
    BoxAnnotation.objects.create(image=by_blocked, worker=bad, boxes=[[1, 1, 50, 50]])
    BoxAnnotation.objects.create(image=two, worker=good, boxes=[[1, 1, 50, 50]])
    BoxAnnotation.objects.create(image=two, worker=other, boxes=[[1, 1, 50, 50]])
    people = {"alone": person(alone), "blocked": person(by_blocked), "two": person(two, "consensus"),
              "imported": person(imported, "imported")}

    new = migrator(AFTER)
    Person, Image = new.get_model("annotator", "Person"), new.get_model("annotator", "Image")
    after = {name: Person.objects.get(pk=p.pk) for name, p in people.items()}
    assert after["alone"].box_answer_id == answer.pk and after["alone"].box_status == "final"
    assert after["blocked"].box_answer.worker_id == bad.pk and after["blocked"].box_status == "excluded"
    assert not Image.objects.get(pk=by_blocked.pk).boxes_confirmed
    assert after["two"].box_answer_id is None and after["imported"].box_answer_id is None
    assert {after[n].box_status for n in ("alone", "two", "imported")} == {"final"}
    assert Image.objects.get(pk=alone.pk).boxes_confirmed


@pytest.mark.django_db(transaction=True)
def test_the_importers_accounts_become_original_workers_and_every_name_is_recorded(migrator):
    old = migrator([("annotator", "0007_image_moved_to_catalog")])
    User, Worker = old.get_model("auth", "User"), old.get_model("annotator", "Worker")
    made_by_importer = User.objects.create(username="emotic-original-3", is_active=False, password="!unusable")
    squatter = User.objects.create(username="emotic-original-1", is_active=True, password="md5$x$y")
    person = User.objects.create(username="Alice", password="md5$x$y")
    for user in (made_by_importer, squatter, person):
        Worker.objects.create(user=user, qualification="qualified")

    new = migrator([("annotator", "0008_accounts_original_workers_and_name_skeletons")])
    Worker, AccountName = new.get_model("annotator", "Worker"), new.get_model("annotator", "AccountName")
    kinds = {w.user_id: (w.kind, w.original_number) for w in Worker.objects.all()}
    assert kinds == {made_by_importer.pk: ("original", 3), squatter.pk: ("crowd", None), person.pk: ("crowd", None)}
    assert AccountName.objects.get(user_id=person.pk).skeleton_folded == "alice"
    assert AccountName.objects.count() == 3
