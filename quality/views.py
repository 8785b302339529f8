"""Admin pages of the quality review. Thin: parse, call a service or a read, render.

Each view is wrapped by ``AdminSite.admin_view`` in ``quality.admin``
(staff only, CSRF on posts) and checks the model permission it needs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotator.protocol import protocol_in_force
from annotator.forms import GoldItemForm
from annotator.models import GoldItem, Worker
from annotator.services.errors import AnnotationError
from annotator.services.gold import save_gold_item
from catalog.models import Image
from quality import csv_export, plots, selectors
from quality.dashboard import PLOTS, checked_scope, dashboard, person_kappas, scope_figures, scope_split, worker_accuracies
from quality.review import control_item_start, image_review, worker_overview
from quality.review_panels import build_panels
from quality.errors import QualityError
from quality.models import QualityReport
from quality.services import pending_recomputation, queue_recompute, review_image_answers
from quality.trust import block_worker, unblock_worker
from catalog.files import open_stored
from catalog.renditions import ensure_rendition



def object_id_number(object_id: object) -> int | None:
    """The id a URL gives, when it is a plain whole number (ASCII digits only: ``'²'.isdigit()`` is true)."""
    text = str(object_id)
    return int(text) if text.isascii() and text.isdigit() else None


def _object_or_404(queryset, object_id: str):
    """The row the URL names; an id that is not a whole number names nothing (404, never a 500)."""
    number = object_id_number(object_id)
    if number is None:
        raise Http404("No such object: ids are whole numbers.")
    return get_object_or_404(queryset, pk=number)


def _require(request: HttpRequest, model_admin, change: bool = False) -> None:
    allowed = model_admin.has_change_permission(request) if change else model_admin.has_view_permission(request)
    if not allowed:
        raise PermissionDenied


# ---------------------------------------------------------------- images


def image_review_page(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    image = _object_or_404(Image.objects.select_related("source"), object_id)
    if request.method == "POST":
        _require(request, model_admin, change=True)
        return _apply_review(request, image)
    review = image_review(image)
    panels = build_panels(request, image)
    for person in review.people:
        person.panel_rows = [
            {"template": shown.panel.person_template, "panel": shown.content.context, "row": row}
            for shown in panels
            if shown.panel.person_template and (row := shown.content.per_person.get(person.person.pk)) is not None
        ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Review {image}",
        "review": review,
        "picture_url": reverse("admin:quality_image_picture", args=[image.pk]),
        "low_agreement_kappa": settings.QUALITY_LOW_AGREEMENT_KAPPA,
        "panels": panels,
    }
    return TemplateResponse(request, "admin/quality/image_review.html", context)


def _apply_review(request: HttpRequest, image: Image) -> HttpResponse:
    try:
        status, changed = review_image_answers(
            image.pk, request.POST.get("action", ""), request.POST.getlist("annotation"), by=request.user
        )
    except QualityError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{changed} answer(s) set to {status.label.lower()}.")
    return HttpResponseRedirect(reverse("admin:quality_image_review", args=[image.pk]))


def image_picture(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    """The image as shown to workers (a cached rendition), for the review page."""
    _require(request, model_admin)
    image = _object_or_404(Image.objects.all(), object_id)
    try:
        key = ensure_rendition(image)
        with open_stored(key) as stored:
            data = stored.read()
    except (FileNotFoundError, OSError):
        raise Http404("The image file is missing from storage.") from None
    content_type = "image/jpeg" if key != image.storage_key else f"image/{image.format.lower()}"
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------- workers


def worker_context(request: HttpRequest, worker: Worker) -> dict:
    return {"overview": worker_overview(worker), "gold_window": protocol_in_force().trust_window}


@require_POST
def worker_trust(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    """Block or unblock one worker from their page; a block needs a reason."""
    _require(request, model_admin, change=True)
    worker = _object_or_404(Worker.objects.all(), object_id)
    back = HttpResponseRedirect(reverse("admin:annotator_worker_change", args=[worker.pk]))
    action = request.POST.get("action")
    try:
        if action == "block":
            event = block_worker(worker, reason=request.POST.get("reason", ""), by=request.user)
        elif action == "unblock":
            event = unblock_worker(worker, by=request.user, note=request.POST.get("reason", ""))
        else:
            raise QualityError("action", f"must be block or unblock, got {action!r}")
    except QualityError as error:
        messages.error(request, str(error))
        return back
    if event is None:
        messages.warning(request, f"{worker} was already {'blocked' if action == 'block' else 'not blocked'}.")
    else:
        verb = "excluded" if action == "block" else "restored"
        messages.success(request, f"{worker} {action}ed; {event.annotations_changed} answer(s) {verb}.")
    return back


def worker_gold_plot(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    worker = _object_or_404(Worker.objects.all(), object_id)
    passed = list(selectors.control_answers([worker.pk]).order_by("finished_at", "id").values_list("gold_passed", flat=True))
    protocol = protocol_in_force()
    png = plots.worker_gold_history_png(passed, protocol.trust_window, protocol.trust_min_accuracy)
    return HttpResponse(png, content_type="image/png")


# ---------------------------------------------------------------- dashboard


def dashboard_page(request: HttpRequest, model_admin) -> HttpResponse:
    _require(request, model_admin)
    try:
        board = dashboard(request.GET.get("split"))
    except QualityError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(reverse("admin:quality_qualityreport_changelist"))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Quality dashboard",
        "board": board,
        "plots": PLOTS,
        "may_recompute": may_recompute(request),
        "pending_recomputation": pending_recomputation(),
    }
    return TemplateResponse(request, "admin/quality/dashboard.html", context)


def _scope_or_404(request: HttpRequest) -> str:
    try:
        return checked_scope(request.GET.get("split"))
    except QualityError as error:
        raise Http404(str(error)) from None


def dashboard_plot(request: HttpRequest, name: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    scope = _scope_or_404(request)
    figures = scope_figures(selectors.latest_report(), scope)
    if name == "person-kappa":
        png = plots.person_kappa_png(person_kappas(scope))
    elif name == "worker-accuracy":
        png = plots.worker_accuracy_png(worker_accuracies(), protocol_in_force().trust_min_accuracy)
    elif name in PLOTS and figures is not None:
        png = plots.category_kappa_png(figures["category_kappa"]) if name == "category-kappa" else plots.vad_spread_png(figures["vad_spread"])
    else:
        raise Http404(f"no plot {name!r} for {scope!r}: plots are {', '.join(PLOTS)}, and a report must exist")
    return HttpResponse(png, content_type="image/png")


def dashboard_csv(request: HttpRequest, name: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    scope = _scope_or_404(request)
    figures = scope_figures(selectors.latest_report(), scope)
    if name == "person-kappa":
        text = csv_export.person_csv(selectors.person_agreements(scope_split(scope)))
    elif name == "worker-accuracy":
        text = csv_export.worker_csv(Worker.objects.all())
    elif name in PLOTS and figures is not None:
        text = csv_export.category_csv(figures) if name == "category-kappa" else csv_export.vad_csv(figures)
    else:
        raise Http404(f"no figures {name!r} for {scope!r}: they are {', '.join(PLOTS)}, and a report must exist")
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="quality-{name}-{scope}.csv"'
    return response


def may_recompute(request: HttpRequest) -> bool:
    """Queuing a full recomputation changes the figures: it needs the quality report's change permission."""
    opts = QualityReport._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


