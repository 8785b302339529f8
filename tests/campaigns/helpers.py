"""A participant's browser in the campaigns' tests: Django's test client through the study link, the consent
sheet and the worker API, as the annotation page uses it."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.test import Client

HAPPY = {"categories": ["Happiness"], "valence": 7, "arousal": 5, "dominance": 6, "gender": "Female", "age": "Adult"}
WRONG = {**HAPPY, "categories": ["Anger"]}  # fails the qualification items (they require Happiness)


class Browser:
    def __init__(self):
        self.client = Client()

    def open_study(self, slug: str, **params):
        return self.client.get(f"/c/{slug}/?{urlencode(params)}")

    def open_url(self, url: str):
        """A study URL as the marketplace builds it (https://emotic.test/c/<slug>/?...)."""
        path = url.split("://", 1)[-1].split("/", 1)[1]
        return self.client.get("/" + path)

    def consent(self, slug: str, agree: bool = True):
        return self.client.post(f"/c/{slug}/consent/", {"choice": "agree" if agree else "decline"})

    def next_task(self):
        return self.client.get("/api/tasks/next/")

    def submit(self, task_id: int, answer: dict = HAPPY, seconds: float = 9.5):
        body = {"submission_id": str(uuid.uuid4()), **answer, "seconds_spent": seconds}
        return self.client.post(f"/api/tasks/{task_id}/submit/", body, content_type="application/json")

    def work(self, tasks: int, answer: dict = HAPPY) -> list[int]:
        """Answer ``tasks`` tasks (qualification items included); returns their ids."""
        done = []
        for _ in range(tasks):
            response = self.next_task()
            assert response.status_code == 200, (response.status_code, response.headers)
            task = response.json()
            assert self.submit(task["id"], answer).status_code == 201
            done.append(task["id"])
        return done

    def finish(self, slug: str):
        return self.client.get(f"/c/{slug}/done/")

    def me(self) -> dict:
        return self.client.get("/api/me/").json()


def prolific_params(participant_id: str, study_id: str, session_id: str) -> dict:
    return {"PROLIFIC_PID": participant_id, "STUDY_ID": study_id, "SESSION_ID": session_id}


def arrive(prolific, campaign, consent: bool = True) -> tuple[Browser, str]:
    """A participant takes a place on Prolific and opens the study link (and consents); (browser, submission id)."""
    participant_id, submission_id = prolific.take_place(campaign.external_study_id)
    browser = Browser()
    browser.open_url(prolific.study_url_for(campaign.external_study_id, participant_id, submission_id))
    if consent:
        browser.consent(campaign.slug)
    return browser, submission_id


def complete_session(prolific, campaign, *, qualification_items: int = 2, submit: bool = True):
    """A participant works a whole session (the test, then the quota) and submits the completion code on Prolific."""
    from campaigns.models import ParticipantSession

    browser, submission_id = arrive(prolific, campaign)
    browser.work(qualification_items + campaign.session_tasks)
    assert browser.finish(campaign.slug)["Location"].endswith(f"cc={campaign.completion_code}")
    if submit:
        prolific.submit_code(submission_id, campaign.completion_code)
    return ParticipantSession.objects.get(external_session_id=submission_id), submission_id
