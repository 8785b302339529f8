"""The admin: crawl jobs (started here, with their progress kept up to date on the page, cancelled and
resumed from the list), imports (uploads and storage prefixes: ``scraper/admin_imports.py``), the items
each job found, and the search sources.

Search sources are listed whether usable or not: one whose key is missing is
shown as unavailable with the reason, one a job stopped as degraded with the
reason and a sample of what it answered.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from emotic.errors import FieldError
from emotic.licenses import POLICIES
from scraper import admin_imports
from scraper.admin_imports import license_params
from scraper.models import CrawlItem, CrawlJob, SearchSourceStatus
from scraper.selectors import LIVE_STATES
from scraper.services.jobs import (
    cancel_crawl_job,
    create_crawl_job,
    enqueue_crawl_job,
    resume_crawl_job,
    search_queries,
    shared_fetcher,
)
from scraper.services.licensing import LicensePolicy
from scraper.services.source_health import ensure_status_rows
from scraper.sources import SourceError, build_source, search_engine_names
from scraper.sources.registry import SEARCH_SOURCES

PAGE_PARSER_NOTE = "result pages parsed: only for endpoints you are allowed to crawl"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def _source_choice(name: str) -> tuple[str, str]:
    source = SEARCH_SOURCES[name]
    label = f"{name}: {source.label}" + (f" ({PAGE_PARSER_NOTE})" if source.kind == "page" else "")
    reason = source.unavailable_reason()
    return name, label + (f" [unavailable: {reason}]" if reason else "")


class _SourcesField(forms.MultipleChoiceField):
    """Search sources, ticked; one name given alone (``engine=bing``) counts as a list of one."""

    def to_python(self, value):
        return super().to_python([value] if isinstance(value, str) else value)


class CrawlJobForm(forms.ModelForm):
    """Start a job from the admin: a search (queries or a template) or an import (a path on the server)."""

    engines = _SourcesField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Search sources",
        help_text="Search: each query goes to every source ticked. See Image gathering › Search sources for keys, limits and health.",
    )
    licenses = forms.ChoiceField(
        choices=list(POLICIES.items()),
        initial="any",
        required=False,
        help_text="Images allowed in, by the licence their source reports (redistribution: a dataset for public release).",
    )
    license_codes = forms.CharField(
        required=False, help_text="Or only these licence codes, comma-separated (e.g. cc0,pdm,by,by-sa); overrides the choice above."
    )
    unknown_license = forms.ChoiceField(
        choices=(), required=False, label="Unknown licences", help_text="Images whose source gives no licence."
    )
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["engines"].choices = [_source_choice(name) for name in SEARCH_SOURCES]
        self.fields["unknown_license"].choices = [
            ("", f"as SCRAPER_UNKNOWN_LICENSE says ({settings.SCRAPER_UNKNOWN_LICENSE})"), ("keep", "keep, marked unknown"), ("refuse", "refuse")
        ]

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
            params = {"engines": list(data.get("engines") or []), "queries": [q.as_json() for q in queries], "limit": data.get("limit")}
        else:
            names = ("path", "images_dir", "images_root", "original_database", "folder")
            params = {name: data[name] for name in names if data.get(name)}
        params.update(license_params(data))
        try:
            build_source(kind, params, shared_fetcher())
        except SourceError as error:
            field = {"licenses": "license_codes" if _words(data.get("license_codes", "")) else "licenses"}.get(error.field, error.field)
            if field == "queries" and not _lines(data.get("queries", "")) and data.get("template"):
                field = "template"  # a template's expansion is what is too long
            if field in self.fields:
                raise forms.ValidationError({field: error.reason}) from None
            raise forms.ValidationError({"kind": str(error)}) from None
        self.job_params = params
        return data


@admin.register(CrawlJob)
class CrawlJobAdmin(admin.ModelAdmin):
    form = CrawlJobForm
    list_display = (
        "id", "kind", "summary_of_params", "live_state", "degraded_list", "progress_bar", "live_found", "live_stored", "duplicates",
        "live_rejected", "refused_for_licence", "created_at", "controls",
    )  # fmt: skip
    list_filter = ("kind", "state")
    change_list_template = "admin/scraper/crawljob/change_list.html"
    change_form_template = "admin/scraper/crawljob/change_form.html"
    progress_poll_ms = 2000  # how often a page with a live job asks for its progress (scraper/crawl_jobs.js)

    class Media:
        js = ("scraper/crawl_jobs.js",)

    actions = ["start_or_resume", "cancel"]
    readonly_fields = (
        "kind", "params", "source", "state", "degraded_report", "progress_bar", "found", "fetched", "stored", "exact_duplicates",
        "near_duplicates", "rejected", "rejected_by_reason", "licence_policy", "refused_for_licence", "kept_with_unknown_licence",
        "items_link", "page_errors", "error", "discovery_done", "discovery_cursor", "run_by_workers", "stalled_requeues",
        "created_by", "created_at", "started_at", "finished_at",
    )  # fmt: skip

    def get_urls(self):
        def import_page(request):
            return admin_imports.import_view(request, self)

        import_page.csrf_exempt = True  # the view reads the body after setting its upload handler, then checks CSRF itself
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(import_page), name="scraper_crawljob_import"),
            path("progress/", wrap(lambda request: admin_imports.progress_view(request, self)), name="scraper_crawljob_progress"),
            path("<path:object_id>/cancel/", wrap(lambda request, object_id: admin_imports.cancel_view(request, self, object_id)),
                 name="scraper_crawljob_cancel"),
            path("<path:object_id>/resume/", wrap(lambda request, object_id: admin_imports.resume_view(request, self, object_id)),
                 name="scraper_crawljob_resume"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"progress_url": reverse("admin:scraper_crawljob_progress"), "progress_poll_ms": self.progress_poll_ms}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = {"progress_url": reverse("admin:scraper_crawljob_progress"), "progress_poll_ms": self.progress_poll_ms}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

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
            engines = ", ".join(str(name) for name in search_engine_names(job.params)[0])
            return f"{engines}: {first}" + (f" (+{len(queries) - 1} more)" if len(queries) > 1 else "")
        if job.params.get("upload"):
            return f"upload {job.params['upload'].get('name', '')}"
        if job.params.get("storage_prefix"):
            return f"storage {job.params['storage_prefix'].get('prefix', '')}/"
        return str(job.params.get("path", ""))

    @staticmethod
    def _live(job: CrawlJob, field: str, value) -> str:
        """A value the page keeps up to date (scraper/crawl_jobs.js) while the job is pending or running."""
        return format_html('<span data-job="{}" data-field="{}">{}</span>', job.pk, field, value)

    @admin.display(description="state", ordering="state")
    def live_state(self, job: CrawlJob) -> str:
        return self._live(job, "state_label", job.get_state_display())

    @admin.display(description="found", ordering="found")
    def live_found(self, job: CrawlJob) -> str:
        return self._live(job, "found", job.found)

    @admin.display(description="stored", ordering="stored")
    def live_stored(self, job: CrawlJob) -> str:
        return self._live(job, "stored", job.stored)

    @admin.display(description="rejected", ordering="rejected")
    def live_rejected(self, job: CrawlJob) -> str:
        return self._live(job, "rejected", job.rejected)

    @admin.display(description="")
    def controls(self, job: CrawlJob) -> str:
        """Cancel a job that runs, resume one that stopped: buttons of the list's form (its CSRF token goes with them)."""
        if job.state in LIVE_STATES:
            url, label = reverse("admin:scraper_crawljob_cancel", args=[job.pk]), "Cancel"
        else:
            url, label = reverse("admin:scraper_crawljob_resume", args=[job.pk]), "Resume"
        return format_html(
            '<button type="submit" class="button" formaction="{}" name="job" value="{}" data-job-control="{}">{}</button>',
            url, job.pk, label.lower(), label,
        )

    @admin.display(description="stopped sources")
    def degraded_list(self, job: CrawlJob) -> str:
        return ", ".join(f"{name} ({entry.get('reason')})" for name, entry in job.degraded_sources.items()) or "-"

    @admin.display(description="stopped sources (degraded)")
    def degraded_report(self, job: CrawlJob) -> str:
        if not job.degraded_sources:
            return "none"
        return format_html_join(
            "",
            "<div><b>{}</b>: {} &mdash; {} <i>({})</i><pre style=\"white-space: pre-wrap; max-height: 20em; overflow: auto\">{}</pre></div>",
            ((name, e.get("reason", ""), e.get("detail", ""), e.get("at", ""), e.get("sample", "")) for name, e in job.degraded_sources.items()),
        )

    @admin.display(description="refused for licence")
    def refused_for_licence(self, job: CrawlJob) -> int:
        return job.refused_for_license

    @admin.display(description="licence policy")
    def licence_policy(self, job: CrawlJob) -> str:
        try:
            return LicensePolicy.for_params(job.params).describe()
        except FieldError as error:
            return str(error)

    @admin.display(description="stored with an unknown licence")
    def kept_with_unknown_licence(self, job: CrawlJob) -> int:
        return job.items.filter(license_code="unknown").exclude(state=CrawlItem.State.REJECTED).count()

    @admin.display(description="progress")
    def progress_bar(self, job: CrawlJob) -> str:
        percent = round(job.progress * 100)
        phase = "" if job.discovery_done or job.state != CrawlJob.State.RUNNING else " (finding images)"
        return format_html(
            '<span class="crawl-job-progress" data-job="{}" data-live="{}"><progress value="{}" max="100"></progress> '
            '<span data-field="percent">{}%{}</span></span>',
            job.pk, "1" if job.state in LIVE_STATES else "", percent, percent, phase,
        )

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
    list_display = ("key", "job", "state", "reason", "detail", "license", "image", "fetched_at")
    list_filter = ("state", "reason", "license_code", "job__kind")
    search_fields = ("key", "image_url", "page_url", "query", "source_record")
    list_select_related = ("job", "image")
    raw_id_fields = ("job", "source", "image")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SearchSourceStatus)
