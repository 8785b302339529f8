"""The researcher API: reading with filters and cursors, pseudonyms, starting work, and refusing bad input by field."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django.utils.crypto import salted_hmac

from annotator.models import EmotionAnnotation
from emotic_export.models import DatasetSnapshot
from quality.services import recompute_quality
from research_api.models import ResearchToken
from research_api.pseudonyms import pseudonym
from research_api.services import TokenGrantRefused, grant_research_token
from scraper.models import CrawlJob
from tests.factories import UserFactory
from training.models import TrainingRun

pytestmark = pytest.mark.django_db
API = "/api/research/v1/"


def every(client: Client, path: str, **params) -> list[dict]:
    """Every record of a list, following the cursor."""
    records, url = [], API + path
    while url:
        page = client.get(url, params).json()
        records += page["results"]
        url, params = page["next"], {}
    return records


def test_answers_name_workers_by_a_stable_pseudonym_unless_the_token_may_identify(annotated_db, token_client, settings):
    reader, identifier = token_client("read"), token_client("read", "identify")
    answers = every(reader, "answers/", page_size=2)
    assert len(answers) == EmotionAnnotation.objects.count() == 10
    stored = {a.pk: a for a in EmotionAnnotation.objects.select_related("worker__user")}
    for answer in answers:
        row = stored[answer["id"]]
        assert answer["worker"] == pseudonym(row.worker_id) and answer["worker"].startswith("a-")
        assert answer["username"] is None and len(answer["worker"]) == 18
    assert len({a["worker"] for a in answers}) == len({row.worker_id for row in stored.values()})
    # An HMAC-SHA256 of the id, keyed as Django's salted_hmac keys it (RESEARCH_PSEUDONYM_KEY, else SECRET_KEY).
    assert pseudonym(42) == "a-" + salted_hmac("research_api.worker", "42", secret=settings.SECRET_KEY,
                                               algorithm="sha256").hexdigest()[:16]
    assert every(reader, "answers/") == answers  # the same pseudonyms on every call
    settings.RESEARCH_PSEUDONYM_KEY = "another key"  # the hash is keyed: a new key, new pseudonyms
    assert not {a["worker"] for a in every(reader, "answers/")} & {a["worker"] for a in answers}
    settings.RESEARCH_PSEUDONYM_KEY = ""

    named = every(identifier, "answers/")
    assert {(a["id"], a["worker"], a["username"]) for a in named} == {
        (pk, str(row.worker_id), row.worker.user.username) for pk, row in stored.items()}

    # Filtering by worker: by pseudonym for everyone, by id only with identify.
    val_worker = annotated_db.val_person.annotations.order_by("id").first().worker_id
    mine = every(reader, "answers/", worker=pseudonym(val_worker))
    assert mine and {a["worker"] for a in mine} == {pseudonym(val_worker)}
    assert every(reader, "answers/", worker="a-0000000000000000") == []
    refused = reader.get(API + "answers/", {"worker": str(val_worker)})
    assert refused.status_code == 400 and refused.json()["errors"] == {
        "worker": ["give the worker's pseudonym (a-...): worker ids need the identify scope"]}
    assert {a["id"] for a in every(identifier, "answers/", worker=str(val_worker))} == {a["id"] for a in mine}


def test_filters_narrow_each_list(annotated_db, token_client):
    client = token_client("read")
    val_image = annotated_db.val_person.image
    assert [i["id"] for i in every(client, "images/", split="val")] == [val_image.pk]
    assert [i["split"] for i in every(client, "images/", split="unassigned")] == ["unassigned"]
    assert len(every(client, "images/")) == 4
    people = every(client, "people/", image=val_image.pk)
    assert [p["id"] for p in people] == sorted(p.pk for p in val_image.people.all())
    assert people[0]["box"] == [0, 0, 150, 200] and people[0]["split"] == "val"
    # counted=true: what figures and snapshots use (no blocked worker, rejected answer or control item).
    counted = every(client, "answers/", counted="true")
    assert len(counted) == 7 and not any(a["is_gold"] or a["status"] == "rejected" for a in counted)
    assert {a["person"] for a in every(client, "answers/", person=annotated_db.val_person.pk)} == {annotated_db.val_person.pk}
    assert len(every(client, "answers/", split="test")) == 3
    assert len(every(client, "answers/", status="rejected")) == 1


def test_agreement_figures_per_person_and_for_the_dataset(annotated_db, token_client):
    client = token_client("read")
    assert client.get(API + "agreement/").json() == {"computed_at": None, "figures": {}}
    recompute_quality("admin")
    figures = client.get(API + "agreement/").json()
    assert figures["computed_at"] and {"all", "val"} <= set(figures["figures"])
    val = every(client, "agreement/people/", split="val")
    assert {p["person"] for p in val} == {p.pk for p in annotated_db.people if p.image.split == "val"}
    three = next(p for p in val if p["person"] == annotated_db.val_person.pk)
    assert three["annotators"] == 3 and "Happiness" in three["union"] and three["majority"] == ["Happiness"]


def test_a_cursor_walks_every_record_once(annotated_db, token_client):
    client = token_client("read")
    first = client.get(API + "answers/", {"page_size": 3}).json()
    assert len(first["results"]) == 3 and first["previous"] is None and "cursor=" in first["next"]
    walked = every(client, "answers/", page_size=3)
    assert [a["id"] for a in walked] == sorted(EmotionAnnotation.objects.values_list("id", flat=True))


@pytest.mark.parametrize(("path", "params", "field", "reason"), [
    ("images/", {"split": "holdout"}, "split", '"holdout" is not a valid choice.'),
    ("images/", {"source": "abc"}, "source", "A valid integer is required."),
    ("images/", {"colour": "red"}, "colour", "is not a parameter of this endpoint"),
    ("answers/", {"created_after": "yesterday"}, "created_after", "Datetime has wrong format."),
    ("answers/", {"page_size": "0"}, "page_size", "Ensure this value is greater than or equal to 1."),
    ("answers/", {"page_size": "5000"}, "page_size", "Ensure this value is less than or equal to 1000."),
    ("answers/", {"cursor": "not-a-cursor"}, "cursor", "is not a cursor this API gave"),
    ("training-runs/", {"state": "sleeping"}, "state", '"sleeping" is not a valid choice.'),
])
def test_a_bad_filter_is_refused_naming_it(token_client, path, params, field, reason):
    response = token_client("read").get(API + path, params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == [field] and body["errors"][field][0].startswith(reason)
    assert body["detail"].startswith(f"{field}: ")


def test_a_snapshot_is_started_watched_and_downloaded(annotated_db, token_client, tasks_run_inline,
                                                       django_capture_on_commit_callbacks, researcher):
    client = token_client("read", "export")
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(API + "snapshots/", {"name": "from-a-program", "formats": ["jsonl", "coco"]},
                              content_type="application/json")
    assert started.status_code == 201
    snapshot = DatasetSnapshot.objects.get(name="from-a-program")
    assert started["Location"] == f"{API}snapshots/{snapshot.pk}/" and snapshot.created_by == researcher
    record = client.get(started["Location"]).json()
    assert record["state"] == "complete" and record["counts"]["val"]["people"] == 2
    assert record["agreement"] == snapshot.agreement and record["formats"] == ["jsonl", "coco"]
    assert record["download_url"] == f"http://testserver{API}snapshots/{snapshot.pk}/archive/"
    archive = client.get(record["download_url"])
    assert archive.status_code == 200
    assert "from-a-program/coco.json" in tarfile.open(fileobj=io.BytesIO(b"".join(archive.streaming_content))).getnames()
    assert [s["name"] for s in every(client, "snapshots/", state="complete")] == ["from-a-program"]


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"formats": ["pdf"]}, "formats[0]", '"pdf" is not a valid choice.'),
    ({"formats": []}, "formats", "choose at least one of"),
    ({"ratios": {"train": 0.9, "val": 0.1, "test": 0.2}}, "ratios", "must be non-negative and sum to 1"),
    ({"label_rule": "vote"}, "label_rule", "must be one of"),
    ({"seed": -1}, "seed", "Ensure this value is greater than or equal to 0."),
    ({"name": "!!!"}, "name", "must contain letters or digits"),
    ({"nmae": "typo"}, "nmae", "is not a field of this request"),
])
def test_bad_snapshot_options_are_refused_naming_the_field_and_nothing_is_made(token_client, body, field, reason):
    response = token_client("read", "export").post(API + "snapshots/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert any(name == field or name.startswith(field) for name in errors), errors
    assert any(reason in message for messages in errors.values() for message in messages), errors
    assert not DatasetSnapshot.objects.exists()


def test_a_training_run_is_started_and_watched(token_client, researcher):
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s", formats=["npy"],
                                              completed_at=timezone.now())
    client = token_client("read", "train")
    started = client.post(API + "training-runs/", {"snapshot": snapshot.pk, "mode": "body",
                                                   "hyperparameters": {"epochs": 2, "batch_size": 4}},
                          content_type="application/json")
    assert started.status_code == 201
    run = TrainingRun.objects.get()
    assert (run.state, run.hyperparameters["epochs"], run.created_by) == ("queued", 2, researcher)
    TrainingRun.objects.filter(pk=run.pk).update(state="succeeded", epoch=2, history=[{"epoch": 1, "val_map": 0.2}],
                                                 metrics={"mean_average_precision": 0.31})
    watched = client.get(started["Location"]).json()
    assert watched["state"] == "succeeded" and watched["metrics"] == {"mean_average_precision": 0.31}
    assert watched["history"] == [{"epoch": 1, "val_map": 0.2}]
    assert [r["id"] for r in every(client, "training-runs/", snapshot=snapshot.pk)] == [run.pk]


@pytest.mark.parametrize(("body", "field"), [
    ({"snapshot": 999999, "mode": "body"}, "snapshot"),
    ({"snapshot": "SNAPSHOT", "mode": "fast"}, "mode"),
    ({"snapshot": "SNAPSHOT", "mode": "body", "hyperparameters": {"epochs": 0}}, "hyperparameters.epochs"),
    ({"snapshot": "SNAPSHOT", "mode": "body", "hyperparameters": {"body_weights": "/etc/passwd"}}, "hyperparameters.body_weights"),
    ({"mode": "body"}, "snapshot"),
])
def test_a_run_that_cannot_start_is_refused_naming_the_field(token_client, body, field):
    snapshot = DatasetSnapshot.objects.create(name="s", state="complete", storage_key="snapshots/s", formats=["npy"],
                                              completed_at=timezone.now())
    body = {k: snapshot.pk if v == "SNAPSHOT" else v for k, v in body.items()}
    response = token_client("read", "train").post(API + "training-runs/", body, content_type="application/json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not TrainingRun.objects.exists()


def test_a_crawl_job_is_started_and_a_bad_parameter_named(token_client, tmp_path):
    client = token_client("read", "crawl")
    urls = tmp_path / "urls.txt"
    urls.write_text("https://example.org/a.jpg\nhttps://example.org/b.jpg\n")
    started = client.post(API + "crawl-jobs/", {"kind": "urls", "params": {"path": str(urls)}}, content_type="application/json")
    assert started.status_code == 201
    job = CrawlJob.objects.get()
    assert job.created_by == "research API (researcher)" and job.run_by_workers
    assert client.get(started["Location"]).json()["state"] == "pending"
    missing = client.post(API + "crawl-jobs/", {"kind": "urls", "params": {"path": str(tmp_path / "none.txt")}},
                          content_type="application/json")
    assert missing.status_code == 400 and list(missing.json()["errors"]) == ["params.path"]
    assert CrawlJob.objects.count() == 1


def test_researcher_tokens_are_for_staff_only_and_end_with_the_staff_role(researcher):
    worker_user = UserFactory(username="plain-worker")
    with pytest.raises(TokenGrantRefused) as refused:
        grant_research_token(worker_user, "notebook", ["read"])
    assert refused.value.field == "user"
    with pytest.raises(TokenGrantRefused) as unknown:
        grant_research_token(researcher, "notebook", ["read", "admin"])
    assert unknown.value.field == "scopes"
    token, key = grant_research_token(researcher, "notebook", ["read"])
    assert ResearchToken.objects.get().key_sha256 != key and key not in str(token.__dict__)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(API + "images/").status_code == 200
    get_user_model().objects.filter(pk=researcher.pk).update(is_staff=False)
    assert client.get(API + "images/").status_code == 401
    get_user_model().objects.filter(pk=researcher.pk).update(is_staff=True)
    ResearchToken.objects.filter(pk=token.pk).update(created_at=timezone.now() - ResearchToken.lifetime())
    assert client.get(API + "images/").status_code == 401


def test_an_admin_grants_a_token_and_sees_its_key_once(researcher):
    admin = Client()
    admin.force_login(UserFactory(username="lead", is_staff=True, is_superuser=True))
    refused = admin.post("/admin/research_api/researchtoken/add/", {"user": researcher.pk, "name": "nightly"})
    assert refused.status_code == 200 and b"This field is required" in refused.content
    page = admin.post("/admin/research_api/researchtoken/add/", {"user": researcher.pk, "name": "nightly",
                                                                "scopes": ["read", "export"]})
    assert page.status_code == 200
    key = page.content.decode().split('id="research-token-key"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert key.startswith("rk_")
    token = ResearchToken.objects.get()
    assert token.scopes == ["read", "export"] and token.created_by.username == "lead"
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get(API + "snapshots/").status_code == 200
    assert key not in admin.get(f"/admin/research_api/researchtoken/{token.pk}/change/").content.decode()
    worker = UserFactory(username="not-staff")
    not_staff = admin.post("/admin/research_api/researchtoken/add/", {"user": worker.pk, "name": "x", "scopes": ["read"]})
    assert b"Select a valid choice" in not_staff.content and ResearchToken.objects.count() == 1


def test_the_schema_documents_every_research_operation_and_its_token():
    import yaml

    schema = yaml.safe_load(Client().get("/api/schema/").content)
    paths = {path for path in schema["paths"] if path.startswith(API)}
    assert len(paths) == 12
    assert schema["components"]["securitySchemes"]["researchToken"]["in"] == "header"
    listing = schema["paths"][f"{API}answers/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"worker", "counted", "cursor", "page_size", "split"}
    assert listing["security"] == [{"researchToken": []}]
    assert "400" in listing["responses"] and "401" in listing["responses"]


def test_on_s3_the_archive_is_a_redirect_to_a_signed_url_that_requests_follow_without_the_token(s3_storage, token_client):
    import requests
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    import gzip

    stored = gzip.compress(b"a tar archive")
    key = default_storage.save("snapshots/on-s3/on-s3.tar.gz", ContentFile(stored))
    snapshot = DatasetSnapshot.objects.create(name="on-s3", state="complete", storage_key="snapshots/on-s3", archive_key=key,
                                              completed_at=timezone.now(), formats=["jsonl"])
    client = token_client("read")
    record = client.get(f"{API}snapshots/{snapshot.pk}/").json()
    answer = client.get(record["download_url"])
    assert answer.status_code == 302 and "Signature=" in answer["Location"] and "Expires=" in answer["Location"]
    # The signed URL alone opens it. S3 labels a .tar.gz "Content-Encoding: gzip", so a client reading the
    # decoded content would get the bare tar: the documented example copies the raw bytes, as here.
    with requests.get(answer["Location"], timeout=10, stream=True) as fetched:
        assert fetched.status_code == 200 and fetched.raw.read() == stored
    pending = DatasetSnapshot.objects.create(name="later", storage_key="snapshots/later")
    assert client.get(f"{API}snapshots/{pending.pk}/archive/").status_code == 404
    assert client.get(f"{API}snapshots/{pending.pk}/").json()["download_url"] is None
