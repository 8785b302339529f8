from django.contrib import admin

from scraper.models import Source


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "engine", "query", "dataset", "created_at")
    list_filter = ("kind", "engine", "dataset")
    search_fields = ("name", "query", "location")
