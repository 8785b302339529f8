"""A Prolific participant in a real headless Chromium: from the study URL to the completion redirect.

With CAMPAIGN_SCREENSHOTS=<folder> set, the test also saves the pages a
participant and an admin see (docs/campaigns.md shows them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import LedgerEntry, ParticipantSession
from tests.campaigns.factories import CampaignFactory, MarketplaceFactory, object_id
from tests.factories import PASSWORD, GoldItemFactory, ImageFactory, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = os.environ.get("CAMPAIGN_SCREENSHOTS", "")


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0
    settings.QUALIFICATION_ITEMS = 2


DEMO_PHOTOS = Path(__file__).resolve().parents[2] / "demo" / "photos"
# The demo's photos with people (demo/photos.json; their licenses are in demo/README.md), for the screenshots.
PEOPLE = [("grace-hopper.jpg", 512, 600, "JPEG", (30, 20, 512, 600)),
          ("astronaut-eileen-collins.png", 512, 512, "PNG", (15, 10, 365, 512)),
          ("cameraman.png", 512, 512, "PNG", (0, 60, 330, 512))]


def person_to_annotate(number: int):
    """A person to annotate: in one of the demo's photos when screenshots are taken, else in a generated JPEG."""
    if not SHOTS:
        return PersonFactory(image=ImageFactory(file=True))
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name, width, height, kind, (x1, y1, x2, y2) = PEOPLE[number % len(PEOPLE)]
    key = default_storage.save(f"images/demo/{number}-{name}", ContentFile((DEMO_PHOTOS / name).read_bytes()))
    image = ImageFactory(storage_key=key, width=width, height=height, format=kind)
    return PersonFactory(image=image, x1=x1, y1=y1, x2=x2, y2=y2)


