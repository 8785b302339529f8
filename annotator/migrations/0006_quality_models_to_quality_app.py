"""The quality figures' models leave this app for ``quality``; their tables stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0005_link_person_box_answers"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="PersonAgreement"),
                migrations.DeleteModel(name="QualityReport"),
                migrations.DeleteModel(name="WorkerTrustEvent"),
            ],
            database_operations=[],
        ),
    ]
