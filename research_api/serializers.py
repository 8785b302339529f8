"""What the researcher API reads (query filters), takes (request bodies) and answers (records).

Filters are checked like bodies: a bad value, or a parameter the endpoint
does not know, is a 400 naming it (``config/api_errors.py``'s one shape).
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from annotator.models import AnnotationStatus, Person
from catalog.models import Image
from emotic.taxonomy import SPLITS, mask_to_categories
from emotic_export.files import FORMATS
from emotic_export.models import DatasetSnapshot
from research_api.models import Scope
from research_api.pseudonyms import pseudonym
from scraper.models import CrawlJob
from training.models import TrainingRun

UNASSIGNED = "unassigned"  # the images not yet placed in a split (stored as "")
SPLIT_CHOICES = [*SPLITS, UNASSIGNED]


def stored_split(value: str | None) -> str | None:
    return "" if value == UNASSIGNED else value


def shown_split(value: str) -> str:
    return value or UNASSIGNED


# --- filters ---------------------------------------------------------------------------------------
class Filters(serializers.Serializer):
    """Query parameters: the pagination's (``cursor``, ``page_size``) and each endpoint's filters."""

    cursor = serializers.CharField(required=False, help_text="From the `next` or `previous` link of a page.")
    page_size = serializers.IntegerField(min_value=1, max_value=1000, required=False, help_text="100 by default.")

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: [f"is not a parameter of this endpoint (it takes: {', '.join(self.fields)})"]}
            )
        return attrs


class ImageFilters(Filters):
    split = serializers.ChoiceField(SPLIT_CHOICES, required=False)
    source = serializers.IntegerField(min_value=1, required=False, help_text="The id of the source the image came from.")
    original_database = serializers.CharField(max_length=50, required=False, help_text="mscoco, ade20k, emotic, web, ...")
    license_code = serializers.CharField(max_length=30, required=False)
    created_after = serializers.DateTimeField(required=False)


class PersonFilters(Filters):
    image = serializers.IntegerField(min_value=1, required=False)
    split = serializers.ChoiceField(SPLIT_CHOICES, required=False)
    box_status = serializers.ChoiceField(Person.BoxStatus.values, required=False)


class AnswerFilters(Filters):
    person = serializers.IntegerField(min_value=1, required=False)
    image = serializers.IntegerField(min_value=1, required=False)
    worker = serializers.CharField(
        max_length=40, required=False,
        help_text="The worker's pseudonym (a-...), or its id with the identify scope.",
    )
    status = serializers.ChoiceField(AnnotationStatus.values, required=False)
    split = serializers.ChoiceField(SPLIT_CHOICES, required=False)
    counted = serializers.BooleanField(
        required=False, default=False,
        help_text="true: only the answers that count (what figures and snapshots use: not rejected, not excluded, "
        "no blocked worker, no control item, final boxes).",
    )
    created_after = serializers.DateTimeField(required=False)


class PersonAgreementFilters(Filters):
    split = serializers.ChoiceField(SPLIT_CHOICES, required=False)


class SnapshotFilters(Filters):
    state = serializers.ChoiceField(DatasetSnapshot.State.values, required=False)


class RunFilters(Filters):
    state = serializers.ChoiceField(TrainingRun.State.values, required=False)
    snapshot = serializers.IntegerField(min_value=1, required=False)


class CrawlJobFilters(Filters):
    state = serializers.ChoiceField(CrawlJob.State.values, required=False)
    kind = serializers.ChoiceField(CrawlJob.Kind.values, required=False)


# --- requests --------------------------------------------------------------------------------------
class Strict(serializers.Serializer):
    """A body with a field this serializer does not know is refused, naming it."""

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({unknown[0]: ["is not a field of this request"]})
        return attrs


class StartSnapshot(Strict):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                 help_text="A slug; empty: emotic-v<version>.")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    formats = serializers.ListField(child=serializers.ChoiceField(FORMATS), required=False, default=list(FORMATS))
    ratios = serializers.DictField(child=serializers.FloatField(), required=False,
                                   help_text="Share of unplaced images per split, e.g. {\"train\": 0.7, \"val\": 0.1, \"test\": 0.2}.")
    seed = serializers.IntegerField(min_value=0, required=False, default=0)
    label_rule = serializers.CharField(required=False, default="union-mean", help_text="union-mean, majority or dawid-skene.")
    require_review = serializers.BooleanField(required=False, default=False)


class StartRun(Strict):
    snapshot = serializers.IntegerField(min_value=1, help_text="The id of a complete snapshot with npy or mat.")
    mode = serializers.ChoiceField(TrainingRun.Mode.values)
    hyperparameters = serializers.DictField(required=False, default=dict,
                                            help_text="epochs, batch_size, learning_rate, ... (training/core/hyperparameters.py).")


class StartCrawlJob(Strict):
    kind = serializers.ChoiceField(CrawlJob.Kind.values)
    params = serializers.DictField(help_text="As the admin's crawl form takes them (docs/scraper.md): path, engine, queries, limit, ...")


# --- records ---------------------------------------------------------------------------------------
class ImageRecord(serializers.ModelSerializer):
    source = serializers.IntegerField(source="source_id")
    split = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "source", "split", "width", "height", "format", "original_database", "folder", "filename",
                  "source_url", "page_url", "license", "license_code", "license_url", "creator", "attribution",
                  "created_at"]

    def get_split(self, image) -> str:
        return shown_split(image.split)


class PersonRecord(serializers.ModelSerializer):
    image = serializers.IntegerField(source="image_id")
    box = serializers.SerializerMethodField(help_text="[x1, y1, x2, y2) in pixels of the original image.")
    split = serializers.SerializerMethodField()

    class Meta:
        model = Person
        fields = ["id", "image", "split", "box", "box_origin", "box_status", "created_at"]

    def get_box(self, person) -> list[int]:
        return list(person.box)

    def get_split(self, person) -> str:
        return shown_split(person.image.split)


class AnswerRecord(serializers.Serializer):
    """The schema of an answer record (``answer_records`` makes them)."""

    id = serializers.IntegerField()
    person = serializers.IntegerField()
    image = serializers.IntegerField()
    split = serializers.ChoiceField(SPLIT_CHOICES)
    worker = serializers.CharField(help_text="The worker's pseudonym (a-...), or its id with the identify scope.")
    username = serializers.CharField(allow_null=True, help_text="Only with the identify scope; null otherwise.")
    categories = serializers.ListField(child=serializers.CharField())
    valence = serializers.IntegerField()
    arousal = serializers.IntegerField()
    dominance = serializers.IntegerField()
    gender = serializers.CharField()
    age = serializers.CharField()
    status = serializers.ChoiceField(AnnotationStatus.values)
    excluded = serializers.BooleanField()
    is_gold = serializers.BooleanField()
    seconds_spent = serializers.FloatField()
    created_at = serializers.DateTimeField()


# What an answer record is made of: plain values, so a page of 1,000 costs no model instance or field object.
ANSWER_COLUMNS = ("id", "person_id", "person__image_id", "person__image__split", "worker_id", "worker__user__username",
                  "categories_mask", "valence", "arousal", "dominance", "gender", "age", "status", "excluded", "is_gold",
                  "seconds_spent", "created_at")


def answer_records(rows, *, identify: bool) -> list[dict]:
    """``AnswerRecord``s of rows of ``ANSWER_COLUMNS``; each worker's pseudonym is computed once a page."""
    names: dict[int, str] = {}
    records = []
    for row in rows:
        worker_id = row["worker_id"]
        if worker_id not in names:
            names[worker_id] = str(worker_id) if identify else pseudonym(worker_id)
        records.append({
            "id": row["id"], "person": row["person_id"], "image": row["person__image_id"],
            "split": shown_split(row["person__image__split"]), "worker": names[worker_id],
            "username": row["worker__user__username"] if identify else None,
            "categories": mask_to_categories(row["categories_mask"]),
            **{name: row[name] for name in ("valence", "arousal", "dominance", "gender", "age", "status", "excluded",
                                            "is_gold", "seconds_spent", "created_at")},
        })
    return records


