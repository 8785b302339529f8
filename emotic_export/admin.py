"""Start, watch and download snapshots from the admin."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from emotic_export.building import LABEL_RULES
from emotic_export.files import FORMATS
from emotic_export.models import DatasetSnapshot
from emotic_export.services import ExportError, ExportOptions, create_snapshot, queue_snapshot_build


class NewSnapshotForm(forms.ModelForm):
    formats = forms.MultipleChoiceField(choices=[(f, f) for f in FORMATS], initial=list(FORMATS),
                                        widget=forms.CheckboxSelectMultiple)
    train = forms.FloatField(initial=0.7, min_value=0, max_value=1, help_text="Share of unplaced images for train.")
    val = forms.FloatField(initial=0.1, min_value=0, max_value=1)
    test = forms.FloatField(initial=0.2, min_value=0, max_value=1)
    label_rule = forms.ChoiceField(choices=[(r, r) for r in LABEL_RULES], initial="union-mean")

    class Meta:
        model = DatasetSnapshot
        fields = ("name", "description", "split_seed", "require_review")

    def clean(self):
        data = super().clean()
        try:
            self.options = ExportOptions(
                formats=tuple(data.get("formats") or ()),
                ratios={s: data.get(s, 0) or 0 for s in ("train", "val", "test")},
                seed=data.get("split_seed") or 0,
                label_rule=data.get("label_rule", "union-mean"),
                require_review=bool(data.get("require_review")),
            )
        except ExportError as error:
            target = {"ratios": None, "seed": "split_seed"}.get(error.field, error.field)
            if target in self.fields:
                self.add_error(target, error.reason)
            else:
                self.add_error(None, str(error))
        return data


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "state_badge", "progress_bar", "created_by", "created_at", "counts_summary", "download")
    list_filter = ("state", "label_rule")
    search_fields = ("name", "description")
    actions = ("rebuild_failed",)
    readonly_fields = (
        "name", "version", "description", "state", "progress_bar", "formats", "split_rule", "split_ratios",
        "split_seed", "label_rule", "require_review", "counts", "agreement", "storage_key", "archive_key",
        "manifest_sha256", "created_by", "created_at", "completed_at", "error", "download",
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = NewSnapshotForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "description", "formats", "train", "val", "test", "split_seed", "label_rule", "require_review")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:  # snapshots are immutable
            return
        try:
            snapshot = create_snapshot(
                name=form.cleaned_data.get("name", ""), description=form.cleaned_data.get("description", ""),
                created_by=request.user, options=form.options,
            )
        except ExportError as error:
            messages.error(request, str(error))
            return
        obj.pk = snapshot.pk
        obj.refresh_from_db()
        queue_snapshot_build(snapshot)
        messages.info(request, f"Building {snapshot.name} in the background; this page shows its progress.")

    @admin.action(description="Build again (failed snapshots only)")
    def rebuild_failed(self, request, queryset):
        failed = list(queryset.filter(state=DatasetSnapshot.State.FAILED))
        for snapshot in failed:
            queue_snapshot_build(snapshot)
        self.message_user(request, f"Restarted {len(failed)} failed snapshot(s); complete ones are immutable.")

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        colours = {"complete": "#1e7e34", "failed": "#b3261e", "building": "#2f6fde", "pending": "#777"}
        return format_html('<b style="color:{}">{}</b>', colours.get(obj.state, "#333"), obj.get_state_display())

    @admin.display(description="progress")
    def progress_bar(self, obj):
        percent = round((obj.progress or 0) * 100)
        poll = ""
        if obj.pk and obj.state in ("pending", "building"):
            poll = format_html(
                '<script>setTimeout(function () {{ location.reload(); }}, 2000);</script>'
            )
        return format_html('<progress max="100" value="{}" title="{}%"></progress> {}%{}', percent, percent, percent, poll)

    @admin.display(description="counts")
    def counts_summary(self, obj):
        if not obj.counts:
            return "-"
        return ", ".join(f"{split}: {c.get('images', 0)} img / {c.get('people', 0)} people" for split, c in obj.counts.items())

    @admin.display(description="archive")
    def download(self, obj):
        if obj.state != DatasetSnapshot.State.COMPLETE:
            return "-"
        return format_html('<a href="{}">download .tar.gz</a>', reverse("emotic_export:download", args=[obj.pk]))
