"""The photo library's models, moved here without moving data.

``Source`` came from the scraper app and ``Image`` from the annotator app.
Their tables keep their names (``scraper_source``, ``annotator_image``, set
as ``db_table``), so this migration changes only Django's state; their
content types (and with them admin permissions and log entries) move here.
"""

import django.db.models.deletion
from django.db import migrations, models

from config.model_moves import DEPENDENCIES as MOVE_DEPENDENCIES
from config.model_moves import MoveContentTypes


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("annotator", "0006_quality_models_to_quality_app"),
        ("scraper", "0003_crawljob_stalled_requeue"),
        *MOVE_DEPENDENCIES,
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Source',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('search_engine', 'Search engine'), ('dataset', 'Research dataset'), ('folder', 'Local folder'), ('url_list', 'URL list'), ('bundled', 'Bundled sample')], max_length=20)),
                        ('name', models.CharField(help_text="Human-readable label, e.g. 'COCO train2017'.", max_length=200)),
                        ('engine', models.CharField(blank=True, help_text='Search engine name, for search sources.', max_length=50)),
                        ('query', models.CharField(blank=True, help_text='Search query, for search sources.', max_length=500)),
                        ('dataset', models.CharField(blank=True, help_text='Dataset name: mscoco, ade20k, emotic.', max_length=50)),
                        ('location', models.CharField(blank=True, help_text='File path or URL of the list, folder or dataset file.', max_length=1000)),
                        ('config', models.JSONField(blank=True, default=dict, help_text='Parameters the source was run with.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'scraper_source',
                        'ordering': ['-created_at'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('kind__in', ['search_engine', 'dataset', 'folder', 'url_list', 'bundled'])), name='source_kind_valid'), models.CheckConstraint(condition=models.Q(models.Q(('kind', 'search_engine'), _negated=True), models.Q(models.Q(('engine', ''), _negated=True), models.Q(('query', ''), _negated=True)), _connector='OR'), name='source_search_has_engine_and_query'), models.CheckConstraint(condition=models.Q(models.Q(('kind', 'dataset'), _negated=True), models.Q(('dataset', ''), _negated=True), _connector='OR'), name='source_dataset_named')],
                    },
                ),
                migrations.CreateModel(
                    name='Image',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('storage_key', models.CharField(help_text='Key in the default storage.', max_length=500, unique=True)),
                        ('sha256', models.CharField(max_length=64, unique=True)),
                        ('phash', models.CharField(db_index=True, help_text='64-bit perceptual hash, hex.', max_length=16)),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('format', models.CharField(help_text='Decoded format, e.g. JPEG.', max_length=10)),
                        ('original_database', models.CharField(help_text='mscoco, ade20k, emotic, framesdb, web, ...', max_length=50)),
                        ('folder', models.CharField(blank=True, help_text='EMOTIC folder, e.g. mscoco/images.', max_length=200)),
                        ('filename', models.CharField(max_length=255)),
                        ('source_url', models.URLField(blank=True, help_text='URL the image was downloaded from.', max_length=2000)),
                        ('page_url', models.URLField(blank=True, help_text='Page the image appeared on.', max_length=2000)),
                        ('source_record', models.CharField(blank=True, help_text='Dataset record id or query.', max_length=500)),
                        ('license', models.CharField(blank=True, max_length=300)),
                        ('http_headers', models.JSONField(blank=True, default=dict)),
                        ('fetched_at', models.DateTimeField()),
                        ('split', models.CharField(blank=True, choices=[('', 'Unassigned'), ('train', 'Train'), ('val', 'Validation'), ('test', 'Test')], default='', max_length=5)),
                        ('split_locked', models.BooleanField(default=False, help_text="An admin fixed this image's split.")),
                        ('reported_count', models.PositiveIntegerField(default=0)),
                        ('boxes_confirmed', models.BooleanField(default=False, help_text='The person boxes are final (stage 1 done, or a trusted import): emotion tasks may start.')),
                        ('box_slots_taken', models.PositiveIntegerField(default=0, editable=False, help_text='Box answers plus live box assignments; kept under the row lock by the assignment service.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('source', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='images', to='catalog.source')),
                    ],
                    options={
                        'db_table': 'annotator_image',
                        'ordering': ['id'],
                        'indexes': [models.Index(condition=models.Q(('boxes_confirmed', False)), fields=['id'], name='image_awaiting_boxes')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('width__gt', 0), ('height__gt', 0)), name='image_positive_size'), models.CheckConstraint(condition=models.Q(('split__in', ['', 'train', 'val', 'test'])), name='image_split_valid'), models.CheckConstraint(condition=models.Q(('sha256__regex', '^[0-9a-f]{64}$')), name='image_sha256_hex')],
                    },
                ),
            ],
            database_operations=[],
        ),
        MoveContentTypes("scraper", "catalog", ["Source"]),
        MoveContentTypes("annotator", "catalog", ["Image"]),
    ]
