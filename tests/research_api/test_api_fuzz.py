"""Schemathesis against the researcher API with a token holding every scope: every answer is one the schema documents.

Generated requests, schema-valid and schema-breaking, to every operation under
/api/research/v1/ (a few ids are the world's real snapshot, run and crawl job):
no 5xx, documented status codes, content types, bodies (the ``Error`` shape for
every 4xx) and headers.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from emotic_export.models import DatasetSnapshot
from research_api.api import ResearchThrottle
from research_api.services import grant_research_token
from scraper.models import CrawlJob
from tests.factories import EmotionAnnotationFactory, UserFactory
from tests.security.test_api_fuzz import CHECKS, connections_kept_between_requests, operations  # noqa: F401  (a fixture)
from training.models import TrainingRun

pytestmark = pytest.mark.django_db
EXAMPLES_PER_OPERATION = 15


@pytest.fixture
def researcher_session(monkeypatch):
    monkeypatch.setattr(ResearchThrottle, "rate", "1000000/minute", raising=False)
    EmotionAnnotationFactory()
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s", formats=["npy"],
                                              completed_at=timezone.now())
    run = TrainingRun.objects.create(snapshot=snapshot, mode="body", state="succeeded")
    job = CrawlJob.objects.create(kind="urls", params={"path": "/nowhere.txt"})
    _, key = grant_research_token(UserFactory(username="fuzzer", is_staff=True), "fuzz",
                                  ["read", "identify", "export", "train", "crawl"])
    return {"headers": {"Authorization": f"Token {key}"}}, [snapshot.pk, run.pk, job.pk]


@pytest.mark.usefixtures("connections_kept_between_requests")
def test_every_answer_to_a_researcher_is_documented(researcher_session):
    session, ids = researcher_session
    failures = []
    for operation in operations():
        if not operation.path.startswith("/api/research/v1/"):
            continue
        breakable = any(len(part) for part in (operation.path_parameters, operation.query, operation.body))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if breakable else (GenerationMode.POSITIVE,):
            strategies = [operation.as_strategy(generation_mode=mode, **session)]
            if "{id}" in operation.path:
                strategies += [operation.as_strategy(generation_mode=mode, **session, path_parameters={"id": pk}) for pk in ids]

            @given(case=st.one_of(strategies))
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def send(case):
                response = case.call(**session)
                case.validate_response(response, checks=CHECKS, headers=session["headers"])

            try:
                send()
            except Exception as error:
                failures.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {error}")
    assert failures == [], "\n\n".join(failures)
