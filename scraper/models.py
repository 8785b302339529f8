"""Where images come from. Each Image row points at the Source that found it."""

from django.db import models


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
