"""The scraper's Source leaves for the catalog (its table stays)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("scraper", "0004_crawl_items_point_at_the_catalog"),
        ("annotator", "0007_image_moved_to_catalog"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='Source',
                ),
            ],
            database_operations=[],
        ),
    ]
