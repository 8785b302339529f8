"""The photo library in the admin: sources and images with their provenance.

Images are made only by ingest and never change their pixels, so their page
shows everything and lets an admin correct the licence and its attribution
alone; an image's split changes only through the actions here, which call
``catalog.splits``.
"""

from django import forms
from django.contrib import admin, messages
from django.db import models

from catalog.models import Image, Source
from catalog.splits import fix_splits
from emotic.licenses import LICENSES, UNKNOWN
from emotic.taxonomy import SPLITS

LICENSE_CODE_CHOICES = [("", "not recorded"), (UNKNOWN, "unknown: the source gave none"), *((c, lic.name) for c, lic in LICENSES.items())]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "engine", "query", "dataset", "created_at")
    list_filter = ("kind", "engine", "dataset")
    search_fields = ("name", "query", "location")


def _split_action(split: str):
    def put_in_split(model_admin, request, queryset):
        moved = fix_splits(queryset.values_list("pk", flat=True), split)
        model_admin.message_user(request, f"{moved} image(s) moved to {split}; they stay there.", messages.SUCCESS)

    put_in_split.__name__ = f"put_in_{split}"
    return admin.action(description=f"Put in the {split} split (and keep them there)", permissions=["change"])(put_in_split)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "filename", "original_database", "width", "height", "split", "license_code", "fetched_at")
    list_filter = ("split", "original_database", "source__kind", "license_code")
    search_fields = ("filename", "sha256", "source_url", "creator")
    actions = [_split_action(split) for split in SPLITS]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a bare host typed in is https
    # The licence and its attribution, as the source reported them: an admin may correct them.
    editable_fields = ("license", "license_code", "license_url", "creator", "attribution")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "license_code":
            return forms.ChoiceField(choices=LICENSE_CODE_CHOICES, required=False, label="Licence code")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields if field.name not in self.editable_fields]

    def has_add_permission(self, request):
        return False  # images come in through ingest, with their file
