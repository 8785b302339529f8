"""Crawl jobs and the items they find. Images and their sources belong to the catalog."""

from django.db import models

from catalog.models import Image, ImageRejectReason, Source


# Why an item was not stored, counted per job (the item keeps the detail): the
# catalog's reasons for refusing an image, then the crawler's own.
RejectReason = models.TextChoices(
    "RejectReason",
    [
        *((reason.name, (reason.value, reason.label)) for reason in ImageRejectReason),
        ("HTTP_ERROR", ("http_error", "HTTP client error")),
        ("SERVER_ERROR", ("server_error", "HTTP server error")),
        ("RATE_LIMITED", ("rate_limited", "Rate limited (429)")),
        ("TIMEOUT", ("timeout", "Timed out")),
        ("CONNECTION_ERROR", ("connection_error", "Connection failed")),
        ("ROBOTS_TXT", ("robots_txt", "Disallowed by robots.txt")),
        ("X_ROBOTS_TAG", ("x_robots_tag", "Refused by X-Robots-Tag")),
        ("PRIVATE_ADDRESS", ("private_address", "Private or loopback address")),
        ("BAD_URL", ("bad_url", "Malformed URL")),
        ("NO_IMAGE_URL", ("no_image_url", "Result without an image URL")),
        ("LICENSE_NOT_ALLOWED", ("license_not_allowed", "Licence not allowed by the job")),
        ("LICENSE_UNKNOWN", ("license_unknown", "Licence unknown (refused by the setting)")),
        ("LICENSE_UNPARSEABLE", ("license_unparseable", "Licence not readable")),
        ("MISSING_FILE", ("missing_file", "File not found")),
        ("GAVE_UP", ("gave_up", "Too many attempts")),
    ],
)


# Refused at the door for their licence (a job's "refused for licence" count).
LICENSE_REJECT_REASONS = ("license_not_allowed", "license_unknown", "license_unparseable")

# Failures worth another try when a job is re-run.
TRANSIENT_REJECT_REASONS = frozenset(
    {RejectReason.SERVER_ERROR, RejectReason.RATE_LIMITED, RejectReason.TIMEOUT, RejectReason.CONNECTION_ERROR, RejectReason.GAVE_UP}
)


class CrawlJob(models.Model):
    """A crawl or an import: its parameters, where it stands, and its counts.

    Items are discovered first (search result pages, dataset records) and
    then fetched and ingested in chunks; both phases resume from what is
    stored, so a restarted worker or a re-run skips what is done.
    """

    class Kind(models.TextChoices):
        SEARCH = "search", "Search engine"
        COCO = "coco", "MS COCO instances JSON"
        ADE20K = "ade20k", "ADE20K index"
        EMOTIC = "emotic", "EMOTIC Annotations.mat"
        FOLDER = "folder", "Local folder"
        URLS = "urls", "URL list"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DEGRADED = "degraded", "Finished, but a source failed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    params = models.JSONField(default=dict, help_text="What the job was started with (engine, queries, path, limit).")
    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        help_text="The source of an import; a search job has one source per query instead.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    discovery_cursor = models.JSONField(default=dict, blank=True, help_text="Where discovery resumes.")
    discovery_done = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="Why the job failed, naming the argument or record.")
    page_errors = models.JSONField(default=list, blank=True, help_text="Result pages that could not be read.")
    degraded_sources = models.JSONField(
        default=dict,
        blank=True,
        help_text="Search sources stopped in this job: {name: {reason, detail, sample, at}}. Resuming asks them again.",
    )
    # Counts, recomputed from the items after every chunk (so retries never double-count).
    found = models.PositiveIntegerField(default=0)
    fetched = models.PositiveIntegerField(default=0)
    stored = models.PositiveIntegerField(default=0)
    exact_duplicates = models.PositiveIntegerField(default=0)
    near_duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rejected_by_reason = models.JSONField(default=dict, blank=True)
    run_by_workers = models.BooleanField(
        default=False, help_text="Queued for the Celery workers, not run in a terminal: if it stalls, it is queued again."
    )
    stalled_requeues = models.PositiveIntegerField(
        default=0, help_text="Times its next step was queued again because no worker was moving it (a worker died)."
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["search", "coco", "ade20k", "emotic", "folder", "urls"]),
                name="crawljob_kind_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "running", "done", "degraded", "failed", "cancelled"]),
                name="crawljob_state_valid",
            ),
        ]

    @property
    def refused_for_license(self) -> int:
        return sum(self.rejected_by_reason.get(reason, 0) for reason in LICENSE_REJECT_REASONS)

    @property
    def processed(self) -> int:
        return self.stored + self.exact_duplicates + self.near_duplicates + self.rejected

    @property
    def progress(self) -> float:
        """Share of discovered items that are finished, 0..1 (0 before discovery ends)."""
        if not self.found:
            return 1.0 if self.discovery_done else 0.0
        return min(1.0, self.processed / self.found)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job #{self.pk} ({self.state})"


