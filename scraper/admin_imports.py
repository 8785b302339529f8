"""The admin's import page (upload a dataset file or a zip, or name a storage prefix), the job list's
live progress (JSON polled by ``scraper/crawl_jobs.js``) and its per-row cancel and resume buttons.

Views parse and call services (``scraper.services.imports``, ``scraper.services.jobs``); the upload
streams into a temporary file through ``LimitedUploadHandler``, which stops reading a file larger
than ``SCRAPER_UPLOAD_MAX_BYTES`` and says so on the form.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from emotic.licenses import POLICIES
from scraper.models import CrawlJob
from scraper.selectors import jobs_progress
from scraper.services.imports import IMPORT_KINDS, import_storage_prefix, import_uploaded_file
from scraper.services.jobs import cancel_crawl_job, enqueue_crawl_job, resume_crawl_job
from scraper.sources import SourceError

# Room for the form's other fields around the file, in a body the request limit lets through.
FORM_OVERHEAD_BYTES = 64 * 1024


def upload_body_limit() -> int:
    """The largest request body the import page accepts (config/request_limits.py asks)."""
    return settings.SCRAPER_UPLOAD_MAX_BYTES + FORM_OVERHEAD_BYTES


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file handler, stopping (and deleting the file) once it passes the limit."""

    def __init__(self, request=None, limit: int = 0):
        super().__init__(request)
        self.limit = limit
        self.refused = ""

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.refused = f"{self.file_name} is larger than SCRAPER_UPLOAD_MAX_BYTES ({self.limit:,} bytes); nothing was imported"
            self.file.close()  # a NamedTemporaryFile: closing deletes it
            raise StopUpload(connection_reset=False)  # the rest of the body is read and dropped
        return super().receive_data_chunk(raw_data, start)


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def license_params(data: dict) -> dict:
    """The licence policy of a job from the admin's licence fields (shared with the crawl-job form)."""
    codes = _words(data.get("license_codes", ""))
    params = {"licenses": codes or data.get("licenses") or "any"}
    if data.get("unknown_license"):
        params["unknown_license"] = data["unknown_license"]
    return params


