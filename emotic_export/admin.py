from django.contrib import admin

from emotic_export.models import DatasetSnapshot


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "state", "created_by", "created_at", "progress")
    list_filter = ("state",)
    readonly_fields = ("counts", "agreement", "manifest_sha256", "storage_key", "archive_key", "completed_at")
