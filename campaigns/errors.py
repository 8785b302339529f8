"""Errors of the campaign services about bad input or a refused step; each names the field and says why."""

from __future__ import annotations

from emotic.errors import FieldError


class CampaignError(FieldError):
    """Bad input to a campaign service, or a step it refuses; nothing was written."""

    status_code = 400
    code = "invalid"


class AdmissionRefused(CampaignError):
    """A participant cannot be admitted now; ``code`` tells the page which explanation to show."""

    def __init__(self, code: str, reason: str, status_code: int = 403):
        super().__init__("campaign", reason)
        self.code = code
        self.status_code = status_code


class NoSession(CampaignError):
    """The browser holds no live session of this campaign (the study link was not opened here)."""

    status_code = 403
    code = "no_session"
