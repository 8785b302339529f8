"""Link the people drawn before 0004 to the box answer they came from; exclude a blocked drawer's.

A data migration of its own: on PostgreSQL, rows changed in the migration that
adds the column would leave trigger events pending when its index is created.
"""

from django.db import migrations
from django.db.models import Count, OuterRef, Subquery


def link_box_answers(apps, schema_editor):
    """People drawn by one worker before this migration: link them to that answer; exclude a blocked drawer's.

    As ``settle_image_boxes`` decides: a worker-drawn person of an image with
    exactly one counted (non-gold, not excluded) box answer came from it. The
    people of workers blocked now are excluded and their images reopened, as
    blocking does from here on (the slot recount beat puts them back in the pool).
    """
    Person = apps.get_model("annotator", "Person")
    BoxAnnotation = apps.get_model("annotator", "BoxAnnotation")
    Image = apps.get_model("annotator", "Image")
    counted = BoxAnnotation.objects.filter(image_id=OuterRef("image_id"), is_gold=False, excluded=False).order_by()
    answers = Subquery(counted.values("image_id").annotate(n=Count("pk")).values("n")[:1])
    unlinked = Person.objects.filter(box_origin="worker", box_answer__isnull=True).annotate(answers=answers)
    ids = list(unlinked.filter(answers=1).values_list("pk", flat=True))
    Person.objects.filter(pk__in=ids).update(box_answer_id=Subquery(counted.order_by("pk").values("pk")[:1]))
    drawn_by_blocked = Person.objects.filter(box_answer__worker__is_blocked=True, box_status="final")
    image_ids = set(drawn_by_blocked.values_list("image_id", flat=True))
    drawn_by_blocked.update(box_status="excluded")
    Image.objects.filter(pk__in=image_ids).update(boxes_confirmed=False)


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0004_person_box_status"),
    ]

    operations = [
        migrations.RunPython(link_box_answers, migrations.RunPython.noop),
    ]