class SearchSourceStatusAdmin(admin.ModelAdmin):
    """Every search source: what it is, whether it can be used (its key), its limits, and whether it works."""

    list_display = ("engine", "what", "availability", "health", "degraded_at", "last_success_at", "job_link", "limits")
    readonly_fields = ("engine", "what", "availability", "limits", "terms", "health", "detail", "sample_shown", "job_link",
                       "degraded_at", "last_success_at")  # fmt: skip
    fields = readonly_fields

    def changelist_view(self, request, extra_context=None):
        if self.has_view_or_change_permission(request):
            ensure_status_rows()  # every registered source is listed, usable or not
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @staticmethod
    def _source(status: SearchSourceStatus):
        return SEARCH_SOURCES.get(status.engine)

    @admin.display(description="source")
    def what(self, status: SearchSourceStatus) -> str:
        source = self._source(status)
        if source is None:
            return "no longer offered"
        return f"{source.label}" + (f" ({PAGE_PARSER_NOTE})" if source.kind == "page" else " (API)")

    @admin.display(description="available")
    def availability(self, status: SearchSourceStatus) -> str:
        source = self._source(status)
        reason = source.unavailable_reason() if source else "not registered"
        return format_html('<span style="color: #b3261e">unavailable: {}</span>', reason) if reason else "yes"

    @admin.display(description="limits")
    def limits(self, status: SearchSourceStatus) -> str:
        source = self._source(status)
        if source is None or source.unavailable_reason():
            return "-"
        return source.from_settings().describe_limits()

    @admin.display(description="terms")
    def terms(self, status: SearchSourceStatus) -> str:
        source = self._source(status)
        links = [(url, url) for url in (source.terms_url, source.docs_url) if url] if source else []
        return format_html_join(" ", '<a href="{}" rel="noopener noreferrer">{}</a>', links) or "-"

    @admin.display(description="health")
    def health(self, status: SearchSourceStatus) -> str:
        if status.state == SearchSourceStatus.State.DEGRADED:
            return format_html('<b style="color: #b3261e">degraded: {}</b>', status.reason)
        return "working" + (f" (last failure: {status.reason})" if status.reason else "") if status.last_success_at else "not used yet"

    @admin.display(description="sample of what it answered")
    def sample_shown(self, status: SearchSourceStatus) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', status.sample) if status.sample else "-"

    @admin.display(description="job")
    def job_link(self, status: SearchSourceStatus) -> str:
        if status.job_id is None:
            return "-"
        return format_html('<a href="{}">job #{}</a>', reverse("admin:scraper_crawljob_change", args=[status.job_id]), status.job_id)
