"""A client for Prolific's API (https://docs.prolific.com/api-reference): studies, submissions, bonuses, groups.

Every request has a connect and a read timeout. Requests that are safe to
repeat are retried on a lost connection, a timeout, a 429 (after its
Retry-After) or a 5xx, with a growing pause: reads, study and submission
transitions (Prolific documents a submission's transition as idempotent),
participant group membership (adding a member twice, or removing a
non-member, is ignored). Never retried: creating a study (a second draft),
setting up and above all paying a bonus ("This endpoint is not idempotent.
Sending multiple requests with the same bulk bonus payment ID will result in
participants being paid multiple times", docs.prolific.com/api-reference/
bonuses/pay-bonus-payments): those callers reconcile from Prolific's own
record before trying again (``campaigns.services.ledger``).

Errors: ``MarketplaceNotConfigured`` (no token), ``TokenRefused`` (401/403),
``MarketplaceRefused`` (another 4xx: Prolific did nothing), and
``MarketplaceUnavailable`` (no answer, a timeout, a 5xx: the outcome of a
write is unknown).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

SUBMISSION_STATUSES = (
    "RESERVED", "ACTIVE", "TIMED-OUT", "AWAITING REVIEW", "APPROVED", "RETURNED", "REJECTED", "SCREENED OUT",
    "PARTIALLY APPROVED", "PROCESSING",
)
# docs.prolific.com/api-reference/submissions/transition-submission: rejection_category is required with REJECT.
REJECTION_CATEGORIES = (
    "TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL", "FAILED_CHECK", "LOW_EFFORT",
    "MALINGERING", "NO_CODE", "BAD_CODE", "NO_DATA", "UNSUPP_DEVICE", "OTHER",
)
REJECTION_MESSAGE_MIN = 100  # "It must be at least 100 chars long."
STUDY_ACTIONS = ("PUBLISH", "PAUSE", "START", "STOP")
COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"
RETRY_STATUSES = {429, 500, 502, 503, 504}


class MarketplaceError(Exception):
    """A call to the marketplace did not do what was asked."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class MarketplaceNotConfigured(MarketplaceError):
    """No API token in the environment (PROLIFIC_API_TOKEN): nothing was sent."""


class TokenRefused(MarketplaceError):
    """The marketplace refused the token (401 or 403): nothing was done there."""


class MarketplaceRefused(MarketplaceError):
    """The marketplace answered 4xx: it refused the request and did nothing; ``message`` says why."""


class MarketplaceUnavailable(MarketplaceError):
    """No usable answer (refused connection, timeout, 5xx): a write may or may not have happened."""


@dataclass(frozen=True)
class Submission:
    id: str
    participant_id: str
    status: str
    study_id: str = ""
    started_at: str | None = None
    completed_at: str | None = None
    entered_code: str = ""
    bonus_payments: tuple[int, ...] = ()  # cents paid as bonuses on this submission

    @classmethod
    def from_json(cls, data: dict) -> Submission:
        bonuses = data.get("bonus_payments") or ()
        return cls(
            id=str(data.get("id", "")),
            participant_id=str(data.get("participant_id") or data.get("participant") or ""),
            status=str(data.get("status", "")),
            study_id=str(data.get("study_id") or ""),
            started_at=data.get("started_at"),
            completed_at=data.get("completed_at"),
            entered_code=str(data.get("entered_code") or data.get("study_code") or ""),
            bonus_payments=tuple(int(round(float(b))) for b in bonuses if b is not None),
        )


