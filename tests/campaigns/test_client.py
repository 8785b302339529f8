"""The Prolific client against Prolific on loopback: timeouts, retries (only where safe), errors, pages."""

from __future__ import annotations

import time

import pytest

from campaigns.prolific import (
    MarketplaceNotConfigured,
    MarketplaceRefused,
    MarketplaceUnavailable,
    ProlificClient,
    TokenRefused,
)
from tests.campaigns.factories import object_id

STUDY = {"name": "s", "description": "d", "external_study_url": "https://emotic.test/c/s/", "prolific_id_option": "url_parameters",
         "completion_codes": [{"code": "DONE1", "code_type": "COMPLETED", "actions": [{"action": "MANUALLY_REVIEW"}]}],
         "total_available_places": 3, "estimated_completion_time": 5, "reward": 100}


@pytest.fixture
def client(prolific, settings):
    settings.CAMPAIGNS_HTTP_RETRIES = 2
    return ProlificClient()


def test_a_read_is_retried_on_5xx_and_on_429_after_its_retry_after(prolific, client):
    study = client.create_study(STUDY)
    prolific.script("GET", r"/api/v1/studies/.*/", 503)
    prolific.script("GET", r"/api/v1/studies/.*/", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    assert client.get_study(study["id"])["id"] == study["id"]
    assert time.monotonic() - started >= 1.0
    assert prolific.count("GET", r"/api/v1/studies/.*/") == 3


def test_every_request_has_a_read_timeout_and_gives_up_after_its_retries(prolific, client, settings):
    settings.CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS = 0.3
    slow = ProlificClient()
    for _ in range(3):
        prolific.script("GET", r"/api/v1/submissions/.*/", 200, {}, delay=1.0)
    started = time.monotonic()
    with pytest.raises(MarketplaceUnavailable, match="no answer from Prolific"):
        slow.get_submission(object_id())
    assert time.monotonic() - started < 3  # three attempts of 0.3 s, not three seconds


def test_a_bonus_payment_and_a_study_creation_are_never_retried(prolific, client):
    prolific.script("POST", r"/api/v1/bulk-bonus-payments/.*/pay/", 503)
    with pytest.raises(MarketplaceUnavailable):
        client.pay_bonus(object_id())
    assert prolific.count("POST", r"/api/v1/bulk-bonus-payments/.*/pay/") == 1
    prolific.script("POST", r"/api/v1/studies/", 502)
    with pytest.raises(MarketplaceUnavailable):
        client.create_study(STUDY)
    assert prolific.count("POST", r"/api/v1/studies/") == 1


def test_a_submissions_transition_is_retried_it_is_idempotent_at_prolific(prolific, client):
    study = client.create_study(STUDY)
    _, submission = prolific.take_place(study["id"])
    prolific.submit_code(submission, "DONE1")
    prolific.script("POST", r"/api/v1/submissions/.*/transition/", 500)
    assert client.approve(submission).status == "APPROVED"
    assert client.approve(submission).status == "APPROVED"  # again: ignored by Prolific


def test_refusals_name_prolifics_reason_and_a_bad_token_is_its_own_error(prolific, client, settings):
    with pytest.raises(MarketplaceRefused, match="Not Found|not found"):
        client.get_study(object_id())
    with pytest.raises(MarketplaceRefused, match="total_available_places"):
        client.create_study({**STUDY, "total_available_places": None})
    prolific.refuse_token = True
    with pytest.raises(TokenRefused, match="401"):
        client.get_study(object_id())
    assert prolific.count("GET", r"/api/v1/studies/.*/") == 2  # not retried
    settings.PROLIFIC_API_TOKEN = ""
    with pytest.raises(MarketplaceNotConfigured, match="PROLIFIC_API_TOKEN"):
        ProlificClient()


def test_every_page_of_a_studys_submissions_is_read(prolific, client):
    prolific.page_size = 2
    study = client.create_study(STUDY)
    made = {prolific.take_place(study["id"])[1] for _ in range(5)}
    assert {s.id for s in client.list_submissions(study["id"])} == made
    assert prolific.count("GET", r"/api/v1/studies/.*/submissions/") == 3


def test_a_rejection_is_checked_before_it_is_sent(client):
    with pytest.raises(ValueError):
        client.reject(object_id(), "too short", "LOW_EFFORT")
    with pytest.raises(ValueError):
        client.reject(object_id(), "x" * 100, "SLOW")
