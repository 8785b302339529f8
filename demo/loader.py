"""Load the bundled sample photos and demo accounts. Safe to run again.

Photos go through the catalog's ingest like any other source, so the demo
exercises the real path (decode, hash, dedup, store), then through the
annotator's intake with their people, and their splits are fixed through
the catalog's split service. Re-running finds the same sha256 and stores
nothing twice; accounts are fetched, not re-created.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotator.models import GoldItem, Person, Worker
from annotator.services.intake import receive_image
from catalog.ingest import ingest_image_bytes
from catalog.models import Image
from catalog.sources import bundled_source
from catalog.splits import fix_splits
from emotic.taxonomy import ALL_CATEGORIES_MASK, categories_to_mask

PHOTOS_DIR = Path(__file__).resolve().parent / "photos"
MANIFEST = Path(__file__).resolve().parent / "photos.json"
SOURCE_NAME = "Bundled demo photos"

ADMIN_USERNAME = "admin"
WORKER_USERNAMES = ("worker1", "worker2")


@dataclass
class DemoSummary:
    images_created: int = 0
    images_existing: int = 0
    people: int = 0
    passwords: dict[str, str] = field(default_factory=dict)


def _set_account(username: str, *, password: str, staff: bool) -> None:
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
    user.is_staff = user.is_superuser = staff
    user.set_password(password)
    user.save()
    if not staff:
        Worker.objects.get_or_create(user=user)


def _qualify(username: str) -> None:
    Worker.objects.filter(user__username=username).update(
        qualification=Worker.Qualification.QUALIFIED, qualified_at=timezone.now()
    )


def _ensure_qualification_gold(image: Image, spec: dict) -> None:
    """The photo's qualification item, as ``photos.json`` describes it (emotions of its person, or its boxes)."""
    if spec["kind"] == "emotions":
        person = image.people.first()
        if person is None or GoldItem.objects.filter(person=person).exists():
            return
        GoldItem.objects.create(
            kind="emotions",
            person=person,
            for_qualification=True,
            for_control=False,
            required_categories_mask=categories_to_mask(spec["required"]),
            allowed_categories_mask=ALL_CATEGORIES_MASK & ~categories_to_mask(spec["excluded"]),
            valence_min=spec["valence"][0],
            valence_max=spec["valence"][1],
            arousal_min=spec["arousal"][0],
            arousal_max=spec["arousal"][1],
            dominance_min=spec["dominance"][0],
            dominance_max=spec["dominance"][1],
            allowed_genders=spec["genders"],
            allowed_ages=spec["ages"],
            explanation=spec["explanation"],
            show_explanation=spec.get("show_explanation", False),
        )
    elif not GoldItem.objects.filter(image=image).exists():
        GoldItem.objects.create(
            kind="boxes",
            image=image,
            for_qualification=True,
            for_control=False,
            required_categories_mask=0,
            expected_boxes=spec["expected_boxes"],
            explanation=spec["explanation"],
            show_explanation=spec.get("show_explanation", False),
        )


def load_demo_data(password: str | None = None) -> DemoSummary:
    summary = DemoSummary()
    photos = json.loads(MANIFEST.read_text())
    with transaction.atomic():
        source = bundled_source(SOURCE_NAME)
        for photo in photos:
            data = (PHOTOS_DIR / photo["file"]).read_bytes()
            result = ingest_image_bytes(
                data,
                source=source,
                filename=photo["file"],
                original_database="demo",
                folder="demo/images",
                source_url=photo["source_url"],
                source_record=photo["title"],
                license=photo["license"],
                people_boxes=[tuple(box) for box in photo["people"]],
            )
            image = result.image
            if image is None:
                raise RuntimeError(f"demo photo {photo['file']} was rejected: {result.reason}")
            if result.stored:
                summary.images_created += 1
            else:
                summary.images_existing += 1
            receive_image(image, result.people_boxes)
            if not image.split_locked:
                fix_splits([image.pk], photo["split"])
            if "qualification" in photo:
                _ensure_qualification_gold(image, photo["qualification"])

        for username in (ADMIN_USERNAME, *WORKER_USERNAMES):
            summary.passwords[username] = password or secrets.token_urlsafe(9)
            _set_account(username, password=summary.passwords[username], staff=username == ADMIN_USERNAME)
        # worker1 can start at once; worker2 goes through the qualification first.
        _qualify(WORKER_USERNAMES[0])
        summary.people = Person.objects.filter(image__source=source).count()
    return summary