class CrawlItem(models.Model):
    """One image a job found: where it comes from, and what became of it.

    Also the provenance record of every sighting: an image found again by
    another source keeps an item pointing at the stored image.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        STORED = "stored", "Stored"
        EXACT_DUPLICATE = "exact_duplicate", "Exact duplicate"
        NEAR_DUPLICATE = "near_duplicate", "Near duplicate"
        REJECTED = "rejected", "Rejected"

    job = models.ForeignKey(CrawlJob, on_delete=models.CASCADE, related_name="items")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="crawl_items")
    key = models.CharField(max_length=500, help_text="Unique within the job: the image URL or the dataset record.")
    position = models.PositiveIntegerField(help_text="Order of discovery (search rank, record index).")
    image_url = models.URLField(max_length=2000, blank=True)
    local_path = models.CharField(max_length=1000, blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    title = models.CharField(max_length=500, blank=True)
    query = models.CharField(max_length=500, blank=True)
    source_record = models.CharField(max_length=500, blank=True)
    license = models.CharField(max_length=300, blank=True)
    license_code = models.CharField(max_length=30, blank=True, help_text="The licence read into a code (emotic/licenses.py).")
    license_url = models.URLField(max_length=500, blank=True)
    creator = models.CharField(max_length=300, blank=True)
    attribution = models.CharField(max_length=1000, blank=True)
    original_database = models.CharField(max_length=50)
    folder = models.CharField(max_length=200, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    people = models.JSONField(default=list, blank=True, help_text="Imported person boxes [[x1, y1, x2, y2], ...].")
    annotations = models.JSONField(default=list, blank=True, help_text="Imported answers per person, for EMOTIC.")
    extra = models.JSONField(default=dict, blank=True, help_text="Query template parts, dataset fields.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=30, choices=RejectReason.choices, blank=True)
    detail = models.CharField(max_length=1000, blank=True)
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="crawl_items")
    http_headers = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds the item until then.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job_id", "position"]
        indexes = [models.Index(fields=["job", "state", "position"], name="crawlitem_job_state")]
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="crawlitem_unique_key_per_job"),
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "stored", "exact_duplicate", "near_duplicate", "rejected"]),
                name="crawlitem_state_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="rejected") | ~models.Q(reason=""), name="crawlitem_rejection_has_reason"
            ),
            models.CheckConstraint(
                condition=~models.Q(image_url="") | ~models.Q(local_path="") | models.Q(state="rejected"),
                name="crawlitem_has_location",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class SearchSourceStatus(models.Model):
    """How a search source last fared: working, or degraded with the reason and a sample of what it answered.

    One row per source, written by ``scraper.services.source_health`` when a
    job stops the source and when it gives results again. Whether a source can
    be used at all (its key) is read from the settings when shown.
    """

    class State(models.TextChoices):
        WORKING = "working", "Working"
        DEGRADED = "degraded", "Degraded"

    engine = models.CharField(max_length=50, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WORKING)
    reason = models.CharField(max_length=50, blank=True)
    detail = models.TextField(blank=True)
    sample = models.TextField(blank=True, help_text="The start of what the source answered when it was stopped.")
    job = models.ForeignKey(CrawlJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    degraded_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["engine"]
        verbose_name = "search source"
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=["working", "degraded"]), name="searchsourcestatus_state_valid"),
        ]

    def __str__(self) -> str:
        return self.engine
