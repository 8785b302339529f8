"""The campaign's own admin pages: actions, rejection, bonuses, exports, reconciliation, plots, live figures.

Each view is wrapped by ``AdminSite.admin_view`` in ``campaigns.admin``
(staff only, CSRF on posts) and checks the model permission it needs: viewing
for reads, changing for anything that acts. Errors of the marketplace (a
missing or refused token, an outage) are shown as messages, never as a 500.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from campaigns import plots, selectors
from campaigns.errors import CampaignError
from campaigns.models import Campaign, LedgerEntry, ParticipantSession
from campaigns.prolific import REJECTION_CATEGORIES, REJECTION_MESSAGE_MIN, MarketplaceError
from campaigns.rules import CURRENCY_SIGNS, min_hourly_cents, money
from campaigns.services import bonuses, ledger, payouts, reconciliation, studies, sync


def _require(request: HttpRequest, model_admin, change: bool = False) -> None:
    allowed = model_admin.has_change_permission(request) if change else model_admin.has_view_permission(request)
    if not allowed:
        raise PermissionDenied


def _campaign(object_id: str) -> Campaign:
    if not str(object_id).isdigit():
        raise Http404("no such campaign")
    return get_object_or_404(Campaign.objects.select_related("marketplace"), pk=object_id)


def _back(campaign: Campaign) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))


def _states(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {LedgerEntry.State(state).label.lower()}" for state, n in sorted(counts.items())) or "nothing to send"


def campaign_context(request: HttpRequest, campaign: Campaign) -> dict:
    """What the campaign's change page shows above its form: live figures, warnings, plots, actions."""
    return {
        "progress": selectors.progress(campaign),
        "plots": plots.PLOTS,
        "can_change": request.user.has_perm("campaigns.change_campaign"),
        "study_link": reverse("campaigns:entry", args=[campaign.slug]),
        "pending_rewards": campaign.ledger.filter(kind=LedgerEntry.Kind.REWARD, state=LedgerEntry.State.PLANNED).count(),
        "unknown_rows": campaign.ledger.filter(state=LedgerEntry.State.UNKNOWN).count(),
    }


ACTIONS = ("open", "pause", "close", "sync", "approve", "reconcile")


