"""Importing an EMOTIC Annotations.mat: images, people, original answers and splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.models import EmotionAnnotation, Person, Worker
from catalog.models import Image
from emotic.formats import mat as mat_format
from emotic.formats.mat import write_annotations_mat
from emotic.formats.mat5 import write_mat5
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord
from emotic.taxonomy import categories_to_mask
from annotator.services.assignment import assign_next_task
from scraper.services.jobs import create_crawl_job, run_crawl_job
from tests.factories import WorkerFactory
from tests.scraper.datasets import coco_person, write_coco
from tests.catalog.images import jpeg

pytestmark = pytest.mark.django_db


def person(box, answers, gender="Female", age="Adult") -> PersonRecord:
    categories = sorted({c for a in answers for c in a.categories})
    vads = [a.vad for a in answers if a.vad]
    combined = tuple(sum(v[i] for v in vads) / len(vads) for i in range(3)) if vads else None
    # Train keeps one answer and no combined labels: the person's gender and age are that answer's.
    return PersonRecord(box, tuple(answers), categories, combined, answers[0].gender or gender, answers[0].age or age)


def write_emotic(root: Path, images: list[tuple[ImageRecord, int]]) -> Path:
    """root/Annotations/Annotations.mat and root/emotic/<folder>/<filename>, the EMOTIC layout."""
    for record, seed in images:
        target = root / "emotic" / record.folder / record.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        if seed >= 0:
            target.write_bytes(jpeg(seed, (record.width, record.height)))
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    return write_annotations_mat(root / "Annotations" / "Annotations.mat", [record for record, _ in images])


def train_image(filename: str, people, folder="mscoco/images", database="mscoco") -> ImageRecord:
    return ImageRecord(filename, folder, 640, 480, database, "train", tuple(people))


def test_an_emotic_file_is_imported_with_people_answers_and_splits(tmp_path):
    happy = AnnotatorAnswer(("Engagement", "Happiness"), 7, 6, 5, "Female", "Adult")
    val_answers = [AnnotatorAnswer(("Peace",), 6, 3, 6), AnnotatorAnswer(("Peace", "Pleasure"), 7, 4, 6), AnnotatorAnswer(("Fatigue",), 4, 2, 5)]
    path = write_emotic(
        tmp_path,
        [
            (train_image("COCO_1.jpg", [person((10, 20, 200, 400), [happy])]), 500),
            (ImageRecord("frame_9.jpg", "framesdb/images", 640, 480, "framesdb", "val", (person((5, 5, 300, 470), val_answers, "Male", "Kid"),)), 501),
        ],
    )
    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (job.state, job.stored, job.rejected) == ("done", 2, 0)

    coco = Image.objects.get(filename="COCO_1.jpg")
    assert (coco.original_database, coco.folder, coco.split, coco.split_locked) == ("mscoco", "mscoco/images", "train", True)
    assert coco.boxes_confirmed  # EMOTIC's people are final: they go straight to emotion tasks
    (train_person,) = coco.people.all()
    assert train_person.box == (10, 20, 200, 400) and train_person.box_origin == Person.BoxOrigin.IMPORTED
    (answer,) = train_person.annotations.all()
    assert answer.categories == ["Engagement", "Happiness"] and (answer.valence, answer.arousal, answer.dominance) == (7, 6, 5)
    assert (answer.gender, answer.age, answer.status, answer.worker.user.username) == ("Female", "Adult", "accepted", "emotic-original-1")

    frame = Image.objects.get(filename="frame_9.jpg")
    assert (frame.original_database, frame.split) == ("framesdb", "val")
    answers = EmotionAnnotation.objects.filter(person__image=frame).order_by("worker__user__username")
    assert [a.worker.user.username for a in answers] == ["emotic-original-1", "emotic-original-2", "emotic-original-3"]
    assert [a.categories_mask for a in answers] == [categories_to_mask(a.categories) for a in val_answers]
    assert {(a.gender, a.age) for a in answers} == {("Male", "Kid")}  # val keeps gender and age per person
    workers = Worker.objects.filter(user__username__startswith="emotic-original-")
    assert workers.count() == 3 and not any(w.user.is_active or w.user.has_usable_password() for w in workers)


def test_importing_the_same_file_twice_stores_nothing_new(tmp_path):
    path = write_emotic(tmp_path, [(train_image("a.jpg", [person((1, 1, 100, 100), [AnnotatorAnswer(("Anger",), 2, 8, 7, "Male", "Adult")])]), 510)])
    run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    again = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (again.stored, again.exact_duplicates) == (0, 1)
    assert (Image.objects.count(), Person.objects.count(), EmotionAnnotation.objects.count()) == (1, 1, 1)


def test_emotic_annotations_attach_to_a_coco_image_already_imported(tmp_path):
    coco = write_coco(tmp_path / "coco", [{"id": 3, "seed": 520}], [coco_person(1, 3, [10, 20, 190, 380])])
    run_crawl_job(create_crawl_job("coco", {"path": str(coco)}))
    image_file = tmp_path / "coco" / "val2017" / "000000000003.jpg"
    target = tmp_path / "emotic_root" / "emotic" / "mscoco" / "images" / "COCO_val2014_000000000003.jpg"
    target.parent.mkdir(parents=True)
    target.write_bytes(image_file.read_bytes())  # EMOTIC ships the same COCO file under its own name
    record = train_image("COCO_val2014_000000000003.jpg", [person((10, 20, 200, 400), [AnnotatorAnswer(("Sadness",), 3, 4, 3, "Male", "Adult")])])
    (tmp_path / "emotic_root" / "Annotations").mkdir()
    path = write_annotations_mat(tmp_path / "emotic_root" / "Annotations" / "Annotations.mat", [record])

    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert job.exact_duplicates == 1
    image = Image.objects.get()
    assert image.original_database == "mscoco" and image.split == "train"
    person_row = image.people.get(x1=10, y1=20, x2=200, y2=400)  # COCO's box was the same person
    assert person_row.annotations.get().categories == ["Sadness"]


def test_a_missing_emotic_image_is_counted_and_the_rest_imported(tmp_path):
    answer = AnnotatorAnswer(("Fear",), 2, 9, 2, "Female", "Teenager")
    path = write_emotic(
        tmp_path,
        [(train_image("gone.jpg", [person((1, 1, 50, 50), [answer])]), -1), (train_image("here.jpg", [person((1, 1, 50, 50), [answer])]), 530)],
    )
    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (job.stored, job.rejected_by_reason) == (1, {"missing_file": 1})
    assert "mscoco/images/gone.jpg" in job.items.get(state="rejected").detail


def test_a_malformed_annotations_file_fails_the_job_naming_the_problem(tmp_path):
    path = tmp_path / "Annotations.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, but then garbage" + bytes(200))
    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert job.state == "failed" and job.error.startswith("path: Annotations.mat: not a readable MATLAB file")
    assert not Image.objects.exists()


def test_a_malformed_image_record_is_rejected_naming_it_and_the_rest_imported(tmp_path):
    answer = AnnotatorAnswer(("Happiness",), 7, 5, 6, "Male", "Adult")
    good = train_image("good.jpg", [person((1, 1, 60, 60), [answer])])
    bad = train_image("bad.jpg", [person((1, 1, 60, 60), [answer])])
    path = write_emotic(tmp_path, [(good, 540), (bad, 541)])
    # Rewrite the file with the second image's person given a gender outside the taxonomy.
    train = mat_format._image_array("train", [good, bad])
    train.rows[1]["person"].rows[0]["gender"] = "Robot"
    empty = {split: mat_format._image_array(split, []) for split in ("val", "test")}
    with path.open("wb") as stream:
        write_mat5(stream, {"train": train, **empty})

    job = run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert (job.state, job.stored, job.rejected_by_reason) == ("done", 1, {"bad_record": 1})
    rejected = job.items.get(state="rejected")
    assert rejected.detail.startswith("Annotations.mat train[1].person[0].gender:") and "Robot" in rejected.detail
    assert list(Image.objects.values_list("filename", flat=True)) == ["good.jpg"]


def test_original_answers_count_towards_each_persons_annotators(tmp_path, settings):
    settings.GOLD_RATE = 0
    answer = AnnotatorAnswer(("Peace",), 6, 3, 6, "Male", "Adult")
    path = write_emotic(
        tmp_path,
        [
            (train_image("t.jpg", [person((10, 10, 200, 200), [answer])]), 520),  # train: 1 of 1
            (ImageRecord("v.jpg", "framesdb/images", 640, 480, "framesdb", "val",
                         (person((5, 5, 300, 300), [answer, answer, answer]),)), 521),  # val: 3 of 5
        ],
    )
    run_crawl_job(create_crawl_job("emotic", {"path": str(path)}))
    assert dict(Person.objects.values_list("image__filename", "annotation_slots_taken")) == {"t.jpg": 1, "v.jpg": 3}

    given = [assign_next_task(WorkerFactory()) for _ in range(3)]
    assert [task.person.image.filename for task in given if task] == ["v.jpg", "v.jpg"]
    assert given[-1] is None


def test_a_name_squatted_before_the_import_owns_nothing_and_its_work_goes_on(tmp_path, settings):
    """Sign-up refuses emotic-original-1; an account that has the name anyway (made before the rule, or by an
    admin) does not become the owner of EMOTIC's answers, and its own answers are stored as anyone's."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.test import APIClient

    from tests.factories import PASSWORD

    settings.GOLD_RATE = 0
    signup = Client().post(
        "/accounts/signup/", {"username": "emotic-original-1", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert signup.status_code == 200 and "is reserved" in " ".join(signup.context["form"].errors["username"])
    assert not get_user_model().objects.filter(username="emotic-original-1").exists()

    squatter_user = get_user_model().objects.create_user("emotic-original-1", password=PASSWORD)
    squatter = WorkerFactory(user=squatter_user)
    answers = [AnnotatorAnswer(("Peace",), 6, 3, 6), AnnotatorAnswer(("Peace", "Pleasure"), 7, 4, 6)]
    path = write_emotic(
        tmp_path,
        [(ImageRecord("v.jpg", "framesdb/images", 640, 480, "framesdb", "val", (person((5, 5, 300, 300), answers),)), 550)],
    )
    assert run_crawl_job(create_crawl_job("emotic", {"path": str(path)})).stored == 1

    imported = EmotionAnnotation.objects.order_by("worker__original_number")
    assert [(a.worker.kind, a.worker.original_number) for a in imported] == [("original", 1), ("original", 2)]
    original_one = imported[0].worker.user
    assert original_one != squatter_user and original_one.username.startswith("emotic-original-1-")
    assert not original_one.is_active and not original_one.has_usable_password()
    assert not squatter.emotion_annotations.exists()

    client = APIClient()
    assert client.login(username="emotic-original-1", password=PASSWORD)  # the squatter works as anyone does
    task = client.get("/api/tasks/next/").json()
    body = {"submission_id": "7f0c7a3e-0000-4000-8000-000000000001", "categories": ["Peace"], "valence": 6,
            "arousal": 3, "dominance": 6, "gender": "Male", "age": "Adult"}
    response = client.post(f"/api/tasks/{task['id']}/submit/", body, format="json")
    assert response.status_code == 201, response.content
    assert squatter.emotion_annotations.get().person == imported[0].person
