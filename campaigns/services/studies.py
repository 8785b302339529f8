"""A campaign's life (draft, open, paused, closed) and its study at Prolific.

Opening a Prolific campaign the first time creates its study (a draft:
POST /api/v1/studies/) and publishes it (POST /api/v1/studies/{id}/transition/
PUBLISH); later, pausing, resuming and closing move the study with it (PAUSE,
START, STOP). The campaign's own state changes first: a campaign paused
while Prolific cannot be reached stops admitting at once, and the admin is
told Prolific was not (``last_api_error``).

The study's URL is CAMPAIGNS_PUBLIC_URL + /c/<slug>/ with Prolific's
placeholders ``PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}``;
its completion codes are the campaign's three: completion (reviewed by hand,
or approved automatically), screen-out (a fixed screen-out payment when the
campaign pays one, else a request to return), no consent (a request to return).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from campaigns.errors import CampaignError
from campaigns.models import Campaign, Marketplace
from campaigns.prolific import MarketplaceError, ProlificClient
from campaigns.rules import check_campaign
from campaigns.services import health

logger = logging.getLogger(__name__)
State = Campaign.State


@dataclass(frozen=True)
class StepResult:
    message: str
    warning: str = ""  # the step was taken here, but the marketplace could not be told


def save_campaign(campaign: Campaign) -> Campaign:
    """Check every rule (``campaigns.rules``: the hourly minimum with its figures...), then save."""
    check_campaign(campaign)
    campaign.save()
    return campaign


def study_url(campaign: Campaign) -> str:
    if not settings.CAMPAIGNS_PUBLIC_URL:
        raise CampaignError("CAMPAIGNS_PUBLIC_URL", "set this site's public address to publish a study on Prolific")
    path = reverse("campaigns:entry", args=[campaign.slug])
    return f"{settings.CAMPAIGNS_PUBLIC_URL}{path}"


def study_payload(campaign: Campaign) -> dict:
    """The draft study Prolific's POST /api/v1/studies/ takes (docs.prolific.com/api-reference/studies/create-study)."""
    if not campaign.target_participants:
        raise CampaignError("target_participants", "Prolific needs the number of places: set the participants wanted")
    screen_out = (
        {"code": campaign.screen_out_code, "code_type": "FIXED_SCREENOUT",
         "actions": [{"action": "FIXED_SCREEN_OUT_PAYMENT", "fixed_screen_out_reward": campaign.screen_out_reward_cents,
                      "slots": campaign.target_participants}]}
        if campaign.screen_out_reward_cents else
        {"code": campaign.screen_out_code, "code_type": "OTHER",
         "actions": [{"action": "REQUEST_RETURN", "return_reason": "Did not pass the qualification test."}]}
    )
    return {
        "name": campaign.name,
        "internal_name": f"emotic campaign {campaign.slug}",
        "description": campaign.consent_text[:4000],
        "external_study_url": study_url(campaign)
        + "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
        "prolific_id_option": "url_parameters",
        "completion_codes": [
            {"code": campaign.completion_code, "code_type": "COMPLETED",
             "actions": [{"action": "AUTOMATICALLY_APPROVE" if campaign.auto_approve else "MANUALLY_REVIEW"}]},
            screen_out,
            {"code": campaign.no_consent_code, "code_type": "NO_CONSENT",
             "actions": [{"action": "REQUEST_RETURN", "return_reason": "Did not consent to take part."}]},
        ],
        "total_available_places": campaign.target_participants,
        "estimated_completion_time": campaign.expected_minutes,
        "reward": campaign.reward_cents,
        "device_compatibility": ["desktop"],
    }


