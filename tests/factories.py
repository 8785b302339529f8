"""Shared factory_boy factories for the whole suite.

Defaults make a valid row with as little as possible: a 640 x 480 image whose
boxes are final, a person in it, a qualified worker. ``ImageFactory(file=True)``
also writes a real, tiny-but-valid JPEG of the image's size to the default
storage and records its true SHA-256.
"""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from annotator.models import BoxAnnotation, EmotionAnnotation, GoldItem, Person, TaskAssignment, TaskKind, Worker
from catalog.models import Image
from emotic.taxonomy import categories_to_mask
from catalog.models import Source

PASSWORD = "a-long-test-password-42"


def jpeg_bytes(width: int, height: int, seed: int) -> bytes:
    """A JPEG whose pixels depend on ``seed``, so each image has its own hash."""
    picture = PILImage.new("RGB", (width, height), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    for bit in range(32):
        if seed >> bit & 1:
            picture.putpixel((bit % width, (bit // width) % height), (255, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _recount(person_ids=None, image_ids=None) -> None:
    from annotator.services.assignment import recount_slots

    recount_slots(person_ids=person_ids or [], image_ids=image_ids or [])


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"worker{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)


class WorkerFactory(factory.django.DjangoModelFactory):
    """A qualified worker; ``WorkerFactory(pending=True)`` has not taken the test yet."""

    class Meta:
        model = Worker

    class Params:
        pending = factory.Trait(qualification=Worker.Qualification.PENDING, qualified_at=None)
        failed = factory.Trait(qualification=Worker.Qualification.FAILED, qualified_at=None)
        blocked = factory.Trait(is_blocked=True, blocked_reason="failed too many control items")

    user = factory.SubFactory(UserFactory)
    qualification = Worker.Qualification.QUALIFIED
    qualified_at = factory.LazyFunction(timezone.now)


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source

    kind = Source.Kind.URL_LIST
    name = factory.Sequence(lambda n: f"test list {n}")
    location = "https://example.org/list.txt"


class ImageFactory(factory.django.DjangoModelFactory):
    """An image with final boxes; ``boxes_confirmed=False`` puts it in the box-drawing pool."""

    class Meta:
        model = Image
        skip_postgeneration_save = True

    source = factory.SubFactory(SourceFactory)
    storage_key = factory.Sequence(lambda n: f"images/test/{n:06d}.jpg")
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"image {n}".encode()).hexdigest())
    phash = "0123456789abcdef"
    width = 640
    height = 480
    format = "JPEG"
    original_database = "web"
    folder = "web/images"
    filename = factory.LazyAttribute(lambda o: o.storage_key.rsplit("/", 1)[-1])
    fetched_at = factory.LazyFunction(timezone.now)
    split = "train"
    boxes_confirmed = True

    @factory.post_generation
    def file(obj, create, extracted, **kwargs):
        """``file=True``: store a real JPEG of the image's size and record its hash."""
        if not extracted:
            return
        data = jpeg_bytes(obj.width, obj.height, obj.pk or 0)
        if default_storage.exists(obj.storage_key):
            default_storage.delete(obj.storage_key)
        obj.storage_key = default_storage.save(obj.storage_key, ContentFile(data))
        obj.sha256 = hashlib.sha256(data).hexdigest()
        if create:
            obj.save(update_fields=["storage_key", "sha256"])


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    image = factory.SubFactory(ImageFactory)
    x1 = 100
    y1 = 50
    x2 = 300
    y2 = 450
    box_origin = Person.BoxOrigin.IMPORTED


class GoldItemFactory(factory.django.DjangoModelFactory):
    """An emotions gold item accepting Happiness; ``GoldItemFactory(boxes=True)`` is a boxes one."""

    class Meta:
        model = GoldItem

    class Params:
        boxes = factory.Trait(
            kind=TaskKind.BOXES,
            person=None,
            image=factory.SubFactory(ImageFactory, boxes_confirmed=False),
            required_categories_mask=0,
            expected_boxes=[[100, 50, 300, 450]],
        )

    kind = TaskKind.EMOTIONS
    person = factory.SubFactory(PersonFactory)
    image = None
    for_qualification = False
    for_control = True
    required_categories_mask = factory.LazyFunction(lambda: categories_to_mask(["Happiness"]))
    explanation = "The person is laughing with friends."


class TaskAssignmentFactory(factory.django.DjangoModelFactory):
    """A live emotions task; the pool counters are recounted so they stay true."""

    class Meta:
        model = TaskAssignment
        skip_postgeneration_save = True

    class Params:
        boxes = factory.Trait(
            kind=TaskKind.BOXES, person=None, image=factory.SubFactory(ImageFactory, boxes_confirmed=False)
        )

    worker = factory.SubFactory(WorkerFactory)
    kind = TaskKind.EMOTIONS
    person = factory.SubFactory(PersonFactory)
    image = None
    is_qualification = False
    attempt = factory.LazyAttribute(lambda o: 1 if o.is_qualification else 0)
    started_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + settings.ASSIGNMENT_TIMEOUT)

    @factory.post_generation
    def recount(obj, create, extracted, **kwargs):
        if create:
            _recount([obj.person_id] if obj.person_id else [], [obj.image_id] if obj.image_id else [])


class EmotionAnnotationFactory(factory.django.DjangoModelFactory):
    """One worker's answer; pass ``categories=[...]`` by name."""

    class Meta:
        model = EmotionAnnotation
        skip_postgeneration_save = True

    class Params:
        categories = ("Happiness",)

    person = factory.SubFactory(PersonFactory)
    worker = factory.SubFactory(WorkerFactory)
    categories_mask = factory.LazyAttribute(lambda o: categories_to_mask(o.categories))
    valence = 7
    arousal = 5
    dominance = 6
    gender = "Female"
    age = "Adult"
    seconds_spent = 12.5

    @factory.post_generation
    def recount(obj, create, extracted, **kwargs):
        if create:
            _recount(person_ids=[obj.person_id])


class BoxAnnotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BoxAnnotation
        skip_postgeneration_save = True

    image = factory.SubFactory(ImageFactory, boxes_confirmed=False)
    worker = factory.SubFactory(WorkerFactory)
    boxes = factory.LazyFunction(lambda: [[100, 50, 300, 450]])
    no_people = False
    seconds_spent = 8.0

    @factory.post_generation
    def recount(obj, create, extracted, **kwargs):
        if create:
            _recount(image_ids=[obj.image_id])


def expired_deadline() -> timedelta:
    """How far past now an assignment made now has certainly expired."""
    return settings.ASSIGNMENT_TIMEOUT + timedelta(seconds=1)