@require_POST
def dashboard_recompute(request: HttpRequest, model_admin) -> HttpResponse:
    """Queue a full recomputation, unless one is queued or running; the dashboard shows the new report when it is done."""
    _require(request, model_admin)
    if not may_recompute(request):
        raise PermissionDenied
    if queue_recompute("admin", requested_by=request.user.get_username()) is None:
        pending = pending_recomputation()
        since = f" ({pending.get_state_display().lower()} since {pending.created_at:%Y-%m-%d %H:%M})" if pending else ""
        messages.warning(request, f"A recomputation is already queued or running{since}; nothing more was queued.")
    else:
        messages.info(request, "Recomputing every quality figure in the background; reload in a moment.")
    return HttpResponseRedirect(reverse("admin:quality_qualityreport_changelist"))


# ---------------------------------------------------------------- control items


def control_item_page(request: HttpRequest, object_id: str, model_admin, person_id: int | None = None) -> HttpResponse:
    """Make (or edit) a control item for a person of the image, or for its boxes, with the typed form.

    It opens prefilled from the accepted consensus (``review.control_item_start``);
    saving goes through the annotator's gold service. Needs the gold item's
    add permission (change, for an item that exists).
    """
    _require(request, model_admin)
    image = _object_or_404(Image.objects.all(), object_id)
    person = get_object_or_404(image.people.all(), pk=person_id) if person_id is not None else None
    start = control_item_start(image, person)
    gold_opts = GoldItem._meta
    action = "change" if start.existing else "add"
    if not request.user.has_perm(f"{gold_opts.app_label}.{get_permission_codename(action, gold_opts)}"):
        raise PermissionDenied
    item = start.existing or GoldItem()
    form = GoldItemForm(request.POST or None, instance=item, initial=None if start.existing else start.initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_gold_item(form.instance)
        except AnnotationError as error:
            form.add_error(error.field if error.field in form.fields else None, error.reason)
        else:
            target = f"person {person.pk}" if person is not None else "the image's boxes"
            messages.success(request, f"Control item #{saved.pk} saved for {target}.")
            return HttpResponseRedirect(reverse("admin:quality_image_review", args=[image.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Control item for {'person ' + str(person.pk) if person else 'the boxes of ' + str(image)}",
        "image": image,
        "person": person,
        "form": form,
        "start": start,
        "media": form.media,
        "picture_url": reverse("admin:quality_image_picture", args=[image.pk]),
    }
    return TemplateResponse(request, "admin/quality/control_item.html", context)