def shot(page: Page, name: str, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


def answer_by_keyboard(page: Page) -> None:
    """Happiness (found by typing), valence 7, arousal 4, dominance 8, female, adult; then submit."""
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("/")
    page.keyboard.type("hap")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    for key in "748":
        page.keyboard.press(key)
    page.keyboard.press("f")
    page.keyboard.press("a")
    page.keyboard.press("Control+Enter")


def next_task(page: Page, after: str | None) -> str:
    workspace = page.locator("#workspace[data-task-id]")
    expect(workspace).to_be_visible()
    if after is not None:
        expect(workspace).not_to_have_attribute("data-task-id", after)
    return workspace.get_attribute("data-task-id")


SHEET = """This study is part of a research project on how people read emotions in photos of everyday scenes.

You will first answer a short qualification test: two photos whose answers are known. Then, for each photo, you say how the person in the red box seems to feel (tick the feelings that apply, rate how positive, how active and how in control they seem) and give their gender and age group.

Your answers are stored with your Prolific ID only, never your name, and are published as part of an open research dataset. You may stop at any time by returning the study on Prolific; answers you gave until then may be kept.

Contact: the research team, emotions-study@example.org."""


def seed_history(campaign, hours: int = 9) -> None:
    """A day of a campaign for the admin's screenshot: sessions of 9 to 16 minutes every half hour, their answers,
    their pay (most approved), two people at work, a screen-out, a declined consent and a returned submission."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from annotator.models import EmotionAnnotation, TaskAssignment
    from tests.campaigns.factories import LedgerEntryFactory, ParticipantFactory, SessionFactory
    from tests.factories import EmotionAnnotationFactory, WorkerFactory

    rng = random.Random(7)
    start = timezone.now() - timedelta(hours=hours)
    states = ["completed"] * 16 + ["screened_out", "no_consent", "released"]
    for index, state in enumerate(states):
        began = start + timedelta(minutes=28 * index + rng.randint(0, 10))
        minutes = rng.uniform(9, 16)
        participant = ParticipantFactory(marketplace=campaign.marketplace,
                                         worker=WorkerFactory(user__username=f"prolific.seed.{index}"))
        session = SessionFactory(campaign=campaign, participant=participant, state=state, started_at=began,
                                 consented_at=began + timedelta(seconds=40), ended_at=began + timedelta(minutes=minutes),
                                 task_quota=campaign.session_tasks, tasks_done=campaign.session_tasks if state == "completed" else 0)
        if state != "completed":
            continue
        for number in range(campaign.session_tasks):
            person = PersonFactory(image=ImageFactory())
            assigned = began + timedelta(minutes=1.5 + number * minutes / (campaign.session_tasks + 1))
            answer = EmotionAnnotationFactory(person=person, worker=participant.worker, seconds_spent=rng.uniform(25, 75))
            task = TaskAssignment.objects.create(worker=participant.worker, kind="emotions", person=person,
                                                 state="submitted", expires_at=timezone.now() + timedelta(minutes=20))
            TaskAssignment.objects.filter(pk=task.pk).update(assigned_at=assigned, finished_at=assigned + timedelta(seconds=50),
                                                             expires_at=assigned + timedelta(minutes=20))
            EmotionAnnotation.objects.filter(pk=answer.pk).update(assignment=task)
        paid = index < 12
        LedgerEntryFactory(session=session, amount_cents=campaign.reward_cents, idempotency_key=f"reward:session:{session.pk}",
                           state="paid" if paid else "planned", settled_at=session.ended_at if paid else None)
        controls = rng.choice([0, 1, 1, 2])
        type(session).objects.filter(pk=session.pk).update(controls_passed=controls)
        if controls and index < 6:  # the first bonuses were paid already
            LedgerEntryFactory(session=session, kind="bonus", amount_cents=25 * controls, state="paid",
                               idempotency_key=f"bonus:rule:{session.pk}", settled_at=session.ended_at,
                               rule=f"{controls} control(s), 0 extra task(s)")


def test_a_participant_walks_from_the_study_url_to_the_completion_redirect(page: Page, live_server):
    for number in (1, 2):
        GoldItemFactory(for_qualification=True, for_control=False, person=person_to_annotate(number))
    for number in (3, 4, 5):
        person_to_annotate(number)
    campaign = CampaignFactory(name="Emotions in photos", slug="emotions-wave-1", session_tasks=2, expected_minutes=8,
                               reward_cents=120, completion_code="EMOTIC2DONE", marketplace=MarketplaceFactory(name="Prolific"),
                               consent_text=SHEET, target_participants=40, bonus_per_control_cents=25)
    landed: list[str] = []

    def prolific_site(route):
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html",
                      body="<!doctype html><title>Prolific</title><h1>Submission received</h1>")

    page.route("https://app.prolific.com/**", prolific_site)
    pid, study, submission = object_id(), object_id(), object_id()

    page.goto(f"{live_server.url}/c/{campaign.slug}/?PROLIFIC_PID={pid}&STUDY_ID={study}&SESSION_ID={submission}")

    expect(page).to_have_url(re.compile(r"/c/emotions-wave-1/consent/$"))
    expect(page.locator("#session-work")).to_contain_text("A short qualification test")
    expect(page.locator("#session-work")).to_contain_text("2 tasks")
    expect(page.locator("#session-time")).to_have_text("about 8 minutes")
    expect(page.locator("#consent-sheet")).to_contain_text("You may stop at any time")
    shot(page, "campaign-consent", full_page=True)
    page.get_by_role("button", name="I have read this and agree to take part").click()

    expect(page).to_have_url(re.compile(r"/work/annotate/$"))
    banner = page.locator("#session-banner")
    expect(banner).to_have_text("This session: the qualification test first, then 2 tasks (about 8 minutes in all).")
    expect(page.locator("#qualification-banner")).to_be_visible()
    task = next_task(page, None)
    shot(page, "campaign-qualification")
    answer_by_keyboard(page)
    task = next_task(page, task)
    answer_by_keyboard(page)

    # The test's result is announced before real work starts.
    expect(page.locator("#task-title")).to_have_text("You passed the qualification test")
    page.get_by_role("button", name="Start real work").click()
    task = next_task(page, task)
    expect(banner).to_have_text("This session: 2 of 2 tasks left · about 8 min to go.")
    expect(page.locator("#qualification-banner")).to_be_hidden()
    answer_by_keyboard(page)
    task = next_task(page, task)
    expect(banner).to_have_text("This session: 1 of 2 tasks left · about 4 min to go.")
    shot(page, "campaign-task")
    answer_by_keyboard(page)

    # The quota is met: the page asks the API, which says where to go; the participant lands on Prolific.
    expect(page).to_have_url("https://app.prolific.com/submissions/complete?cc=EMOTIC2DONE")
    expect(page.get_by_role("heading", name="Submission received")).to_be_visible()
    assert landed == ["https://app.prolific.com/submissions/complete?cc=EMOTIC2DONE"]
    session = ParticipantSession.objects.get()
    assert (session.state, session.tasks_done, session.external_session_id) == ("completed", 2, submission)
    assert list(LedgerEntry.objects.values_list("kind", "amount_cents", "state")) == [("reward", 120, "planned")]

    if SHOTS:
        shown = CampaignFactory(name="Emotions in photos, wave 1", slug="emotions-photos-1", session_tasks=2,
                                expected_minutes=8, reward_cents=120, marketplace=campaign.marketplace,
                                consent_text=SHEET, target_participants=40, bonus_per_control_cents=25)
        seed_history(shown)
        context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000})
        admin = context.new_page()
        UserFactory(username="lead", is_staff=True, is_superuser=True)
        admin.goto(f"{live_server.url}/admin/login/")
        admin.get_by_label("Username").fill("lead")
        admin.get_by_label("Password").fill(PASSWORD)
        admin.get_by_role("button", name="Log in").click()
        admin.goto(f"{live_server.url}/admin/campaigns/campaign/{shown.pk}/change/")
        expect(admin.locator("#campaign-figures")).to_contain_text("Sessions completed")
        for img in admin.locator("img[data-plot]").all():
            img.scroll_into_view_if_needed()
            expect(img).to_have_js_property("complete", True)
        admin.evaluate("window.scrollTo(0, 0)")
        admin.locator("#campaign-progress").screenshot(path=str(Path(SHOTS) / "campaign-admin.png"))
        admin.goto(f"{live_server.url}/admin/campaigns/campaign/{shown.pk}/bonuses/")
        admin.locator("#content").screenshot(path=str(Path(SHOTS) / "campaign-bonuses.png"))
        context.close()


def test_a_bad_study_link_shows_a_clear_page(page: Page, live_server):
    campaign = CampaignFactory(name="Emotions in photos", slug="emotions-wave-2", marketplace=MarketplaceFactory(name="Prolific"))
    page.goto(f"{live_server.url}/c/{campaign.slug}/?PROLIFIC_PID=12345")
    expect(page.locator("#problem-title")).to_have_text("This study link is incomplete")
    expect(page.locator("#problem-reason")).to_contain_text("PROLIFIC_PID is not a valid Prolific id")
    shot(page, "campaign-bad-link")
