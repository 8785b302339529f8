"""The research admin in a real headless Chromium: control items from the review page, the control coverage,
the versioned protocol (a change refused with its figures, then applied to new work only), the instructions'
examples, and the workers' instructions page.

With ADMIN_SCREENSHOTS=<folder> set (docs/img), the test saves each page it walks (docs/protocol.md shows them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from playwright.sync_api import Page, expect

from annotator.models import EmotionAnnotation, GoldItem, Person, ProtocolVersion, Worker
from annotator.services.assignment import assign_next_task
from tests.factories import PASSWORD, EmotionAnnotationFactory, ImageFactory, PersonFactory, UserFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = os.environ.get("ADMIN_SCREENSHOTS", "")
DEMO_PHOTOS = Path(__file__).resolve().parents[2] / "demo" / "photos"


@pytest.fixture(autouse=True)
def no_controls_yet(settings):
    settings.GOLD_RATE = 0.0
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def demo_person(name: str, size: tuple[int, int], box: tuple[int, int, int, int], split: str = "val") -> Person:
    key = default_storage.save(f"images/demo/{name}", ContentFile((DEMO_PHOTOS / name).read_bytes()))
    image = ImageFactory(storage_key=key, width=size[0], height=size[1], format=name.rsplit(".", 1)[1].upper()
                         .replace("JPG", "JPEG"), split=split, filename=name)
    x1, y1, x2, y2 = box
    return PersonFactory(image=image, x1=x1, y1=y1, x2=x2, y2=y2)


def log_in(page: Page, live_server, username: str, where: str = "/admin/login/?next=/admin/") -> None:
    page.goto(f"{live_server.url}{where}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_an_admin_runs_controls_and_the_protocol_from_the_admin(page: Page, live_server, browser):
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    grace = demo_person("grace-hopper.jpg", (512, 600), (30, 20, 512, 600))
    answers = [(["Confidence", "Engagement"], 6, 5, 8), (["Confidence"], 7, 4, 9), (["Confidence", "Esteem"], 6, 6, 8)]
    workers = [WorkerFactory() for _ in answers]
    for worker, (categories, v, a, d) in zip(workers, answers):
        EmotionAnnotationFactory(person=grace, worker=worker, categories=categories, valence=v, arousal=a, dominance=d,
                                 status="accepted")
    Worker.objects.filter(pk__in=[w.pk for w in workers]).update(last_task_request_at=timezone.now())
    # Work in progress on another val person: two of its five annotators are at it now.
    busy = demo_person("astronaut-eileen-collins.png", (512, 512), (15, 10, 365, 512))
    for _ in range(2):
        assert assign_next_task(WorkerFactory()).person_id == busy.pk

    log_in(page, live_server, "admin")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # 1. The review page: make the person a control item, prefilled from the accepted answers.
    page.goto(f"{live_server.url}/admin/catalog/image/{grace.image_id}/review/")
    expect(page.get_by_role("link", name="Make control item")).to_be_visible()
    page.get_by_role("link", name="Make control item").click()
    expect(page.locator("#prefilled-from")).to_contain_text("Prefilled from 3 accepted answer(s)")
    expect(page.get_by_label("Confidence").first).to_be_checked()
    expect(page.locator(".field-required_categories").get_by_label("Engagement")).not_to_be_checked()
    expect(page.locator(".field-allowed_categories").get_by_label("Engagement")).to_be_checked()
    valence_max = page.locator("#id_valence_max")
    expect(page.locator("output[for=id_valence_max]")).to_have_text("8")
    valence_max.focus()
    page.keyboard.press("ArrowRight")  # the slider, not a number in a box: its value shows beside it
    expect(page.locator("output[for=id_valence_max]")).to_have_text("9")
    page.locator(".field-allowed_ages_choice").get_by_label("Teenager").check()
    shot(page, "control-item-form")
    page.get_by_role("button", name="Save control item").click()
    item = GoldItem.objects.get(person=grace)
    expect(page.get_by_text(f"Control item #{item.pk} saved for person {grace.pk}.")).to_be_visible()
    expect(page.get_by_role("link", name=f"Edit control item #{item.pk}")).to_be_visible()
    shot(page, "review-page-control-item")
    assert (item.valence_min, item.valence_max, item.allowed_ages) == (5, 9, ["Teenager", "Adult"])

    # 2. The control items: coverage per item and per active worker, with the warning.
    page.goto(f"{live_server.url}/admin/annotator/golditem/")
    expect(page.locator("#control-pool")).to_contain_text("Hidden controls and the qualification pool")
    expect(page.locator("#when-exhausted")).to_have_text("Reuse the control met longest ago")
    expect(page.locator("#control-coverage")).to_contain_text("Left unseen")
    shot(page, "control-items")

    # 3. The protocol: fewer val annotators than the busy person already has is refused with the figures...
    page.goto(f"{live_server.url}/admin/annotator/protocolversion/")
    page.get_by_role("link", name="Change the protocol").click()
    page.get_by_label("Annotators per person, val split").fill("1")
    page.get_by_label("Why (kept with the version)").fill("pilot: one annotator for val")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".field-annotators_val .errorlist")).to_contain_text(
        "1 person(s) of the val split already have more annotators given or assigned (up to 2) than the new 1, "
        "with 2 task(s) still in progress on them"
    )
    shot(page, "protocol-change-refused")
    assert not ProtocolVersion.objects.filter(number__gte=2).exists()
    # ... and applied to new work only when the admin chooses so.
    page.get_by_label("Apply it to new work only: work already begun keeps the values in force").check()
    page.get_by_role("radio", name="Pause the worker's tasks until new controls are added").check()
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_text("protocol v2 is in force.")).to_be_visible()
    expect(page.locator("#result_list")).to_contain_text("annotators_val: 5 → 1")
    expect(page.locator("#result_list")).to_contain_text("controls_exhausted: reuse → pause")
    shot(page, "protocol-versions")
    assert Person.objects.get(pk=busy.pk).annotators_pinned == 5
    page.get_by_role("link", name="2", exact=True).click()
    expect(page.locator("#version-changes")).to_contain_text("annotators_val")
    shot(page, "protocol-version")

    # 4. The instructions' examples, picked from accepted answers.
    page.goto(f"{live_server.url}/admin/annotator/protocolversion/examples/")
    answer = EmotionAnnotation.objects.filter(person=grace).order_by("id").first()
    page.get_by_label(f"Confidence: answer {answer.pk}").check()
    shot(page, "instruction-examples")
    page.get_by_role("button", name="Save the examples as a new version").click()
    expect(page.get_by_text("protocol v3 is in force, with the examples ticked.")).to_be_visible()

    # 5. A worker reads the instructions, with the example's picture.
    worker_context = browser.new_context(viewport={"width": 1200, "height": 900})
    worker_page = worker_context.new_page()
    try:
        UserFactory(username="reader")
        log_in(worker_page, live_server, "reader", "/accounts/login/")
        expect(worker_page.get_by_role("heading", name="Hello, reader")).to_be_visible()
        worker_page.goto(f"{live_server.url}/work/instructions/")
        example = worker_page.locator("#category-Confidence img")
        expect(example).to_have_count(1)
        expect(example).to_have_js_property("complete", True)
        assert example.evaluate("img => img.naturalWidth") == 512
        expect(worker_page.locator("#category-Confidence")).to_contain_text("Also ticked: Confidence, Engagement")
        worker_page.locator("#category-Confidence").scroll_into_view_if_needed()
        shot(worker_page, "worker-instructions")
    finally:
        worker_context.close()
