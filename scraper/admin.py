"""The admin: sources, crawl jobs (started here, with their progress) and the items each job found."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from emotic.errors import FieldError
from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import (
    cancel_crawl_job,
    create_crawl_job,
    enqueue_crawl_job,
    resume_crawl_job,
    search_queries,
    shared_fetcher,
)
from scraper.sources import SourceError, build_source
from scraper.sources.search_engines import ENGINES


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


class CrawlJobForm(forms.ModelForm):
    """Start a job from the admin: a search (queries or a template) or an import (a path on the server)."""

    engine = forms.ChoiceField(choices=[("", "---")] + [(name, name) for name in sorted(ENGINES)], required=False)
    queries = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Search: one query a line.")
    template = forms.CharField(required=False, help_text='Search: e.g. "{emotion} people {activity} in a {place}".')
    places = forms.CharField(required=False, help_text="Comma-separated words for {place}.")
    activities = forms.CharField(required=False, help_text="Comma-separated words for {activity}.")
    emotions = forms.CharField(required=False, help_text="Comma-separated words for {emotion} (default: the 26 categories).")
    limit = forms.IntegerField(min_value=1, required=False, help_text="Search: images per query.")
    path = forms.CharField(required=False, help_text="Imports: the dataset file, folder or URL list on the server.")
    images_dir = forms.CharField(required=False, help_text="COCO: folder of the images.")
    images_root = forms.CharField(required=False, help_text="EMOTIC: folder holding the image folders.")
    original_database = forms.CharField(required=False, help_text="Folder/URL list: original database name.")
    folder = forms.CharField(required=False, help_text="Folder/URL list: EMOTIC folder of the images.")

    class Meta:
        model = CrawlJob
        fields = ["kind"]

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == CrawlJob.Kind.SEARCH:
            words = {"place": _words(data.get("places", "")), "activity": _words(data.get("activities", "")), "emotion": _words(data.get("emotions", ""))}
            try:
                queries = search_queries(queries=_lines(data.get("queries", "")), template=data.get("template", ""), words=words)
            except FieldError as error:
                raise forms.ValidationError({error.field if error.field in self.fields else "template": error.reason}) from None
            except ValueError as error:  # Python's own refusal of the template ("Single '{' encountered ...")
                raise forms.ValidationError({"template": str(error)}) from None
            params = {"engine": data.get("engine", ""), "queries": [q.as_json() for q in queries], "limit": data.get("limit")}
        else:
            names = ("path", "images_dir", "images_root", "original_database", "folder")
            params = {name: data[name] for name in names if data.get(name)}
        try:
            build_source(kind, params, shared_fetcher())
        except SourceError as error:
            if error.field in self.fields:
                raise forms.ValidationError({error.field: error.reason}) from None
            raise forms.ValidationError({"kind": str(error)}) from None
        self.job_params = params
        return data


@admin.register(CrawlJob)
class CrawlJobAdmin(admin.ModelAdmin):
    form = CrawlJobForm
    list_display = ("id", "kind", "summary_of_params", "state", "progress_bar", "found", "stored", "duplicates", "rejected", "created_at")
    list_filter = ("kind", "state")
    actions = ["start_or_resume", "cancel"]
    readonly_fields = (
        "kind", "params", "source", "state", "progress_bar", "found", "fetched", "stored", "exact_duplicates", "near_duplicates",
        "rejected", "rejected_by_reason", "items_link", "page_errors", "error", "discovery_done", "discovery_cursor",
        "run_by_workers", "stalled_requeues", "created_by", "created_at", "started_at", "finished_at",
    )  # fmt: skip

    def get_fields(self, request, obj=None):
        return list(self.form.base_fields) if obj is None else list(self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = []
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            return
        job = create_crawl_job(form.cleaned_data["kind"], form.job_params, created_by=request.user.get_username())
        enqueue_crawl_job(job)
        obj.pk = job.pk
        obj.refresh_from_db()

    @admin.display(description="what")
    def summary_of_params(self, job: CrawlJob) -> str:
        if job.kind == CrawlJob.Kind.SEARCH:
            queries = job.params.get("queries", [])
            first = queries[0]["text"] if queries else ""
            return f"{job.params.get('engine')}: {first}" + (f" (+{len(queries) - 1} more)" if len(queries) > 1 else "")
        return str(job.params.get("path", ""))

    @admin.display(description="progress")
    def progress_bar(self, job: CrawlJob) -> str:
        percent = round(job.progress * 100)
        phase = "" if job.discovery_done or job.state != CrawlJob.State.RUNNING else " (finding images)"
        return format_html('<progress value="{}" max="100"></progress> {}%{}', percent, percent, phase)

    @admin.display(description="duplicates")
    def duplicates(self, job: CrawlJob) -> int:
        return job.exact_duplicates + job.near_duplicates

    @admin.display(description="items")
    def items_link(self, job: CrawlJob) -> str:
        url = reverse("admin:scraper_crawlitem_changelist") + f"?job__id__exact={job.pk}"
        return format_html('<a href="{}">{} items</a>', url, job.found)

    @admin.action(description="Start or resume (done items are skipped, transient failures retried)")
    def start_or_resume(self, request, queryset):
        queued = 0
        for job in queryset:
            try:
                enqueue_crawl_job(resume_crawl_job(job))
            except SourceError as error:
                self.message_user(request, f"Job {job.pk} not resumed: {error}", messages.ERROR)
            else:
                queued += 1
        self.message_user(request, f"{queued} job(s) queued.", messages.SUCCESS)

    @admin.action(description="Cancel (what is stored stays)")
    def cancel(self, request, queryset):
        for job in queryset:
            cancel_crawl_job(job)
        self.message_user(request, f"{queryset.count()} job(s) cancelled.", messages.SUCCESS)


@admin.register(CrawlItem)
class CrawlItemAdmin(admin.ModelAdmin):
    list_display = ("key", "job", "state", "reason", "detail", "image", "fetched_at")
    list_filter = ("state", "reason", "job__kind")
    search_fields = ("key", "image_url", "page_url", "query", "source_record")
    list_select_related = ("job", "image")
    raw_id_fields = ("job", "source", "image")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
