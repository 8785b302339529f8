"""Crawl jobs and items point at the catalog's Source and Image (the same tables: no data changes)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("scraper", "0003_crawljob_stalled_requeue"),
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='crawljob',
                    name='source',
                    field=models.ForeignKey(blank=True, help_text='The source of an import; a search job has one source per query instead.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='catalog.source'),
                ),
                migrations.AlterField(
                    model_name='crawlitem',
                    name='source',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='crawl_items', to='catalog.source'),
                ),
                migrations.AlterField(
                    model_name='crawlitem',
                    name='image',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='crawl_items', to='catalog.image'),
                ),
            ],
            database_operations=[],
        ),
    ]