class PersonAgreementRecord(serializers.Serializer):
    person = serializers.IntegerField(source="person_id")
    image = serializers.IntegerField(source="person.image_id")
    split = serializers.SerializerMethodField()
    annotators = serializers.IntegerField()
    fleiss_kappa = serializers.FloatField(allow_null=True)
    valence_std = serializers.FloatField(allow_null=True)
    arousal_std = serializers.FloatField(allow_null=True)
    dominance_std = serializers.FloatField(allow_null=True)
    union = serializers.SerializerMethodField(help_text="Categories any annotator chose (EMOTIC's combined label).")
    majority = serializers.SerializerMethodField()
    dawid_skene = serializers.SerializerMethodField()
    computed_at = serializers.DateTimeField()

    def get_split(self, row) -> str:
        return shown_split(row.person.image.split)

    def get_union(self, row) -> list[str]:
        return mask_to_categories(row.union_mask)

    def get_majority(self, row) -> list[str]:
        return mask_to_categories(row.majority_mask)

    def get_dawid_skene(self, row) -> list[str] | None:
        return None if row.dawid_skene_mask is None else mask_to_categories(row.dawid_skene_mask)


class DatasetFigures(serializers.Serializer):
    computed_at = serializers.DateTimeField(allow_null=True, help_text="When the last full recomputation ran; null: never.")
    figures = serializers.DictField(help_text="By scope (all, train, val, test, unassigned): kappa, alpha, VAD spread, ...")


class SnapshotRecord(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(help_text="Where the archive is (with the token); null until complete.")

    class Meta:
        model = DatasetSnapshot
        fields = ["id", "name", "version", "description", "state", "progress", "error", "formats", "split_ratios",
                  "split_seed", "label_rule", "require_review", "counts", "agreement", "manifest_sha256",
                  "created_at", "completed_at", "download_url"]

    def get_download_url(self, snapshot) -> str | None:
        if snapshot.state != DatasetSnapshot.State.COMPLETE or not snapshot.archive_key:
            return None
        return self.context["request"].build_absolute_uri(reverse("research-api:snapshot-archive", args=[snapshot.pk]))


class RunRecord(serializers.ModelSerializer):
    snapshot = serializers.IntegerField(source="snapshot_id")

    class Meta:
        model = TrainingRun
        fields = ["id", "snapshot", "mode", "hyperparameters", "state", "epoch", "step", "last_loss", "best_val_map",
                  "history", "metrics", "error", "cancel_requested", "created_at", "started_at", "finished_at"]


class CrawlJobRecord(serializers.ModelSerializer):
    class Meta:
        model = CrawlJob
        fields = ["id", "kind", "params", "state", "error", "found", "fetched", "stored", "exact_duplicates",
                  "near_duplicates", "rejected", "rejected_by_reason", "degraded_sources", "created_by", "created_at",
                  "started_at", "finished_at"]


SCOPES_HELP = ", ".join(f"`{scope}`: {label}" for scope, label in Scope.choices)
