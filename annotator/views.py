"""The worker pages. The annotation page itself is a static shell; its script talks to the API."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods, require_POST

from annotator import selectors
from annotator.forms import AccountEmailForm, ApiTokenForm, DeleteAccountForm, SignupForm
from annotator.models import Worker
from annotator.services.accounts import set_email
from annotator.services.assignment import CONTROLS_PAUSED, ensure_worker_may_work
from annotator.services.erasure import ErasureRefused, erase_worker_account
from annotator.services.errors import AnnotationError, WorkerNotEligible
from annotator.services.qualification import qualification_protocol_for, qualification_size
from annotator.protocol import protocol_in_force
from annotator.services.workers import create_api_token, revoke_api_token, worker_for
from catalog.models import Image
from catalog.files import is_reference, open_stored
from catalog.renditions import ensure_rendition
from emotic.taxonomy import AGE_GROUPS, CATEGORIES, GENDERS, VAD_ANCHORS, VAD_DEFINITIONS, VAD_DIMENSIONS


def rendition_response(image: Image) -> HttpResponse:
    """The image's display rendition (a redirect to storage where so configured), privately cacheable."""
    key = ensure_rendition(image)
    max_age = settings.IMAGE_CACHE_SECONDS
    if settings.IMAGE_REDIRECT_TO_STORAGE and not is_reference(key):  # a file kept where it lies is served here
        response = HttpResponseRedirect(default_storage.url(key))
        max_age = min(max_age, settings.STORAGE_URL_EXPIRY_SECONDS // 2)
    else:
        content_type = "image/jpeg" if key != image.storage_key else f"image/{image.format.lower()}"
        response = FileResponse(open_stored(key), content_type=content_type)
    patch_cache_control(response, private=True, max_age=max_age)
    return response
def worker_page(view):
    """A worker's page: log-in required; a staff account is sent to the admin, never made a worker."""

    @login_required
    @wraps(view)
    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_staff:
            return redirect("admin:index")
        return view(request, *args, **kwargs)

    return page


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


@worker_page
def work_home(request: HttpRequest) -> HttpResponse:
    """Where a worker lands: its state, its counter, and what to do next (or why it can't)."""
    worker = worker_for(request.user)
    context = {"worker": worker, "counter": selectors.work_counter(worker), "not_eligible": None}
    try:
        ensure_worker_may_work(worker)
    except WorkerNotEligible as error:
        context["not_eligible"] = error
    else:
        if worker.qualification == Worker.Qualification.QUALIFIED and selectors.paused_for_controls(worker):
            context["not_eligible"] = WorkerNotEligible("controls_exhausted", CONTROLS_PAUSED)
    if worker.qualification == Worker.Qualification.PENDING:
        protocol = qualification_protocol_for(worker)
        context["qualification_size"] = qualification_size(protocol=protocol)
        context["pass_rate_percent"] = round(protocol.qualification_pass_rate * 100)
        context["qualification_attempts"] = protocol.qualification_attempts
    if worker.qualification != Worker.Qualification.PENDING:
        context["qualification_results"] = selectors.qualification_results(worker)
    return render(request, "annotator/work_home.html", context)


@worker_page
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


@worker_page
def history(request: HttpRequest) -> HttpResponse:
    worker = worker_for(request.user)
    page = Paginator(selectors.history(worker), 25).get_page(request.GET.get("page"))
    entries = [selectors.history_entry(a) for a in page]
    return render(request, "annotator/history.html", {"page": page, "entries": entries, "worker": worker})


@worker_page
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


@worker_page
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    if revoke_api_token(worker_for(request.user), token_id):
        messages.success(request, "The token was revoked.")
    return redirect("annotator:api-tokens")


@login_required
def instructions(request: HttpRequest) -> HttpResponse:
    """What workers read before they start: the protocol's instructions and, per category, examples others gave."""
    protocol = protocol_in_force()
    examples = selectors.instruction_examples(protocol)
    categories = [
        {"category": category, "examples": examples.get(category.name, [])} for category in CATEGORIES
    ]
    paragraphs = [p.strip() for p in protocol.instructions.split("\n\n") if p.strip()]
    return render(request, "annotator/instructions.html", {"paragraphs": paragraphs, "categories": categories})


@login_required
def instruction_example_picture(request: HttpRequest, example_id: int) -> HttpResponse:
    """The picture of an example of the protocol in force (no other image is reachable this way)."""
    example = selectors.instruction_example(example_id)
    if example is None:
        raise Http404("No such example in the instructions in force.")
    return rendition_response(example.annotation.person.image)
@worker_page
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """The worker's account: the e-mail address for password resets, and the way to delete the account."""
    form = AccountEmailForm(request.POST or None, initial={"email": request.user.email})
    if request.method == "POST" and form.is_valid():
        set_email(request.user, form.cleaned_data["email"])
        messages.success(request, "Your e-mail address is saved." if request.user.email else "Your e-mail address is removed.")
        return redirect("annotator:account")
    return render(request, "annotator/account.html", {"form": form})


@worker_page
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Deletes the account at the worker's request, after their password; answers stay, anonymised."""
    form = DeleteAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            erase_worker_account(request.user, form.cleaned_data["password"])
        except ErasureRefused as error:
            form.add_error(error.field if error.field in form.fields else None, error.reason)
        else:
            logout(request)
            return render(request, "annotator/account_deleted.html")
    return render(request, "annotator/delete_account.html", {"form": form})
