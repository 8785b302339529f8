"""The participant's pages (/c/<slug>/...) and Prolific's webhook endpoint. Thin: parse, call a service, render.

- ``/c/<slug>/?PROLIFIC_PID=..&STUDY_ID=..&SESSION_ID=..`` (or Connect's, SONA's, a panel's parameter): admits
  the participant, binds their account to this browser's session, and sends them on (consent, work, or the end).
- ``/c/<slug>/consent/``: the information and consent sheet.
- ``/c/<slug>/done/``: the end of the session: back to the marketplace with its code.
- ``/hooks/prolific/``: signed events from Prolific.
"""

from __future__ import annotations

import logging

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from campaigns.errors import AdmissionRefused, CampaignError, NoSession
from campaigns.marketplaces import EntryInvalid
from campaigns.middleware import FRAME_SESSION_KEY, allow_framing
from campaigns.models import Campaign, ParticipantSession
from campaigns.rules import money
from campaigns.services import admission
from campaigns.services.webhooks import HookRefused, receive

logger = logging.getLogger(__name__)
SESSION_KEY = "campaign_session_id"
State = ParticipantSession.State


def _problem(request: HttpRequest, campaign: Campaign | None, title: str, reason: str, status: int) -> HttpResponse:
    response = render(request, "campaigns/problem.html", {"campaign": campaign, "title": title, "reason": reason}, status=status)
    return allow_framing(response, campaign.frame_ancestors if campaign else "")


def _next_page(session: ParticipantSession) -> HttpResponse:
    if session.state == State.CONSENT:
        return redirect("campaigns:consent", session.campaign.slug)
    if session.state == State.WORKING:
        return redirect("annotator:annotate")
    return redirect("campaigns:done", session.campaign.slug)


@require_http_methods(["GET"])
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    """The study URL: admit the participant it names (no password) and bind them to this browser."""
    campaign = get_object_or_404(Campaign.objects.select_related("marketplace"), slug=slug)
    try:
        session = admission.admit(campaign, request.GET)
    except EntryInvalid as error:
        logger.info("campaign %s: study link refused: %s", slug, error)
        return _problem(
            request, campaign, "This study link is incomplete",
            f"The link that brought you here does not say who you are ({error.field} {error.reason}). Open the study "
            f"again from {campaign.marketplace}: its link carries your participant id.", 400,
        )
    except AdmissionRefused as error:
        return _problem(request, campaign, "You cannot start this study now", error.reason, error.status_code)
    user = session.participant.worker.user
    if request.user != user:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = session.pk
    request.session[FRAME_SESSION_KEY] = campaign.frame_ancestors
    return allow_framing(_next_page(session), campaign.frame_ancestors)


def _bound_session(request: HttpRequest, campaign: Campaign) -> ParticipantSession:
    """The session of this campaign bound to this browser (by the study link), or ``NoSession``."""
    pk = request.session.get(SESSION_KEY)
    session = None
    if pk is not None and request.user.is_authenticated:
        session = (ParticipantSession.objects.select_related("campaign__marketplace", "participant__worker")
                   .filter(pk=pk, campaign=campaign, participant__worker__user=request.user).first())
    if session is None:
        raise NoSession("session", "no session of this study is open in this browser")
    return session


def _no_session(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    return _problem(
        request, campaign, "Open the study from the marketplace",
        f"This page belongs to a participant's session, and none is open in this browser. Open the study again "
        f"from {campaign.marketplace}: its link brings you back where you were.", 403,
    )


@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("marketplace"), slug=slug)
    try:
        session = _bound_session(request, campaign)
    except NoSession:
        return _no_session(request, campaign)
    if session.state != State.CONSENT:
        return _next_page(session)
    if request.method == "POST":
        choice = request.POST.get("choice")
        if choice not in ("agree", "decline"):
            return _problem(request, campaign, "Choose an answer", "Say whether you agree to take part.", 400)
        admission.give_consent(session, choice == "agree")
        return _next_page(session)
    currency = campaign.marketplace.currency
    context = {
        "campaign": campaign, "session": session, "reward": money(campaign.reward_cents, currency),
        "screen_out_reward": money(campaign.screen_out_reward_cents, currency) if campaign.screen_out_reward_cents else "",
        "qualified": session.participant.worker.qualification == "qualified",
    }
    return allow_framing(render(request, "campaigns/consent.html", context), campaign.frame_ancestors)


@require_http_methods(["GET", "POST"])
def done(request: HttpRequest, slug: str) -> HttpResponse:
    """The end of the session (or back to work if it is not over): the marketplace's URL with the right code."""
    campaign = get_object_or_404(Campaign.objects.select_related("marketplace"), slug=slug)
    try:
        session = _bound_session(request, campaign)
    except NoSession:
        return _no_session(request, campaign)
    if request.method == "POST":
        try:
            admission.choose_extra(session, request.POST.get("choice") == "more")
        except CampaignError:
            pass  # answered already (a second tab): go on as the first answer said
    result = admission.finish(session)
    if result.next == "work":
        return redirect("annotator:annotate")
    if result.next == "consent":
        return redirect(result.url)
    if result.next == "extra":
        context = {"campaign": campaign, "session": session,
                   "bonus": money(campaign.bonus_per_extra_task_cents, campaign.marketplace.currency)}
        return allow_framing(render(request, "campaigns/extra.html", context), campaign.frame_ancestors)
    if result.next == "redirect":
        return allow_framing(redirect(result.url), campaign.frame_ancestors)
    context = {"campaign": campaign, "session": session, "outcome": result.outcome, "code": result.code}
    return allow_framing(render(request, "campaigns/exit.html", context), campaign.frame_ancestors)


@csrf_exempt
@require_POST
def prolific_hook(request: HttpRequest) -> JsonResponse:
    """Prolific's webhook deliveries: 200 once stored (or already stored), 403 for a bad signature."""
    try:
        event, new = receive(request.body, request.headers)
    except HookRefused as error:
        logger.warning("webhook refused from %s: %s", request.META.get("REMOTE_ADDR", "?"), error)
        return JsonResponse({"detail": str(error), "code": error.code, "errors": {error.field: [error.reason]}},
                            status=error.status_code)
    return JsonResponse({"event_id": event.event_id, "duplicate": not new, "outcome": event.outcome})
