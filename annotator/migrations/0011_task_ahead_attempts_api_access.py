# Issue 14: tasks handed out ahead (started_at), qualification attempts, API access granted by an admin.

from django.db import migrations, models
from django.db.models import F, Q


def existing_rows(apps, schema_editor):
    """Tasks made before were current from the start; qualification items so far belong to the first attempt."""
    TaskAssignment = apps.get_model("annotator", "TaskAssignment")
    TaskAssignment.objects.update(started_at=F("assigned_at"))
    TaskAssignment.objects.filter(is_qualification=True).update(attempt=1)


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0010_worker_bounded"),
    ]

    operations = [
        migrations.AddField(
            model_name="worker",
            name="qualification_attempt",
            field=models.PositiveSmallIntegerField(
                default=1, editable=False,
                help_text="The qualification test's attempt in progress (or the last one): a retry or an admin's reset starts the next, whose items are counted on their own.",
            ),
        ),
        migrations.AddField(
            model_name="worker",
            name="qualification_retry_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True,
                help_text="A failed worker with attempts left may start the next attempt from this time; empty: no retry.",
            ),
        ),
        migrations.AddField(
            model_name="worker",
            name="api_access",
            field=models.BooleanField(
                default=False,
                help_text="An admin granted this worker API tokens (an approved integration). Off: no token can be made, and existing ones are refused.",
            ),
        ),
        migrations.AddField(
            model_name="taskassignment",
            name="attempt",
            field=models.PositiveSmallIntegerField(
                default=0, db_default=0,
                help_text="The qualification attempt a qualification item belongs to (1, 2, ...); 0 for every other task.",
            ),
        ),
        migrations.AddField(
            model_name="taskassignment",
            name="started_at",
            field=models.DateTimeField(
                blank=True, null=True,
                help_text="When it became the worker's current task; empty while it is handed out ahead of the current one.",
            ),
        ),
        migrations.RunPython(existing_rows, migrations.RunPython.noop),
        # "Once per worker" becomes once per worker, attempt and control repeat in 0013, after the
        # protocol's migration beside this one has changed the same constraints.
        migrations.AddConstraint(
            model_name="taskassignment",
            constraint=models.CheckConstraint(
                condition=(Q(is_qualification=True) & Q(attempt__gte=1)) | (Q(is_qualification=False) & Q(attempt=0)),
                name="assignment_attempt_iff_qualification",
            ),
        ),
        # The answers' "once per worker" constraints become conditional on is_gold=False in
        # 0011_protocol_versions, made beside this one: both need it, and one change is made once.
    ]
