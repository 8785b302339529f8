"""The photo library in the admin: sources and images with their provenance."""

from django.contrib import admin
from django.db import models

from catalog.models import Image, Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "engine", "query", "dataset", "created_at")
    list_filter = ("kind", "engine", "dataset")
    search_fields = ("name", "query", "location")


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "original_database", "width", "height", "split", "fetched_at")
    list_filter = ("split", "original_database", "source__kind")
    search_fields = ("filename", "sha256", "source_url")
    readonly_fields = ("sha256", "phash", "width", "height", "storage_key", "fetched_at", "http_headers")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a bare host typed in is https
