"""The worker pages. The annotation page itself is a static shell; its script talks to the API."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotator import selectors
from annotator.forms import ApiTokenForm, SignupForm
from annotator.models import Worker
from annotator.services.assignment import ensure_worker_may_work
from annotator.services.errors import AnnotationError, WorkerNotEligible
from annotator.services.qualification import qualification_size
from annotator.services.workers import create_api_token, revoke_api_token, worker_for
from emotic.taxonomy import AGE_GROUPS, CATEGORIES, GENDERS, VAD_ANCHORS, VAD_DEFINITIONS, VAD_DIMENSIONS


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("annotator:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        worker_for(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("annotator:home")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def work_home(request: HttpRequest) -> HttpResponse:
    """Where a worker lands: its state, its counter, and what to do next (or why it can't)."""
    worker = worker_for(request.user)
    context = {"worker": worker, "counter": selectors.work_counter(worker), "not_eligible": None}
    try:
        ensure_worker_may_work(worker)
    except WorkerNotEligible as error:
        context["not_eligible"] = error
    if worker.qualification == Worker.Qualification.PENDING:
        context["qualification_size"] = qualification_size()
        context["pass_rate_percent"] = round(settings.QUALIFICATION_PASS_RATE * 100)
        context["qualification_attempts"] = settings.QUALIFICATION_ATTEMPTS
    if worker.qualification != Worker.Qualification.PENDING:
        context["qualification_results"] = selectors.qualification_results(worker)
    return render(request, "annotator/work_home.html", context)


@login_required
def annotate(request: HttpRequest) -> HttpResponse:
    worker = worker_for(request.user)
    try:
        ensure_worker_may_work(worker)
    except WorkerNotEligible:
        scope = selectors.work_scope_view(worker)
        return redirect(scope["finish_url"] if scope and scope["finish_url"] else "annotator:home")
    sliders = [
        {"name": dim, "low": VAD_ANCHORS[dim][0], "high": VAD_ANCHORS[dim][1], "definition": VAD_DEFINITIONS[dim]}
        for dim in VAD_DIMENSIONS
    ]
    return render(
        request,
        "annotator/annotate.html",
        {
            "worker": worker,
            "counter": selectors.work_counter(worker),
            "session": selectors.work_scope_view(worker),
            "categories": CATEGORIES,
            "sliders": sliders,
            "genders": GENDERS,
            "age_groups": AGE_GROUPS,
            # The box editor enlarges a box under the minimum size the server requires.
            "min_box_fraction": settings.MIN_BOX_SIDE_FRACTION,
            "min_box_pixels": settings.MIN_BOX_SIDE_PIXELS,
            # The timer: activity extends a task when half its time is gone; the warning comes this early.
            "timeout_seconds": int(settings.ASSIGNMENT_TIMEOUT.total_seconds()),
            "warning_seconds": settings.ASSIGNMENT_WARNING_SECONDS,
        },
    )


@login_required
def history(request: HttpRequest) -> HttpResponse:
    worker = worker_for(request.user)
    page = Paginator(selectors.history(worker), 25).get_page(request.GET.get("page"))
    entries = [selectors.history_entry(a) for a in page]
    return render(request, "annotator/history.html", {"page": page, "entries": entries, "worker": worker})


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    worker = worker_for(request.user)
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            _, new_key = create_api_token(worker, form.cleaned_data["name"])
        except AnnotationError as error:
            form.add_error("name", error.reason)
        else:
            form = ApiTokenForm()
    return render(
        request,
        "annotator/api_tokens.html",
        {
            "form": form, "tokens": worker.api_tokens.all(), "new_key": new_key,
            "lifetime_days": settings.API_TOKEN_LIFETIME_DAYS, "granted": worker.api_access,
        },
    )


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    if revoke_api_token(worker_for(request.user), token_id):
        messages.success(request, "The token was revoked.")
    return redirect("annotator:api-tokens")
