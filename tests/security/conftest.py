"""A small world with every role and one object of every kind that a URL can point at.

Roles: anonymous, two qualified workers (A and B), a worker blocked by the
trust service, a worker who has not qualified yet, a staff member with no
model permissions, and a superuser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from annotator.models import TaskAssignment, TaskKind
from quality.models import PersonAgreement, QualityReport
from quality.trust import block_worker
from annotator.services.workers import create_api_token
from emotic_export.models import DatasetSnapshot
from scraper.models import CrawlItem, CrawlJob, SearchSourceStatus
from tests.campaigns.factories import LedgerEntryFactory, SessionFactory, WebhookEventFactory
from tests.factories import (
    BoxAnnotationFactory,
    EmotionAnnotationFactory,
    GoldItemFactory,
    ImageFactory,
    PersonFactory,
    TaskAssignmentFactory,
    UserFactory,
    WorkerFactory,
)
from research_api.services import grant_research_token
from training.models import TrainingRun

ROLES = ("anonymous", "worker_a", "worker_b", "blocked", "unqualified", "staff", "superuser")
WORKER_ROLES = ("worker_a", "worker_b", "blocked", "unqualified")


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle counters never leak from one test into another."""
    cache.clear()
    yield
    cache.clear()


@dataclass
class World:
    users: dict = field(default_factory=dict)
    workers: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)

    def client(self, role: str, **kwargs) -> Client:
        client = Client(**kwargs)
        if role != "anonymous":
            client.force_login(self.users[role])
        return client


def _snapshot_with_archive() -> DatasetSnapshot:
    key = default_storage.save("snapshots/security-test.tar.gz", ContentFile(b"\x1f\x8b archive bytes"))
    return DatasetSnapshot.objects.create(
        name="security-test", state="complete", storage_key="snapshots/security-test", archive_key=key,
        completed_at=timezone.now(), formats=["jsonl", "npy"],
    )


def _finished_run(snapshot: DatasetSnapshot) -> TrainingRun:
    run = TrainingRun.objects.create(snapshot=snapshot, mode="body", state="succeeded")
    report_dir = f"training-runs/{run.pk}/report"
    default_storage.save(f"{report_dir}/report.json", ContentFile(b'{"mean_average_precision": 0.5}'))
    run.report_key = f"{report_dir}/report.json"
    run.save(update_fields=["report_key"])
    return run


@pytest.fixture
def world(db, settings, tmp_path) -> World:
    settings.GOLD_RATE = 0.0  # hidden controls are tested on their own
    w = World()
    w.workers["worker_a"] = WorkerFactory(user__username="worker-a")
    w.workers["worker_b"] = WorkerFactory(user__username="worker-b")
    w.workers["blocked"] = WorkerFactory(user__username="blocked-worker")
    w.workers["unqualified"] = WorkerFactory(user__username="new-worker", pending=True)
    w.users = {role: worker.user for role, worker in w.workers.items()}
    w.users["staff"] = UserFactory(username="staff-member", is_staff=True)
    w.users["superuser"] = UserFactory(username="admin", is_staff=True, is_superuser=True)

    image = ImageFactory(file=True)
    a, b = w.workers["worker_a"], w.workers["worker_b"]
    w.objects["task_a"] = TaskAssignmentFactory(worker=a, person=PersonFactory(image=image))
    w.objects["task_b"] = TaskAssignmentFactory(worker=b, person=PersonFactory(image=image, x1=320, x2=600))
    blocked_task = TaskAssignmentFactory(worker=w.workers["blocked"], person=PersonFactory(image=image, x1=0, x2=90))
    block_worker(w.workers["blocked"], reason="failed too many control items")
    blocked_task.refresh_from_db()
    w.objects["task_blocked"] = blocked_task
    w.objects["annotation_b"] = EmotionAnnotationFactory(worker=b, person=PersonFactory(image=image, x1=10, x2=60))
    w.objects["box_annotation"] = BoxAnnotationFactory(worker=b)
    w.objects["gold"] = GoldItemFactory(for_qualification=True)
    w.objects["token_a"], w.objects["key_a"] = create_api_token(a, "script")
    w.objects["token_b"], w.objects["key_b"] = create_api_token(b, "script")
    w.objects["image"] = image
    w.objects["person"] = w.objects["task_a"].person
    w.objects["worker"] = b
    w.objects["user"] = b.user
    w.objects["group"] = Group.objects.create(name="reviewers")
    w.objects["snapshot"] = _snapshot_with_archive()
    w.objects["run"] = _finished_run(w.objects["snapshot"])
    job = CrawlJob.objects.create(kind="urls", params={"path": "/nowhere.txt"})
    w.objects["crawljob"] = job
    w.objects["crawlitem"] = CrawlItem.objects.create(
        job=job, source=w.objects["image"].source, position=0, key="k", original_database="web",
        image_url="https://example.org/a.jpg",
    )
    w.objects["source"] = w.objects["image"].source
    w.objects["searchsourcestatus"] = SearchSourceStatus.objects.create(engine="openverse", state="degraded", reason="captcha", job=job)
    w.objects["personagreement"] = PersonAgreement.objects.create(
        person=w.objects["annotation_b"].person, annotators=1, computed_at=timezone.now()
    )
    w.objects["qualityreport"] = QualityReport.objects.create(trigger="admin")
    from access.services import record_attempt

    w.objects["accessattempt"] = record_attempt("log_in", "failed", username="someone", address="203.0.113.1")
    # Campaigns: an open campaign with a participant's session, a ledger row and a webhook event.
    session = SessionFactory(participant__worker__user__username="participant-1")
    w.objects.update(
        participantsession=session, participant=session.participant, campaign=session.campaign,
        marketplace=session.campaign.marketplace, ledgerentry=LedgerEntryFactory(session=session),
        webhookevent=WebhookEventFactory(),
    )
    # The protocol: an accepted answer shown as an example on the workers' instructions page (version 2).
    from annotator.services.protocol import set_instruction_examples

    example_answer = EmotionAnnotationFactory(
        worker=WorkerFactory(user__username="example-giver"), person=PersonFactory(image=image, x1=100, x2=200),
        status="accepted",
    )
    w.objects["protocolversion"] = set_instruction_examples(None, {"Happiness": [example_answer.pk]})
    w.objects["example"] = w.objects["protocolversion"].examples.get()
    w.objects["example_answer"] = example_answer
    # Researcher tokens of the staff member: one that may read, one that may only start things, one that may do all.
    staff = w.users["staff"]
    for name, scopes in (("read", ["read"]), ("write", ["export", "train", "crawl"]),
                         ("all", ["read", "identify", "export", "train", "crawl"])):
        w.objects[f"research_token_{name}"], w.objects[f"research_key_{name}"] = grant_research_token(staff, name, scopes)
    w.objects["researchtoken"] = w.objects["research_token_read"]
    url_list = tmp_path / "urls.txt"
    url_list.write_text("https://example.org/a.jpg\n")
    w.objects["url_list"] = str(url_list)
    assert w.objects["task_blocked"].state == TaskAssignment.State.EXPIRED
    assert w.objects["task_a"].kind == TaskKind.EMOTIONS
    return w