class ImportForm(forms.Form):
    """What to import and from where; the file field comes last, so every other field is read before it."""

    kind = forms.ChoiceField(
        label="Format", choices=[(kind, label) for kind, label in CrawlJob.Kind.choices if kind in IMPORT_KINDS],
        help_text="COCO, EMOTIC and URL lists may be a single file or a .zip holding it (and its images); "
        "a folder of photos and ADE20K are uploaded as a .zip.",
    )
    origin = forms.ChoiceField(
        label="From", choices=[("upload", "a file uploaded here"), ("prefix", "a prefix of the storage")],
        initial="upload", widget=forms.RadioSelect,
    )
    prefix = forms.CharField(
        required=False, label="Storage prefix",
        help_text="Storage: everything under it is imported (e.g. imports/emotic-2024); the workers copy it over.",
    )
    member = forms.CharField(
        required=False, label="Dataset file inside",
        help_text="In a .zip or a prefix: the dataset file (e.g. annotations/Annotations.mat); found by itself when there is one.",
    )
    images_folder = forms.CharField(
        required=False, label="Images folder inside",
        help_text="COCO/EMOTIC in a .zip or prefix: the folder of the images (default: the dataset's own layout).",
    )
    original_database = forms.CharField(required=False, help_text="Folder/URL list: original database name.")
    folder = forms.CharField(required=False, help_text="Folder/URL list: EMOTIC folder of the images.")
    licenses = forms.ChoiceField(choices=list(POLICIES.items()), initial="any", required=False,
                                 help_text="Images allowed in, by the licence their source reports.")
    license_codes = forms.CharField(required=False, help_text="Or only these licence codes, comma-separated; overrides the choice above.")
    unknown_license = forms.ChoiceField(choices=(), required=False, label="Unknown licences", help_text="Images whose source gives no licence.")
    file = forms.FileField(required=False, label="File", help_text="")

    def __init__(self, *args, refused_upload: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.refused_upload = refused_upload
        self.fields["unknown_license"].choices = [
            ("", f"as SCRAPER_UNKNOWN_LICENSE says ({settings.SCRAPER_UNKNOWN_LICENSE})"), ("keep", "keep, marked unknown"), ("refuse", "refuse")
        ]
        self.fields["file"].help_text = (
            f"At most {settings.SCRAPER_UPLOAD_MAX_BYTES:,} bytes (SCRAPER_UPLOAD_MAX_BYTES); a .zip may unpack to "
            f"{settings.SCRAPER_UPLOAD_MAX_EXTRACTED_BYTES:,} bytes in {settings.SCRAPER_UPLOAD_MAX_MEMBERS:,} files."
        )

    def clean(self):
        data = super().clean()
        if self.refused_upload:
            raise forms.ValidationError({"file": self.refused_upload})
        if data.get("origin") == "upload" and not data.get("file"):
            self.add_error("file", "choose a file to upload")
        if data.get("origin") == "prefix" and not data.get("prefix"):
            self.add_error("prefix", "name the storage prefix to import")
        return data

    def job_params(self) -> dict:
        data = self.cleaned_data
        params = {name: data[name] for name in ("original_database", "folder") if data.get(name)}
        return {**params, **license_params(data)}


def import_view(request: HttpRequest, model_admin) -> HttpResponse:
    """Routed as CSRF-exempt (the middleware would read the body first): the upload handler is set
    before anything reads it, then ``_import_view`` checks CSRF as every admin page does."""
    request.upload_handlers = [LimitedUploadHandler(request, settings.SCRAPER_UPLOAD_MAX_BYTES)]
    return _import_view(request, model_admin)


@csrf_protect
def _import_view(request: HttpRequest, model_admin) -> HttpResponse:
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        post, files = request.POST, request.FILES  # the body is read here, through the handler
        refused = next((h.refused for h in request.upload_handlers if getattr(h, "refused", "")), "")
        form = ImportForm(post, files, refused_upload=refused)
        if form.is_valid():
            data, user = form.cleaned_data, request.user.get_username()
            options = dict(member=data["member"], images_folder=data["images_folder"], params=form.job_params(), created_by=user)
            try:
                if data["origin"] == "upload":
                    job = import_uploaded_file(data["kind"], data["file"], **options)
                else:
                    job = import_storage_prefix(data["kind"], data["prefix"], **options)
            except SourceError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, error.reason if field else str(error))
            else:
                model_admin.message_user(request, f"Import job #{job.pk} queued: {job.params['path']}", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:scraper_crawljob_changelist"))
    else:
        form = ImportForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Import a dataset",
        "opts": model_admin.model._meta,
        "form": form,
        "has_view_permission": model_admin.has_view_permission(request),
    }
    return TemplateResponse(request, "admin/scraper/crawljob/import_form.html", context)


def progress_view(request: HttpRequest, model_admin) -> JsonResponse:
    """The listed jobs' states and counts, for the page to refresh itself (``?ids=1,2,3``)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.isascii() and part.isdigit()][:500]
    return JsonResponse({"jobs": jobs_progress(ids)})


def _job(object_id: str) -> CrawlJob:
    if not (str(object_id).isascii() and str(object_id).isdigit()):
        raise Http404("No such job.")
    return get_object_or_404(CrawlJob, pk=object_id)


@require_POST
def cancel_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    job = _job(object_id)
    cancel_crawl_job(job)
    model_admin.message_user(request, f"Job {job.pk}: {job.get_state_display().lower()} (what is stored stays).", messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:scraper_crawljob_changelist"))


@require_POST
def resume_view(request: HttpRequest, model_admin, object_id: str) -> HttpResponse:
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    job = _job(object_id)
    try:
        enqueue_crawl_job(resume_crawl_job(job))
    except SourceError as error:
        model_admin.message_user(request, f"Job {job.pk} not resumed: {error}", messages.ERROR)
    else:
        model_admin.message_user(request, f"Job {job.pk} queued again (done items are skipped).", messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:scraper_crawljob_changelist"))
