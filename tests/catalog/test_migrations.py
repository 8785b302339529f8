"""The photo library took Source and Image over without moving data: rows written before are read after, and back."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from annotator.models import Person
from catalog.models import Image, Source
from scraper.models import CrawlItem

BEFORE = [
    ("annotator", "0006_quality_models_to_quality_app"), ("scraper", "0003_crawljob_stalled_requeue"),
    ("contenttypes", "0002_remove_content_type_name"), ("auth", "0012_alter_user_first_name_max_length"),
    ("admin", "0003_logentry_add_action_flag_choices"), ("catalog", None),
]


def labels() -> dict[str, str]:
    ContentType.objects.clear_cache()
    return dict(ContentType.objects.filter(model__in=("image", "source")).values_list("model", "app_label"))


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_are_the_catalogs_after_it_and_the_move_reverses(migrator):
    old = migrator(BEFORE)
    OldUser, OldPermission = old.get_model("auth", "User"), old.get_model("auth", "Permission")
    OldSource, OldImage = old.get_model("scraper", "Source"), old.get_model("annotator", "Image")
    assert labels() == {"image": "annotator", "source": "scraper"}
    source = OldSource.objects.create(kind="dataset", name="coco", dataset="mscoco", location="/data/coco.json")
    image = OldImage.objects.create(
        source=source, storage_key="images/ab/1.jpg", sha256="a" * 64, phash="0" * 16, width=640, height=480,
        format="JPEG", original_database="mscoco", folder="mscoco/images", filename="1.jpg", fetched_at=timezone.now(),
        split="val", split_locked=True, boxes_confirmed=True,
    )
    person = old.get_model("annotator", "Person").objects.create(
        image=image, x1=1, y1=2, x2=100, y2=200, image_width=640, image_height=480, box_origin="imported")
    job = old.get_model("scraper", "CrawlJob").objects.create(kind="coco", params={}, source=source)
    item = old.get_model("scraper", "CrawlItem").objects.create(
        job=job, source=source, key="1", position=0, local_path="/data/1.jpg", original_database="mscoco",
        state="stored", image=image)
    curator = OldUser.objects.create(username="curator", is_staff=True)
    curator.user_permissions.add(OldPermission.objects.get(content_type__app_label="annotator", codename="change_image"))
    image_type = old.get_model("contenttypes", "ContentType").objects.get(app_label="annotator", model="image")
    old.get_model("admin", "LogEntry").objects.create(
        user_id=curator.pk, content_type_id=image_type.pk, object_id=str(image.pk), object_repr="1.jpg", action_flag=2)

    migrator(None)  # the latest migrations
    moved = Image.objects.get(pk=image.pk)
    assert (moved.source, moved.split, moved.split_locked, moved.boxes_confirmed) == (
        Source.objects.get(pk=source.pk), "val", True, True)
    assert Person.objects.get(pk=person.pk).image == moved
    assert CrawlItem.objects.get(pk=item.pk).image == moved and CrawlItem.objects.get(pk=item.pk).source.dataset == "mscoco"
    assert (Image._meta.db_table, Source._meta.db_table) == ("annotator_image", "scraper_source")
    assert labels() == {"image": "catalog", "source": "catalog"}
    assert User.objects.get(pk=curator.pk).has_perm("catalog.change_image")
    assert LogEntry.objects.get(object_id=str(image.pk)).content_type == ContentType.objects.get_for_model(Image)

    back = migrator(BEFORE)  # and back again: the state moves, the rows stay
    assert back.get_model("annotator", "Image").objects.get(pk=image.pk).filename == "1.jpg"
    assert labels() == {"image": "annotator", "source": "scraper"}


@pytest.mark.django_db(databases=["default", "sqlite"], transaction=True)
def test_the_moves_reverse_and_apply_again_on_sqlite():
    """The demo's database: the state-only moves and the content type moves run both ways there too."""
    from io import StringIO

    from django.core.management import call_command
    from django.db import connections

    out = StringIO()
    call_command("migrate", "catalog", "zero", database="sqlite", stdout=out, verbosity=1)
    with connections["sqlite"].cursor() as cursor:
        cursor.execute("SELECT app_label FROM django_content_type WHERE model = 'image'")
        assert [row[0] for row in cursor.fetchall()] == ["annotator"]
        assert "annotator_image" in connections["sqlite"].introspection.table_names(cursor)  # the table stays
    call_command("migrate", database="sqlite", stdout=out, verbosity=1)
    with connections["sqlite"].cursor() as cursor:
        cursor.execute("SELECT app_label FROM django_content_type WHERE model = 'image'")
        assert [row[0] for row in cursor.fetchall()] == ["catalog"]
    assert "Unapplying catalog.0001_initial... OK" in out.getvalue() and "Applying catalog.0001_initial... OK" in out.getvalue()
