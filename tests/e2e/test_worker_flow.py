"""The flow between tasks in a real Chromium: the task ahead shown without a loading screen, a failed
prefetch that falls back with a visible retry and loses no answer, the task's timer, warning and
extension, and the qualification test's announced result with a confirmed, harmless skip."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from annotator.models import EmotionAnnotation, TaskAssignment
from emotic.taxonomy import categories_to_mask
from tests.e2e.test_annotation_page import fill_emotions_by_keyboard, log_in, task_ready
from tests.factories import PASSWORD, GoldItemFactory, ImageFactory, PersonFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOADING = "Loading your next task…"


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0


def record_titles(page: Page) -> None:
    """Every text the task title takes from now on, kept in window.titles."""
    page.evaluate(
        """() => {
          window.titles = [];
          const title = document.getElementById("task-title");
          new MutationObserver(() => window.titles.push(title.textContent))
            .observe(title, { childList: true, characterData: true, subtree: true });
        }"""
    )


def submit(page: Page) -> None:
    page.get_by_role("button", name=re.compile("^Submit")).click()


def test_the_task_ahead_is_shown_at_once_after_an_answer_without_a_loading_screen(page: Page, live_server):
    for _ in range(3):
        PersonFactory(image=ImageFactory(file=True))
    worker = WorkerFactory()
    images = []
    page.on("request", lambda request: images.append(request.url) if "/api/images/" in request.url else None)
    log_in(page, live_server, worker)
    first = task_ready(page)
    expect(page.locator("#annotator")).to_have_attribute("data-ahead", re.compile(r"^\d+$"))
    ahead = page.locator("#annotator").get_attribute("data-ahead")
    page.wait_for_load_state("networkidle")  # the photo ahead is loaded while the worker answers
    assert len(images) == 2
    record_titles(page)

    fill_emotions_by_keyboard(page)
    submit(page)
    second = task_ready(page, after=first)
    assert second == ahead
    expect(page.locator("#count-total")).to_have_text("1")
    assert LOADING not in page.evaluate("window.titles")
    # The server was told: the task ahead is current now (its clock started) and the next one is ahead.
    expect(page.locator("#annotator")).not_to_have_attribute("data-ahead", ahead)
    assert TaskAssignment.objects.get(pk=second).started_at is not None
    assert EmotionAnnotation.objects.filter(worker=worker).count() == 1


def test_a_failed_prefetch_falls_back_with_a_visible_retry_and_loses_no_answer(page: Page, live_server):
    for _ in range(3):
        PersonFactory(image=ImageFactory(file=True))
    worker = WorkerFactory()
    page.route("**/api/images/**", lambda route: route.abort("internetdisconnected"))
    log_in(page, live_server, worker)
    first = task_ready(page)
    problem = page.locator("#image-problem")
    expect(problem).to_be_visible()  # the photo did not load: said where it should be, with a retry
    fill_emotions_by_keyboard(page)
    submit(page)
    second = task_ready(page, after=first)  # the prefetch failed too: the task is asked for as before
    assert EmotionAnnotation.objects.filter(worker=worker, assignment_id=first).count() == 1
    expect(problem).to_be_visible()

    page.unroute("**/api/images/**")
    retry = page.get_by_role("button", name="Load it again")
    retry.focus()  # by keyboard: the layout (annotate.css) places the message over the photo's frame
    page.keyboard.press("Enter")
    expect(problem).to_be_hidden()
    assert page.locator("#workspace").get_attribute("data-task-id") == second
    assert page.evaluate("document.getElementById('task-image').naturalWidth") > 0


def test_the_timer_warns_before_the_deadline_and_activity_extends_the_task(page: Page, live_server, settings):
    settings.ASSIGNMENT_TIMEOUT = timedelta(minutes=2)
    settings.ASSIGNMENT_MAX_DURATION = timedelta(minutes=10)
    settings.ASSIGNMENT_WARNING_SECONDS = 60
    PersonFactory(image=ImageFactory(file=True))
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    task_id = task_ready(page)
    expect(page.locator("#task-timer")).to_be_visible()
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^(2:00|1:5\d)$"))
    expect(page.locator("#expiry-warning")).to_be_hidden()

    # The worker has been on it a while: 30 seconds are left when the page is opened again.
    now = timezone.now()
    TaskAssignment.objects.filter(pk=task_id).update(
        assigned_at=now - timedelta(minutes=4), started_at=now - timedelta(minutes=3), expires_at=now + timedelta(seconds=30)
    )
    page.reload()
    task_ready(page)
    warning = page.locator("#expiry-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("This task ends in 0:")
    page.get_by_role("button", name="Keep working on it").click()
    expect(warning).to_be_hidden()
    expect(page.locator("#time-left")).to_have_text(re.compile(r"^(2:00|1:5\d)$"))
    assert TaskAssignment.objects.get(pk=task_id).expires_at > timezone.now() + timedelta(seconds=100)


def test_the_qualification_result_is_announced_and_a_skip_asks_first_and_costs_nothing(page: Page, live_server, settings):
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_PASS_RATE = 1, 1.0
    settings.QUALIFICATION_ATTEMPTS, settings.QUALIFICATION_RETRY_WAIT = 2, timedelta(hours=1)
    for _ in range(2):  # the answer below ticks Happiness and Disconnection: not what these items require
        GoldItemFactory(
            person=PersonFactory(image=ImageFactory(file=True)), for_qualification=True, for_control=False,
            required_categories_mask=categories_to_mask(["Anger"]),
            explanation="He shouts at the referee.", show_explanation=True,
        )
    worker = WorkerFactory(pending=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Start the qualification test").click()
    first = task_ready(page)
    expect(page.locator("#qualification-banner")).to_be_visible()

    questions = []

    def answer_dialog(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer_dialog)
    page.get_by_role("button", name=re.compile("^Skip")).click()
    task_ready(page, after=first)
    assert questions and "does not count against you" in questions[0]
    worker.refresh_from_db()
    assert worker.qualification == "pending"

    fill_emotions_by_keyboard(page)
    submit(page)
    result = page.locator("#qualification-result")
    expect(result).to_be_visible()
    expect(page.locator("#task-title")).to_have_text("You did not pass the qualification test")
    expect(result).to_contain_text("0 of 1 answers were accepted")
    expect(result).to_contain_text("You may take the test again from")
    expect(result).to_contain_text("He shouts at the referee.")
    expect(page.locator("#workspace")).to_be_hidden()


def test_passing_the_qualification_is_announced_with_what_comes_next(page: Page, live_server, settings):
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_PASS_RATE = 1, 1.0
    GoldItemFactory(person=PersonFactory(image=ImageFactory(file=True)), for_qualification=True, for_control=False)
    PersonFactory(image=ImageFactory(file=True))
    worker = WorkerFactory(pending=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Start the qualification test").click()
    first = task_ready(page)
    fill_emotions_by_keyboard(page)
    submit(page)
    expect(page.locator("#task-title")).to_have_text("You passed the qualification test")
    expect(page.locator("#qualification-result")).to_contain_text("Real work comes next")
    page.get_by_role("button", name="Start real work").click()
    task_ready(page, after=first)
    expect(page.locator("#qualification-banner")).to_be_hidden()