def _transition(campaign: Campaign, action: str) -> str:
    """Move the study at Prolific; "" when done, else the error for the admin (recorded on the campaign)."""
    if not campaign.marketplace.has_api or not campaign.external_study_id:
        return ""
    try:
        study = ProlificClient().transition_study(campaign.external_study_id, action)
    except MarketplaceError as error:
        health.record_error(campaign, error)
        return error.message
    health.record_success(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(external_status=str((study or {}).get("status", ""))[:32])
    campaign.refresh_from_db()
    return ""


def publish_study(campaign: Campaign) -> str:
    """Create the campaign's draft study at Prolific and publish it; returns the study id."""
    payload = study_payload(campaign)
    client = ProlificClient()
    try:
        study = client.create_study(payload)
    except MarketplaceError as error:
        health.record_error(campaign, error)
        raise
    Campaign.objects.filter(pk=campaign.pk).update(external_study_id=str(study["id"]), external_status=study.get("status", ""))
    campaign.refresh_from_db()
    logger.info("campaign %s: draft study %s created at Prolific", campaign.slug, campaign.external_study_id)
    try:
        study = client.transition_study(campaign.external_study_id, "PUBLISH")
    except MarketplaceError as error:
        health.record_error(campaign, error)
        raise
    health.record_success(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(external_status=str(study.get("status", ""))[:32])
    campaign.refresh_from_db()
    return campaign.external_study_id


def open_campaign(campaign: Campaign) -> StepResult:
    """Open a draft (publishing its Prolific study) or resume a paused campaign."""
    check_campaign(campaign)
    if campaign.state == State.CLOSED:
        raise CampaignError("state", "a closed campaign cannot be opened again: make a new one")
    if campaign.state == State.OPEN:
        return StepResult(f"{campaign} is already open.")
    if campaign.marketplace.has_api and not campaign.external_study_id:
        try:
            publish_study(campaign)
        except MarketplaceError as error:
            raise CampaignError("marketplace", f"the study could not be published on Prolific: {error.message}") from None
        warning = ""
    else:
        warning = _transition(campaign, "START") if campaign.state == State.PAUSED else ""
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(state=State.OPEN, opened_at=campaign.opened_at or timezone.now())
    campaign.refresh_from_db()
    return StepResult(f"{campaign} is open: participants are admitted.", warning)


def pause_campaign(campaign: Campaign) -> StepResult:
    if campaign.state != State.OPEN:
        raise CampaignError("state", f"only an open campaign can be paused; this one is {campaign.get_state_display().lower()}")
    Campaign.objects.filter(pk=campaign.pk).update(state=State.PAUSED)
    campaign.refresh_from_db()
    warning = _transition(campaign, "PAUSE")
    return StepResult(f"{campaign} is paused: no one new is admitted; participants already working finish.", warning)


def close_campaign(campaign: Campaign) -> StepResult:
    if campaign.state == State.CLOSED:
        return StepResult(f"{campaign} is already closed.")
    Campaign.objects.filter(pk=campaign.pk).update(state=State.CLOSED, closed_at=timezone.now())
    campaign.refresh_from_db()
    warning = _transition(campaign, "STOP")
    return StepResult(f"{campaign} is closed: participants working now finish their task and are sent back.", warning)


def create_participant_groups(marketplace: Marketplace) -> StepResult:
    """Make the Prolific participant groups kept in step with qualification and blocks (once)."""
    if marketplace.kind != Marketplace.Kind.PROLIFIC:
        raise CampaignError("kind", "participant groups are Prolific's")
    if not settings.PROLIFIC_WORKSPACE_ID:
        raise CampaignError("PROLIFIC_WORKSPACE_ID", "set the Prolific workspace the groups belong to")
    client = ProlificClient()
    made = []
    for field, name, description in (
        ("allowed_group_id", "passed qualification", "Passed this platform's qualification test."),
        ("blocked_group_id", "blocked", "Blocked by this platform's quality control."),
    ):
        if not getattr(marketplace, field):
            group_id = client.create_participant_group(f"{marketplace.name}: {name}", settings.PROLIFIC_WORKSPACE_ID,
                                                       description)
            Marketplace.objects.filter(pk=marketplace.pk).update(**{field: group_id})
            made.append(name)
    marketplace.refresh_from_db()
    return StepResult(f"Participant groups made: {', '.join(made)}." if made else "The participant groups exist already.")