@require_POST
def campaign_action(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    """One of the campaign's buttons: open (publish), pause, close, sync now, approve completed, reconcile unknown rows."""
    _require(request, model_admin, change=True)
    campaign = _campaign(object_id)
    action = request.POST.get("action", "")
    try:
        if action == "open":
            result = studies.open_campaign(campaign)
        elif action == "pause":
            result = studies.pause_campaign(campaign)
        elif action == "close":
            result = studies.close_campaign(campaign)
        elif action == "sync":
            if not (campaign.marketplace.has_api and campaign.external_study_id):
                raise CampaignError("marketplace", "only a campaign with a Prolific study is synchronised")
            applied = sync.poll_campaign(campaign, ledger.client_for(campaign))
            campaign.refresh_from_db()
            result = studies.StepResult(f"Synchronised with {campaign.marketplace}: {applied} status(es) applied.",
                                        campaign.last_api_error)
        elif action == "approve":
            result = studies.StepResult(f"Rewards of completed sessions: {_states(payouts.approve_completed(campaign, request.user))}.")
        elif action == "reconcile":
            looked = ledger.reconcile_unsettled(campaign)
            result = studies.StepResult(f"{looked} row(s) of unknown outcome reconciled from {campaign.marketplace}'s record.")
        else:
            raise CampaignError("action", f"must be one of {', '.join(ACTIONS)}, got {action!r}")
    except CampaignError as error:
        messages.error(request, str(error))
    except MarketplaceError as error:
        messages.error(request, f"{campaign.marketplace}: {error.message}. Nothing was left half-done; try again once it is fixed.")
    else:
        messages.success(request, result.message)
        if result.warning:
            messages.warning(request, f"{campaign.marketplace} could not be told: {result.warning}")
    return _back(campaign)


class RejectForm(forms.Form):
    session = forms.ModelChoiceField(queryset=ParticipantSession.objects.none(), help_text="A completed session.")
    rejection_category = forms.ChoiceField(choices=[(c, c.replace("_", " ").capitalize()) for c in REJECTION_CATEGORIES])
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}), min_length=REJECTION_MESSAGE_MIN,
        help_text=f"Sent to the participant: why, in at least {REJECTION_MESSAGE_MIN} characters (Prolific's rule).",
    )

    def __init__(self, campaign: Campaign, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = campaign.sessions.filter(state=ParticipantSession.State.COMPLETED).select_related(
            "participant")


def campaign_reject(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    campaign = _campaign(object_id)
    form = RejectForm(campaign, request.POST or None)
    if request.method == "POST":
        _require(request, model_admin, change=True)
        if form.is_valid():
            session = form.cleaned_data["session"]
            try:
                entry = payouts.reject(session, form.cleaned_data["rejection_category"], form.cleaned_data["message"], request.user)
            except CampaignError as error:
                form.add_error(error.field if error.field in form.fields else None, error.reason)
            except MarketplaceError as error:
                messages.error(request, f"{campaign.marketplace}: {error.message}. No rejection was written.")
            else:
                level = messages.SUCCESS if entry.state == LedgerEntry.State.PAID else messages.WARNING
                messages.add_message(request, level, f"Rejection of {session.participant.external_id}: "
                                     f"{entry.get_state_display().lower()}{' (' + entry.last_error + ')' if entry.last_error else ''}.")
                return _back(campaign)
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "original": campaign,
               "title": f"Reject a submission of {campaign}", "form": form}
    return TemplateResponse(request, "admin/campaigns/campaign_reject.html", context)


def campaign_bonuses(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    """GET: the bonus rule's preview with its total; POST: pay what was previewed."""
    _require(request, model_admin)
    campaign = _campaign(object_id)
    if request.method == "POST":
        _require(request, model_admin, change=True)
        try:
            total = int(request.POST.get("total", ""))
            counts = bonuses.pay(campaign, previewed_total_cents=total, by=request.user)
        except ValueError:
            messages.error(request, "total: preview the bonuses first")
        except CampaignError as error:
            messages.error(request, str(error))
        except MarketplaceError as error:
            messages.error(request, f"{campaign.marketplace}: {error.message}. No bonus row was written.")
        else:
            messages.success(request, f"Bonuses: {_states(counts)}.")
            return _back(campaign)
    lines, total = bonuses.preview(campaign)
    currency = campaign.marketplace.currency
    context = {
        **model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "original": campaign,
        "title": f"Bonuses of {campaign}", "lines": lines, "total": total, "total_shown": money(total, currency),
        "rows": [(line, money(line.amount_cents, currency)) for line in lines],
        "per_control": money(campaign.bonus_per_control_cents, currency),
        "per_extra": money(campaign.bonus_per_extra_task_cents, currency),
    }
    return TemplateResponse(request, "admin/campaigns/campaign_bonuses.html", context)


def campaign_ledger_csv(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    campaign = _campaign(object_id)
    response = HttpResponse(ledger.ledger_csv(campaign.ledger.all()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ledger-{campaign.slug}.csv"'
    return response


def campaign_reconciliation(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    """The ledger against Prolific's submissions: every difference (``?format=csv`` to download)."""
    _require(request, model_admin)
    campaign = _campaign(object_id)
    differences, problem = [], ""
    try:
        differences = reconciliation.report(campaign)
    except CampaignError as error:
        problem = str(error)
    except MarketplaceError as error:
        problem = f"{campaign.marketplace}: {error.message}"
    if request.GET.get("format") == "csv" and not problem:
        response = HttpResponse(reconciliation.report_csv(differences), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="reconciliation-{campaign.slug}.csv"'
        return response
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, "original": campaign,
               "title": f"Reconciliation of {campaign}", "differences": differences, "problem": problem}
    return TemplateResponse(request, "admin/campaigns/campaign_reconciliation.html", context)


def campaign_plot(request: HttpRequest, object_id: str, name: str, model_admin) -> HttpResponse:
    _require(request, model_admin)
    campaign = _campaign(object_id)
    if name == "progress":
        png = plots.progress_png(selectors.completions_over_time(campaign), selectors.answers_over_time(campaign),
                                 campaign.target_participants)
    elif name == "sessions":
        png = plots.sessions_png(selectors.progress(campaign).states, dict(ParticipantSession.State.choices))
    elif name == "seconds-per-task":
        png = plots.seconds_per_task_png(selectors.seconds_per_task(campaign))
    elif name == "hourly-pay":
        png = plots.hourly_pay_png(selectors.hourly_pay_per_session(campaign), min_hourly_cents(campaign.marketplace),
                                   CURRENCY_SIGNS.get(campaign.marketplace.currency, ""))
    else:
        raise Http404(f"no plot {name!r}: plots are {', '.join(plots.PLOTS)}")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-cache"
    return response


def campaign_progress_json(request: HttpRequest, object_id: str, model_admin) -> JsonResponse:
    """The live figures, for the page's script (it refreshes them and the plots)."""
    _require(request, model_admin)
    progress = selectors.progress(_campaign(object_id))
    return JsonResponse({"figures": progress.figures, "warnings": progress.warnings, **progress.as_json})


def campaign_release_json(request: HttpRequest, object_id: str, model_admin) -> HttpResponse:
    """What a snapshot's release notes say of this campaign's crowd (platform, people, answers, pay)."""
    _require(request, model_admin)
    campaign = _campaign(object_id)
    response = HttpResponse(json.dumps(selectors.release_facts(campaign), indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="release-{campaign.slug}.json"'
    return response
