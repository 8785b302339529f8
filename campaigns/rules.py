"""The rules a campaign and a marketplace must meet, checked where they are saved (the admin) and by the services.

Pure checks on the rows' values (no queries): each failure is a
``CampaignInvalid`` naming the field and saying why, with the figures.
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from emotic.errors import FieldError
from emotic.taxonomy import SPLITS

TASK_KINDS = ("boxes", "emotions")
SPLIT_CHOICES = (*SPLITS, "")
CODE = re.compile(r"^[A-Za-z0-9_-]{3,40}$")
URL_PLACEHOLDERS = {"code", "participant_id", "session_id", "study_id"}
# Prolific's minimum hourly pay (its researcher help: "Prolific's minimum pay": £6.00 / $8.00 an hour).
PROLIFIC_MIN_HOURLY_CENTS = {"GBP": 600, "USD": 800}
CURRENCY_SIGNS = {"GBP": "£", "USD": "$", "EUR": "€"}
MAX_FRAME_ANCESTORS = 5


class CampaignInvalid(FieldError):
    """A campaign or marketplace setting breaks a rule; nothing was saved."""

    status_code = 400
    code = "invalid"


def money(cents: float, currency: str) -> str:
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{cents / 100:.2f}" if sign else f"{cents / 100:.2f} {currency}"


def min_hourly_cents(marketplace) -> int | None:
    """The marketplace's minimum hourly pay in cents (its own setting, else Prolific's), or None."""
    if marketplace.min_hourly_cents is not None:
        return marketplace.min_hourly_cents
    if marketplace.kind == "prolific":
        return PROLIFIC_MIN_HOURLY_CENTS.get(marketplace.currency)
    return None


def hourly_cents(reward_cents: float, minutes: float) -> float:
    return reward_cents * 60 / minutes if minutes > 0 else 0.0


def check_hourly_minimum(marketplace, reward_cents: int, expected_minutes: int) -> None:
    minimum = min_hourly_cents(marketplace)
    if minimum is None or not expected_minutes:
        return
    hourly = hourly_cents(reward_cents, expected_minutes)
    if hourly + 1e-9 < minimum:
        currency = marketplace.currency
        least = -(-minimum * expected_minutes // 60)  # the smallest reward meeting the minimum, rounded up
        raise CampaignInvalid(
            "reward_cents",
            f"{money(reward_cents, currency)} for an expected {expected_minutes} minutes is {money(hourly, currency)} an "
            f"hour, under {marketplace.name}'s minimum of {money(minimum, currency)} an hour: pay at least "
            f"{money(least, currency)} per session, or expect fewer minutes",
        )


def check_url_template(field: str, template: str) -> None:
    if not template:
        return
    parts = urlsplit(template.replace("{", "").replace("}", ""))
    local = parts.hostname in ("localhost", "127.0.0.1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local) or not parts.hostname:
        raise CampaignInvalid(field, f"must be an https:// URL, got {template!r}")
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise CampaignInvalid(field, f"has a malformed placeholder: {error}") from None
    unknown = names - URL_PLACEHOLDERS
    if unknown:
        raise CampaignInvalid(
            field, f"unknown placeholder {{{sorted(unknown)[0]}}}: use {', '.join('{' + p + '}' for p in sorted(URL_PLACEHOLDERS))}"
        )


def check_marketplace(marketplace) -> None:
    if marketplace.kind == "generic" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,39}", marketplace.id_parameter or ""):
        raise CampaignInvalid("id_parameter", "name the query parameter that carries the participant's id (letters, digits, _ . -)")
    if marketplace.kind in ("connect", "sona", "generic") and not marketplace.completion_url:
        raise CampaignInvalid("completion_url", f"{marketplace.get_kind_display()} needs the URL participants go back to")
    for field in ("completion_url", "screen_out_url", "no_consent_url"):
        check_url_template(field, getattr(marketplace, field))


def frame_origins(value: str) -> list[str]:
    """The origins of a campaign's ``frame_ancestors``, each checked (https, a host, nothing else)."""
    origins = value.split()
    if len(origins) > MAX_FRAME_ANCESTORS:
        raise CampaignInvalid("frame_ancestors", f"at most {MAX_FRAME_ANCESTORS} origins, got {len(origins)}")
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query or "*" in origin:
            raise CampaignInvalid("frame_ancestors", f"{origin!r} is not an origin like https://panel.example.org")
    return [origin.rstrip("/") for origin in origins]


def check_campaign(campaign) -> None:
    """Every rule a campaign must meet to be saved; the first broken one is raised."""
    kinds = campaign.task_kinds
    if not isinstance(kinds, list) or not all(k in TASK_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
        raise CampaignInvalid("task_kinds", f"must be a list of {', '.join(TASK_KINDS)} (empty: both), got {kinds!r}")
    splits = campaign.splits
    if not isinstance(splits, list) or not all(s in SPLIT_CHOICES for s in splits) or len(set(splits)) != len(splits):
        raise CampaignInvalid("splits", f"must be a list of {', '.join(map(repr, SPLIT_CHOICES))} (empty: all), got {splits!r}")
    if not campaign.session_tasks and not campaign.session_minutes:
        raise CampaignInvalid("session_tasks", "set the session quota: N tasks, M minutes, or both")
    if not campaign.expected_minutes:
        raise CampaignInvalid("expected_minutes", "must be at least 1")
    codes = {"completion_code": campaign.completion_code, "screen_out_code": campaign.screen_out_code,
             "no_consent_code": campaign.no_consent_code}
    for field, code in codes.items():
        if not CODE.fullmatch(code or ""):
            raise CampaignInvalid(field, f"must be 3 to 40 letters, digits, - or _, got {code!r}")
    if len(set(codes.values())) != len(codes):
        raise CampaignInvalid("screen_out_code", "the completion, screen-out and no-consent codes must all differ")
    if campaign.reward_cents is None or campaign.reward_cents <= 0:
        raise CampaignInvalid("reward_cents", "must be more than 0")
    if campaign.screen_out_reward_cents and campaign.screen_out_reward_cents >= campaign.reward_cents:
        raise CampaignInvalid("screen_out_reward_cents", "must be less than the session's reward")
    if not (campaign.consent_text or "").strip():
        raise CampaignInvalid("consent_text", "write the information and consent sheet shown before any work")
    frame_origins(campaign.frame_ancestors or "")
    if campaign.marketplace_id is not None:
        check_hourly_minimum(campaign.marketplace, campaign.reward_cents, campaign.expected_minutes)
