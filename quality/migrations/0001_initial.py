"""The quality figures' models, moved here from ``annotator`` without moving data.

The tables keep their names (``annotator_*``, set as ``db_table``), so this
migration changes only Django's state; their content types (and with them
the admin permissions and log entries) move to this app.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from config.model_moves import DEPENDENCIES as MOVE_DEPENDENCIES
from config.model_moves import MoveContentTypes


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("annotator", "0006_quality_models_to_quality_app"),
        *MOVE_DEPENDENCIES,
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='PersonAgreement',
                    fields=[
                        ('person', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='agreement', serialize=False, to='annotator.person')),
                        ('annotators', models.PositiveSmallIntegerField(help_text='Counted answers.')),
                        ('fleiss_kappa', models.FloatField(blank=True, help_text='Over the 26 category decisions (TPAMI).', null=True)),
                        ('valence_std', models.FloatField(blank=True, null=True)),
                        ('arousal_std', models.FloatField(blank=True, null=True)),
                        ('dominance_std', models.FloatField(blank=True, null=True)),
                        ('union_mask', models.PositiveIntegerField(default=0, help_text="Categories any annotator chose (EMOTIC's rule).")),
                        ('majority_mask', models.PositiveIntegerField(default=0, help_text='Categories more than half chose.')),
                        ('dawid_skene_mask', models.PositiveIntegerField(blank=True, null=True)),
                        ('computed_at', models.DateTimeField()),
                    ],
                    options={
                        'db_table': 'annotator_personagreement',
                        'verbose_name': 'person agreement',
                        'ordering': ['person_id'],
                        'indexes': [models.Index(fields=['fleiss_kappa'], name='person_agreement_kappa')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('fleiss_kappa__isnull', True), ('fleiss_kappa__lte', 1), _connector='OR'), name='person_agreement_kappa_max'), models.CheckConstraint(condition=models.Q(('valence_std__isnull', True), ('valence_std__gte', 0), _connector='OR'), name='person_agreement_valence_std_nonnegative'), models.CheckConstraint(condition=models.Q(('arousal_std__isnull', True), ('arousal_std__gte', 0), _connector='OR'), name='person_agreement_arousal_std_nonnegative'), models.CheckConstraint(condition=models.Q(('dominance_std__isnull', True), ('dominance_std__gte', 0), _connector='OR'), name='person_agreement_dominance_std_nonnegative'), models.CheckConstraint(condition=models.Q(('union_mask__lte', 67108863), ('majority_mask__lte', 67108863), models.Q(('dawid_skene_mask__isnull', True), ('dawid_skene_mask__lte', 67108863), _connector='OR')), name='person_agreement_masks_in_range')],
                    },
                ),
                migrations.CreateModel(
                    name='QualityReport',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('trigger', models.CharField(choices=[('schedule', 'Periodic task'), ('admin', 'Started by an admin'), ('command', 'Command line or shell')], default='schedule', max_length=10)),
                        ('figures', models.JSONField(default=dict)),
                        ('workers_blocked', models.PositiveIntegerField(default=0, help_text='Blocked automatically by this run.')),
                        ('seconds', models.FloatField(default=0, help_text='How long the recomputation took.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'annotator_qualityreport',
                        'verbose_name': 'quality report',
                        'verbose_name_plural': 'quality dashboard',
                        'ordering': ['-created_at', '-id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('trigger__in', ['schedule', 'admin', 'command'])), name='quality_report_trigger_valid')],
                    },
                ),
                migrations.CreateModel(
                    name='WorkerTrustEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('blocked', 'Blocked'), ('unblocked', 'Unblocked')], max_length=10)),
                        ('automatic', models.BooleanField(default=False)),
                        ('reason', models.CharField(blank=True, max_length=300)),
                        ('gold_accuracy', models.FloatField(blank=True, help_text='Over the gold window, when it happened.', null=True)),
                        ('annotations_changed', models.PositiveIntegerField(default=0, help_text='Answers excluded or restored.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                        ('worker', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='trust_events', to='annotator.worker')),
                    ],
                    options={
                        'db_table': 'annotator_workertrustevent',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['worker', 'kind', 'created_at'], name='trust_event_worker_kind')],
                        'constraints': [models.CheckConstraint(condition=models.Q(('kind__in', ['blocked', 'unblocked'])), name='trust_event_kind_valid'), models.CheckConstraint(condition=models.Q(('kind', 'unblocked'), ('automatic', True), _negated=True), name='trust_event_unblock_by_admin')],
                    },
                ),
            ],
            database_operations=[],
        ),
        MoveContentTypes("annotator", "quality", ["PersonAgreement", "QualityReport", "WorkerTrustEvent"]),
    ]
