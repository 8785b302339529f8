"""The photo library: every stored image, and the source that found it.

An ``Image`` is a stored photo with its provenance; its pixels never change
after ingest (``catalog.ingest``). Its split is written only by
``catalog.splits``. A few fields keep the image's place in the annotation
workflow (``boxes_confirmed``, ``box_slots_taken``, ``box_annotators_pinned``, ``reported_count``): they
live on the row the task pool reads (one index, no join) and are written only
by the annotator's services.

The tables keep the names they had before this app owned them
(``scraper_source``, ``annotator_image``): the move changed no data.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from emotic.taxonomy import SPLITS


class SourceKind(models.TextChoices):
    SEARCH_ENGINE = "search_engine", "Search engine"
    DATASET = "dataset", "Research dataset"
    FOLDER = "folder", "Local folder"
    URL_LIST = "url_list", "URL list"
    BUNDLED = "bundled", "Bundled sample"


class Source(models.Model):
    """One origin of images: a search query on an engine, a dataset file, a folder or a URL list."""

    Kind = SourceKind

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=200, help_text="Human-readable label, e.g. 'COCO train2017'.")
    engine = models.CharField(max_length=50, blank=True, help_text="Search engine name, for search sources.")
    query = models.CharField(max_length=500, blank=True, help_text="Search query, for search sources.")
    dataset = models.CharField(max_length=50, blank=True, help_text="Dataset name: mscoco, ade20k, emotic.")
    location = models.CharField(max_length=1000, blank=True, help_text="File path or URL of the list, folder or dataset file.")
    config = models.JSONField(default=dict, blank=True, help_text="Parameters the source was run with.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "scraper_source"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=SourceKind.values),
                name="source_kind_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="search_engine") | (~models.Q(engine="") & ~models.Q(query="")),
                name="source_search_has_engine_and_query",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="dataset") | ~models.Q(dataset=""),
                name="source_dataset_named",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"



class ImageRejectReason(models.TextChoices):
    """Why the catalog would not store an image (the crawler adds its own fetch reasons to these)."""

    NOT_AN_IMAGE = "not_an_image", "Not an image"
    UNSUPPORTED_FORMAT = "unsupported_format", "Unsupported image format"
    TRUNCATED = "truncated", "Truncated or corrupt image"
    DECOMPRESSION_BOMB = "decompression_bomb", "Decompression bomb"
    TOO_SMALL = "too_small", "Image too small"
    TOO_LARGE = "too_large", "Download too large"
    INVALID_BOX = "invalid_box", "Person box outside the image"
    BAD_RECORD = "bad_record", "Malformed dataset record"


class Split(models.TextChoices):
    UNASSIGNED = "", "Unassigned"
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class Image(models.Model):
    """A stored photo with its provenance. Pixels never change after ingest."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="images")
    storage_key = models.CharField(max_length=500, unique=True, help_text="Key in the default storage.")
    sha256 = models.CharField(max_length=64, unique=True)
    phash = models.CharField(max_length=16, db_index=True, help_text="64-bit perceptual hash, hex.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=10, help_text="Decoded format, e.g. JPEG.")
    original_database = models.CharField(max_length=50, help_text="mscoco, ade20k, emotic, framesdb, web, ...")
    folder = models.CharField(max_length=200, blank=True, help_text="EMOTIC folder, e.g. mscoco/images.")
    filename = models.CharField(max_length=255)
    source_url = models.URLField(max_length=2000, blank=True, help_text="URL the image was downloaded from.")
    page_url = models.URLField(max_length=2000, blank=True, help_text="Page the image appeared on.")
    source_record = models.CharField(max_length=500, blank=True, help_text="Dataset record id or query.")
    license = models.CharField(max_length=300, blank=True, help_text="The licence as the source named it, or its name.")
    license_code = models.CharField(
        max_length=30, blank=True, help_text="The licence read into a code (emotic/licenses.py); 'unknown': the source gave none."
    )
    license_url = models.URLField(max_length=500, blank=True, help_text="Where the licence's terms are.")
    creator = models.CharField(max_length=300, blank=True, help_text="Who made the image, as the source says.")
    attribution = models.CharField(max_length=1000, blank=True, help_text="The credit line to publish with the image.")
    http_headers = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField()
    split = models.CharField(max_length=5, choices=Split.choices, blank=True, default=Split.UNASSIGNED)
    split_locked = models.BooleanField(default=False, help_text="An admin fixed this image's split.")
    reported_count = models.PositiveIntegerField(default=0)
    boxes_confirmed = models.BooleanField(
        default=False,
        help_text="The person boxes are final (stage 1 done, or a trusted import): emotion tasks may start.",
    )
    box_slots_taken = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Box answers plus live box assignments; kept under the row lock by the assignment service.",
    )
    box_annotators_pinned = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Box answers this image needs whatever the protocol now says: its box stage had begun when a "
        "change was applied to new work only (written by the annotator's protocol service).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "annotator_image"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(boxes_confirmed=False), name="image_awaiting_boxes"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(width__gt=0) & Q(height__gt=0), name="image_positive_size"),
            models.CheckConstraint(condition=Q(split__in=["", *SPLITS]), name="image_split_valid"),
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="image_sha256_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.folder}/{self.filename}" if self.folder else self.filename
