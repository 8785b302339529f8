# Merges the protocol versions (issue 18) and the worker flow (issue 14): both changed TaskAssignment.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0011_protocol_versions'),
        ('annotator', '0011_task_ahead_attempts_api_access'),
    ]

    operations = [
    ]
