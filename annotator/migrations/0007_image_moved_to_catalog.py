"""People, tasks, answers and gold items point at the catalog's Image; the annotator's Image leaves (its table stays)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("annotator", "0006_quality_models_to_quality_app"),
        ("catalog", "0001_initial"),
        ("scraper", "0004_crawl_items_point_at_the_catalog"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='taskassignment',
                    name='image',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='assignments', to='catalog.image'),
                ),
                migrations.AlterField(
                    model_name='boxannotation',
                    name='image',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='box_annotations', to='catalog.image'),
                ),
                migrations.AlterField(
                    model_name='golditem',
                    name='image',
                    field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='gold', to='catalog.image'),
                ),
                migrations.AlterField(
                    model_name='person',
                    name='image',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='people', to='catalog.image'),
                ),
                migrations.DeleteModel(
                    name='Image',
                ),
            ],
            database_operations=[],
        ),
    ]
