"""A marketplace's health as the campaigns see it: errors recorded for the admin, admissions halted while it is down.

When CAMPAIGNS_HALT_AFTER_FAILURES calls in a row to the marketplace get no
answer, the campaign stops admitting (new arrivals see a page saying the
study is paused for a moment; participants already working go on, and their
completion, answers and ledger rows are kept). The first call that works
again resumes admissions. A refused token is recorded (the admin says so) but
halts nothing: participants can still work, and payment waits for the token.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.prolific import MarketplaceError, MarketplaceUnavailable

logger = logging.getLogger(__name__)


def record_error(campaign: Campaign, error: MarketplaceError) -> None:
    """Keep the error for the campaign's admin page; count it towards halting admissions when it is an outage."""
    now = timezone.now()
    fields = {"last_api_error": error.message[:500], "last_api_error_at": now}
    if isinstance(error, MarketplaceUnavailable):
        fields["marketplace_failures"] = F("marketplace_failures") + 1
    Campaign.objects.filter(pk=campaign.pk).update(**fields)
    campaign.refresh_from_db()
    if (isinstance(error, MarketplaceUnavailable) and campaign.marketplace_failures >= settings.CAMPAIGNS_HALT_AFTER_FAILURES
            and campaign.admissions_halted_at is None):
        reason = f"{campaign.marketplace} cannot be reached ({error.message})"
        Campaign.objects.filter(pk=campaign.pk, admissions_halted_at__isnull=True).update(
            admissions_halted_at=now, admissions_halted_reason=reason[:300]
        )
        campaign.refresh_from_db()
        logger.warning("campaign %s: admissions halted: %s", campaign.slug, reason)


def record_success(campaign: Campaign) -> None:
    """A call worked: the failure count starts again, and halted admissions resume."""
    if campaign.marketplace_failures or campaign.admissions_halted_at or campaign.last_api_error:
        Campaign.objects.filter(pk=campaign.pk).update(
            marketplace_failures=0, admissions_halted_at=None, admissions_halted_reason="", last_api_error="",
            last_api_error_at=None,
        )
        if campaign.admissions_halted_at:
            logger.info("campaign %s: %s answers again, admissions resume", campaign.slug, campaign.marketplace)
        campaign.refresh_from_db()
