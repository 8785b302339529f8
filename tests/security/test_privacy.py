"""Gold answers and other workers' annotations never reach a worker, through any page or API answer.

Each test collects everything a worker can read (API answers and pages)
and looks in it for what must stay hidden. (``tests/annotator/test_api.py``
checks that a hidden control has exactly the shape of real work.)
"""

from __future__ import annotations

import uuid

import pytest

from annotator.models import TaskAssignment
from emotic.taxonomy import categories_to_mask
from tests.annotator.conftest import WorkerClient
from tests.factories import GoldItemFactory, ImageFactory, PersonFactory, WorkerFactory

pytestmark = pytest.mark.django_db

GOLD_FIELD_NAMES = (
    "gold", "required_categories", "allowed_categories", "allowed_genders", "allowed_ages", "expected_boxes",
    "min_iou", "explanation", "for_control", "for_qualification", "passed",
)
SECRET_EXPLANATION = "tears-of-joy-at-the-wedding-7341"


def everything_the_worker_reads(client: WorkerClient, task_ids: list[int]) -> str:
    """The worker's API answers and pages, lower-cased, as one text."""
    parts = [client.get(path).content for path in ("/api/me/", "/api/history/", "/work/", "/work/history/", "/work/annotate/")]
    parts += [client.get("/api/schema/").content]
    for task_id in task_ids:
        parts.append(client.get(f"/api/tasks/{task_id}/image/").headers.get("ETag", "").encode())
    return b"\n".join(parts).decode(errors="replace").lower()


def answer_for(task: dict, **fields) -> dict:
    if task["kind"] == "boxes":
        return {"submission_id": str(uuid.uuid4()), "boxes": [[1, 1, 50, 50]], **fields}
    return {
        "submission_id": str(uuid.uuid4()), "categories": ["Anger"], "valence": 2, "arousal": 9, "dominance": 3,
        "gender": "Male", "age": "Kid", **fields,
    }


def assert_no_gold_in(text: str) -> None:
    assert SECRET_EXPLANATION.lower() not in text
    leaked = [name for name in GOLD_FIELD_NAMES if f'"{name}"' in text]
    assert leaked == [], f"gold fields reach the worker: {leaked}"


def test_a_hidden_control_never_shows_its_acceptable_answers(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 1
    gold = GoldItemFactory(
        person__image__file=True, explanation=SECRET_EXPLANATION, required_categories_mask=categories_to_mask(["Happiness"]),
        allowed_genders=["Female"], valence_min=7,
    )
    client = WorkerClient(WorkerFactory())
    task = client.get("/api/tasks/next/").json()
    assert TaskAssignment.objects.get(pk=task["id"]).gold_item == gold
    payload = str(task).lower()
    submitted = client.post_json(f"/api/tasks/{task['id']}/submit/", answer_for(task)).content.decode().lower()
    assert TaskAssignment.objects.get(pk=task["id"]).gold_passed is False  # judged, but the worker is not told
    for text in (payload, submitted, everything_the_worker_reads(client, [task["id"]])):
        assert_no_gold_in(text)


def test_a_box_control_does_not_suggest_its_expected_boxes(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 1
    gold = GoldItemFactory(boxes=True, image__file=True, expected_boxes=[[120, 60, 310, 420]], explanation=SECRET_EXPLANATION)
    client = WorkerClient(WorkerFactory())
    task = client.get("/api/tasks/next/").json()
    assert TaskAssignment.objects.get(pk=task["id"]).gold_item == gold
    assert task["kind"] == "boxes" and [120, 60, 310, 420] not in task["suggested_boxes"]
    assert_no_gold_in(str(task).lower())


def test_a_box_control_on_an_image_with_imported_people_suggests_none_of_them(settings):
    # The people imported with the image (from COCO, say) are the answer: suggesting them gives it away.
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 1
    gold = GoldItemFactory(boxes=True, image__file=True, expected_boxes=[[120, 60, 310, 420]])
    PersonFactory(image=gold.image, x1=120, y1=60, x2=310, y2=420)
    task = WorkerClient(WorkerFactory()).get("/api/tasks/next/").json()
    assert TaskAssignment.objects.get(pk=task["id"]).gold_item == gold
    assert task["kind"] == "boxes" and task["suggested_boxes"] == []


def test_qualification_shows_the_explanation_of_a_failed_item_but_never_the_answers(settings):
    settings.QUALIFICATION_ITEMS = 1
    GoldItemFactory(
        person__image__file=True, for_qualification=True, for_control=False, explanation="Look at the smile.", allowed_ages=["Adult"],
        show_explanation=True)  # marked safe to show by the admin (hidden otherwise)
    client = WorkerClient(WorkerFactory(pending=True))
    task = client.get("/api/tasks/next/").json()
    assert task["qualification"] is True
    assert_no_gold_in(str(task).lower())
    client.post_json(f"/api/tasks/{task['id']}/submit/", answer_for(task))
    home = client.get("/work/").content.decode()
    assert "Look at the smile." in home  # the admin's explanation is meant to be shown after a miss
    text = everything_the_worker_reads(client, [task["id"]])
    assert not [name for name in ("required_categories", "allowed_categories", "allowed_ages", "expected_boxes") if name in text]


def test_a_worker_never_reads_another_workers_answers(settings):
    settings.GOLD_RATE = 0.0
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    person = PersonFactory(image=ImageFactory(file=True, split="val"))
    alice, bob = WorkerClient(WorkerFactory()), WorkerClient(WorkerFactory())
    alice_task = alice.get("/api/tasks/next/").json()
    distinctive = {"categories": ["Yearning", "Sympathy"], "valence": 1, "arousal": 10, "dominance": 1, "seconds_spent": 987.25}
    assert alice.post_json(f"/api/tasks/{alice_task['id']}/submit/", answer_for(alice_task, **distinctive)).status_code == 201

    bob_task = bob.get("/api/tasks/next/").json()
    assert TaskAssignment.objects.get(pk=bob_task["id"]).person == person  # the same person, with Alice's answer stored
    seen_by_bob = str(bob_task).lower() + everything_the_worker_reads(bob, [bob_task["id"]])
    assert "987.25" not in seen_by_bob  # Alice's time on the task: nowhere in what Bob reads
    assert not {"categories", "valence", "arousal", "dominance", "gender", "age"} & set(bob_task)
    assert bob.get("/api/history/").json()["count"] == 0
    alice_url = f"/api/tasks/{alice_task['id']}"
    assert bob.get(f"{alice_url}/image/").status_code == 404
    assert bob.post_json(f"{alice_url}/submit/", answer_for(alice_task)).status_code == 404
    assert bob.post_json(f"{alice_url}/skip/", {"reason": "x"}).status_code == 404
    assert bob.post_json(f"{alice_url}/report/", {"reason": "x"}).status_code == 404