def _detail(response: requests.Response) -> str:
    """Prolific's reason for a 4xx, from its error body ({"error": {"detail": ...}} or {"detail": ...})."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    if isinstance(body, dict):
        error = body.get("error", body)
        detail = error.get("detail", error) if isinstance(error, dict) else error
        return str(detail)[:300]
    return str(body)[:300]


class ProlificClient:
    """One client per piece of work; ``token`` and ``base_url`` default to the settings."""

    def __init__(self, token: str | None = None, base_url: str | None = None, session: requests.Session | None = None):
        self.token = settings.PROLIFIC_API_TOKEN if token is None else token
        if not self.token:
            raise MarketplaceNotConfigured("PROLIFIC_API_TOKEN is not set: the platform cannot call Prolific's API")
        self.base_url = (base_url or settings.PROLIFIC_API_URL).rstrip("/")
        self.http = session or requests.Session()
        self.timeout = (settings.CAMPAIGNS_HTTP_CONNECT_TIMEOUT_SECONDS, settings.CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS)
        self.retries = settings.CAMPAIGNS_HTTP_RETRIES
        self.backoff = settings.CAMPAIGNS_HTTP_BACKOFF_SECONDS

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, *, json: Any = None, params: dict | None = None, retry: bool) -> Any:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
        attempts = 1 + (self.retries if retry else 0)
        pause = self.backoff
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, url, json=json, params=params, headers=headers, timeout=self.timeout)
            except requests.RequestException as error:
                failure = MarketplaceUnavailable(f"{method} {path}: no answer from Prolific ({type(error).__name__})")
            else:
                if response.status_code in (401, 403):
                    raise TokenRefused(f"Prolific refused the API token ({response.status_code}): {_detail(response)}",
                                       response.status_code)
                if response.status_code not in RETRY_STATUSES:
                    if response.status_code >= 400:
                        raise MarketplaceRefused(f"{method} {path}: {_detail(response)}", response.status_code)
                    if response.status_code == 204 or not response.content:
                        return None
                    try:
                        return response.json()
                    except ValueError:
                        raise MarketplaceUnavailable(f"{method} {path}: Prolific's answer is not JSON") from None
                failure = MarketplaceUnavailable(f"{method} {path}: Prolific answered {response.status_code}", response.status_code)
                wait = response.headers.get("Retry-After", "")
                if wait.isdigit():
                    pause = max(pause, min(float(wait), 60.0))
            if attempt < attempts:
                logger.info("%s; trying again in %.1f s (attempt %d of %d)", failure.message, pause, attempt, attempts)
                time.sleep(pause)
                pause *= 2
        raise failure

    # ------------------------------------------------------------------ studies

    def create_study(self, payload: dict) -> dict:
        """POST /api/v1/studies/: a draft study (not retried: a repeat would make a second draft)."""
        return self._request("POST", "/api/v1/studies/", json=payload, retry=False)

    def get_study(self, study_id: str) -> dict:
        return self._request("GET", f"/api/v1/studies/{study_id}/", retry=True)

    def transition_study(self, study_id: str, action: str) -> dict:
        """POST /api/v1/studies/{id}/transition/ with PUBLISH, PAUSE, START or STOP."""
        if action not in STUDY_ACTIONS:
            raise ValueError(f"unknown study action {action!r}")
        return self._request("POST", f"/api/v1/studies/{study_id}/transition/", json={"action": action}, retry=True)

    # ------------------------------------------------------------------ submissions

    def list_submissions(self, study_id: str) -> list[Submission]:
        """Every submission of the study, following the pages (``_links.next.href``)."""
        submissions, path = [], f"/api/v1/studies/{study_id}/submissions/"
        while path:
            page = self._request("GET", path, retry=True) or {}
            submissions += [Submission.from_json(row) for row in page.get("results", [])]
            path = ((page.get("_links") or {}).get("next") or {}).get("href") or ""
        return submissions

    def get_submission(self, submission_id: str) -> Submission:
        return Submission.from_json(self._request("GET", f"/api/v1/submissions/{submission_id}/", retry=True))

    def approve(self, submission_id: str) -> Submission:
        """Approve (pays the study's reward). Idempotent at Prolific: a repeat is ignored."""
        body = self._request("POST", f"/api/v1/submissions/{submission_id}/transition/", json={"action": "APPROVE"}, retry=True)
        return Submission.from_json(body or {"id": submission_id, "status": "APPROVED"})

    def reject(self, submission_id: str, message: str, category: str) -> Submission:
        if category not in REJECTION_CATEGORIES:
            raise ValueError(f"unknown rejection category {category!r}")
        if len(message) < REJECTION_MESSAGE_MIN:
            raise ValueError(f"a rejection message needs at least {REJECTION_MESSAGE_MIN} characters")
        body = self._request(
            "POST", f"/api/v1/submissions/{submission_id}/transition/",
            json={"action": "REJECT", "message": message, "rejection_category": category}, retry=True,
        )
        return Submission.from_json(body or {"id": submission_id, "status": "REJECTED"})

    # ------------------------------------------------------------------ bonuses

    def set_up_bonus(self, study_id: str, submission_id: str, amount_cents: int) -> str:
        """POST /api/v1/submissions/bonus-payments/: one bonus, in the study's currency; returns the bulk payment id.

        Moves no money (paying is ``pay_bonus``); not retried (each call makes a new record).
        """
        csv = f"{submission_id},{amount_cents / 100:.2f}\n"
        body = self._request(
            "POST", "/api/v1/submissions/bonus-payments/", json={"study_id": study_id, "csv_bonuses": csv}, retry=False
        )
        return str(body["id"])

    def pay_bonus(self, bulk_id: str) -> None:
        """POST /api/v1/bulk-bonus-payments/{id}/pay/. NOT idempotent: never retried here."""
        self._request("POST", f"/api/v1/bulk-bonus-payments/{bulk_id}/pay/", retry=False)

    # ------------------------------------------------------------------ participant groups

    def create_participant_group(self, name: str, workspace_id: str, description: str = "") -> str:
        body = self._request(
            "POST", "/api/v1/participant-groups/",
            json={"name": name, "workspace_id": workspace_id, "description": description}, retry=False,
        )
        return str(body["id"])

    def add_to_group(self, group_id: str, participant_ids: list[str]) -> None:
        if participant_ids:
            self._request("POST", f"/api/v1/participant-groups/{group_id}/participants/",
                          json={"participant_ids": participant_ids}, retry=True)

    def remove_from_group(self, group_id: str, participant_ids: list[str]) -> None:
        if participant_ids:
            self._request("DELETE", f"/api/v1/participant-groups/{group_id}/participants/",
                          json={"participant_ids": participant_ids}, retry=True)
