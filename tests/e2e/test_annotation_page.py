"""A worker at the annotation page, in a real headless Chromium.

Each test logs in through the login page, works through the real page with
mouse, touch and keyboard, and checks the rows the server stored.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from annotator.models import BoxAnnotation, EmotionAnnotation, Person, TaskAssignment, Worker
from annotator.services.assignment import expire_stale_assignments
from annotator.services import assignment
from tests.factories import PASSWORD, GoldItemFactory, ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0


def log_in(page: Page, live_server, worker) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/work/$"))
    page.get_by_role("link", name="Start annotating").click()


def image_point(page: Page, fx: float, fy: float) -> tuple[float, float]:
    """Screen position of a point given as fractions of the image's width and height."""
    box = page.locator("#overlay").bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def drag(page: Page, start, end) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def touch_drag(page: Page, start, end) -> None:
    """A one-finger drag, sent as real touch input through the DevTools protocol.

    The finger rests at the end before it lifts, as a person's does: a finger
    lifted while still moving starts a fling, and Chromium then swallows the
    next tap (it only stops the fling), so a later button tap would do nothing.
    """
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": start[0], "y": start[1]}]})
    for step in range(1, 9):
        x = start[0] + (end[0] - start[0]) * step / 8
        y = start[1] + (end[1] - start[1]) * step / 8
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    for _ in range(3):
        time.sleep(0.05)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": end[0], "y": end[1]}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def task_ready(page: Page, after: str | None = None) -> str:
    """Wait until a task other than ``after`` is shown and ready for input; return its id."""
    workspace = page.locator("#workspace[data-task-id]")
    expect(workspace).to_be_visible()
    if after is not None:
        expect(workspace).not_to_have_attribute("data-task-id", after)
    return workspace.get_attribute("data-task-id")


def fill_emotions_by_keyboard(page: Page) -> None:
    page.keyboard.press("/")
    page.keyboard.type("hap")
    page.keyboard.press("Enter")
    page.keyboard.type("bored")  # found by its definition: Disconnection
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    for key in "748":
        page.keyboard.press(key)
    page.keyboard.press("f")
    page.keyboard.press("a")


def test_a_worker_draws_a_box_then_annotates_that_person(page: Page, live_server):
    image = ImageFactory(boxes_confirmed=False, width=640, height=480, file=True)
    worker = WorkerFactory()
    log_in(page, live_server, worker)

    expect(page.locator("#task-title")).to_have_text("Draw a box around every person")
    boxes_task = task_ready(page)
    drag(page, image_point(page, 0.25, 0.125), image_point(page, 0.5, 0.875))
    expect(page.locator("#box-list li")).to_have_count(1)
    expect(page.locator("#count-total")).to_have_text("0")
    page.get_by_role("button", name=re.compile("^Submit")).click()
    expect(page.locator("#count-total")).to_have_text("1")

    (x1, y1, x2, y2), = BoxAnnotation.objects.get(worker=worker, image=image).boxes
    assert abs(x1 - 160) <= 4 and abs(y1 - 60) <= 4 and abs(x2 - 320) <= 4 and abs(y2 - 420) <= 4
    person = Person.objects.get(image=image)
    assert person.box == (x1, y1, x2, y2) and person.box_origin == "worker"

    task_ready(page, after=boxes_task)
    expect(page.locator("#task-title")).to_have_text("How does the person in the red box feel?")
    expect(page.locator("#valence-value")).to_have_text("not set")  # no default value
    page.keyboard.press("Control+Enter")
    expect(page.locator("#problems")).to_contain_text("Tick at least one category.")
    expect(page.locator("#problems")).to_contain_text("Set valence (1 to 10).")
    assert not EmotionAnnotation.objects.exists()

    page.locator("body").click(position={"x": 5, "y": 5})
    fill_emotions_by_keyboard(page)
    expect(page.locator("#valence-value")).to_have_text("7")
    dominance = page.locator("#dominance")
    dominance.scroll_into_view_if_needed()
    slider = dominance.bounding_box()
    page.mouse.click(slider["x"] + slider["width"] - 2, slider["y"] + slider["height"] / 2)  # dominance by mouse
    expect(page.locator("#dominance-value")).to_have_text("10")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#count-total")).to_have_text("2")

    stored = EmotionAnnotation.objects.get(worker=worker)
    assert stored.person == person
    assert stored.categories == ["Disconnection", "Happiness"]
    assert (stored.valence, stored.arousal, stored.dominance) == (7, 4, 10)
    assert (stored.gender, stored.age) == ("Female", "Adult")
    expect(page.locator("#task-title")).to_have_text("No task right now")


def test_boxes_are_drawn_by_touch_moved_resized_and_deleted_by_mouse_and_keys(page: Page, live_server):
    image = ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    PersonFactory(image=image, x1=600, y1=100, x2=700, y2=300)  # imported: to keep or delete
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    expect(page.locator("#box-list li")).to_have_count(1)
    expect(page.locator("#box-list li").first).to_contain_text("found automatically")

    touch_drag(page, image_point(page, 0.1, 0.1), image_point(page, 0.3, 0.6))
    expect(page.locator("#box-list li")).to_have_count(2)
    # Move the new box by its middle, 10 % of the width to the right.
    drag(page, image_point(page, 0.2, 0.35), image_point(page, 0.3, 0.35))
    # Resize it by its bottom-right corner, now at (0.4, 0.6), to (0.45, 0.9).
    drag(page, image_point(page, 0.4, 0.6), image_point(page, 0.45, 0.9))
    # Select the imported box and delete it with the keyboard.
    page.locator("#box-list li").first.get_by_role("button", name=re.compile("^Person 1")).click()
    page.keyboard.press("Delete")
    expect(page.locator("#box-list li")).to_have_count(1)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#count-total")).to_have_text("1")

    (x1, y1, x2, y2), = BoxAnnotation.objects.get(worker=worker).boxes
    assert [abs(v - e) <= 5 for v, e in zip((x1, y1, x2, y2), (160, 40, 360, 360))] == [True] * 4, (x1, y1, x2, y2)
    assert list(Person.objects.filter(image=image).values_list("box_origin", flat=True)) == ["worker"]


def test_a_box_under_the_minimum_size_is_enlarged_with_a_message_at_it(page: Page, live_server, settings):
    settings.MIN_BOX_SIDE_FRACTION = 0.25  # 120 pixels of 480: a box drawn 64 pixels wide is too narrow
    image = ImageFactory(boxes_confirmed=False, width=640, height=480, file=True)
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    task_ready(page)
    drag(page, image_point(page, 0.1, 0.1), image_point(page, 0.2, 0.6))
    expect(page.locator("#box-list li")).to_have_count(1)
    expect(page.locator(".box-notice")).to_have_text("Enlarged: boxes need sides of at least 120 px")
    page.get_by_role("button", name=re.compile("^Submit")).click()
    expect(page.locator("#count-total")).to_have_text("1")
    (x1, y1, x2, y2), = BoxAnnotation.objects.get(worker=worker, image=image).boxes
    assert 120 <= x2 - x1 <= 121 and abs(x1 - 64) <= 4 and abs(y2 - y1 - 240) <= 8, (x1, y1, x2, y2)


def test_boxes_are_drawn_moved_resized_and_deleted_by_touch_alone(page: Page, live_server):
    image = ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    PersonFactory(image=image, x1=600, y1=100, x2=700, y2=300)  # imported: deleted with a tap
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    expect(page.locator("#box-list li")).to_have_count(1)

    touch_drag(page, image_point(page, 0.1, 0.1), image_point(page, 0.3, 0.6))
    expect(page.locator("#box-list li")).to_have_count(2)
    # Move the new box with a finger on its middle, 10 % of the width to the right and 5 % down.
    touch_drag(page, image_point(page, 0.2, 0.35), image_point(page, 0.3, 0.4))
    # Resize it by its top-left corner, now at (0.2, 0.15), out to (0.15, 0.05).
    touch_drag(page, image_point(page, 0.2, 0.15), image_point(page, 0.15, 0.05))
    page.get_by_role("button", name="Delete box 1").tap()  # a finger tap (the context has touch)
    expect(page.locator("#box-list li")).to_have_count(1)
    page.locator("#submit-button").tap()
    expect(page.locator("#count-total")).to_have_text("1")

    (box,) = BoxAnnotation.objects.get(worker=worker).boxes
    # Drawn 80..240 x 40..240, moved by (80, 20), top-left corner dragged to (120, 20).
    assert all(abs(v - e) <= 5 for v, e in zip(box, (120, 20, 320, 260))), box
    assert list(Person.objects.filter(image=image).values_list("box_origin", flat=True)) == ["worker"]


def test_no_people_by_keyboard(page: Page, live_server):
    image = ImageFactory(boxes_confirmed=False, file=True)
    log_in(page, live_server, WorkerFactory())
    expect(page.locator("#task-title")).to_have_text("Draw a box around every person")
    task_ready(page)
    page.keyboard.press("n")
    expect(page.locator("#no-people")).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#count-total")).to_have_text("1")
    assert BoxAnnotation.objects.get(image=image).no_people


def ready_emotions_task(page: Page, live_server):
    PersonFactory(image=ImageFactory(file=True))
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    expect(page.locator("#task-title")).to_have_text("How does the person in the red box feel?")
    task_ready(page)
    fill_emotions_by_keyboard(page)
    return worker


def test_a_submission_that_fails_on_the_network_is_retried_and_stored_once(page: Page, live_server):
    attempts = []

    def flaky_network(route):
        attempts.append(route.request.post_data_json["submission_id"])
        if len(attempts) <= 2:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/tasks/*/submit/", flaky_network)  # before the page loads: no race with its requests
    worker = ready_emotions_task(page, live_server)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status-text")).to_contain_text("Could not reach the server")
    expect(page.locator("#count-total")).to_have_text("1")
    assert len(attempts) == 3 and len(set(attempts)) == 1  # the same submission id every time
    assert EmotionAnnotation.objects.filter(worker=worker).count() == 1


def test_an_answer_whose_response_was_lost_is_stored_once(page: Page, live_server):
    attempts = []

    def lose_first_response(route):
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.fetch()  # the server stores it...
            route.abort("connectionreset")  # ...but the answer never reaches the page
        else:
            route.continue_()

    page.route("**/api/tasks/*/submit/", lose_first_response)  # before the page loads
    worker = ready_emotions_task(page, live_server)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#count-total")).to_have_text("1")
    assert len(attempts) == 2
    assert EmotionAnnotation.objects.filter(worker=worker).count() == 1


def test_when_the_server_stays_unreachable_the_answer_is_kept_and_sent_later(page: Page, live_server):
    page.route("**/api/tasks/*/submit/", lambda route: route.abort("internetdisconnected"))  # before the page loads
    worker = ready_emotions_task(page, live_server)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status-text")).to_contain_text("could not be sent", timeout=20_000)
    assert "submission_id" in page.evaluate("localStorage.getItem('emotic.unsent')")
    assert not EmotionAnnotation.objects.exists()

    page.unroute("**/api/tasks/*/submit/")
    page.get_by_role("button", name="Send again").click()
    expect(page.locator("#count-total")).to_have_text("1")
    assert EmotionAnnotation.objects.filter(worker=worker).count() == 1
    assert page.evaluate("localStorage.getItem('emotic.unsent')") == "[]"


def test_a_kept_answer_the_server_refuses_later_is_named_never_reported_as_sent(page: Page, live_server):
    page.route("**/api/tasks/*/submit/", lambda route: route.abort("internetdisconnected"))
    ready_emotions_task(page, live_server)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#status-text")).to_contain_text("could not be sent", timeout=20_000)
    # While the worker was offline the task ran out of time and went back to the pool, where another
    # worker took the person: the late answer cannot be kept.
    assert expire_stale_assignments(now=timezone.now() + timedelta(days=1)) == 1
    assert assignment.assign_next_task(WorkerFactory()) is not None

    page.unroute("**/api/tasks/*/submit/")
    page.get_by_role("button", name="Send again").click()
    status = page.locator("#status-text")
    expect(status).to_contain_text("1 could not be stored and were dropped")
    expect(status).to_contain_text("expired")
    expect(status).not_to_contain_text("were sent")
    assert not EmotionAnnotation.objects.exists()
    assert page.evaluate("localStorage.getItem('emotic.unsent')") == "[]"


def test_typing_narrows_the_categories_to_those_matching_name_or_definition(page: Page, live_server):
    ready_emotions_task(page, live_server)
    page.keyboard.press("/")
    page.keyboard.type("an")  # in a name, or in a definition ("anxious", "an outcome", ...)
    expect(page.locator(".category:visible label")).to_have_text(
        ["Anger", "Annoyance", "Anticipation", "Confidence", "Disquietment", "Doubt/Confusion", "Fear", "Peace", "Suffering"]
    )
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.type("tired")
    expect(page.locator(".category:visible label")).to_have_text(["Fatigue"])
    page.keyboard.press("Escape")
    expect(page.locator(".category:visible")).to_have_count(26)


def test_definitions_show_on_focus_and_the_key_map_is_on_the_page(page: Page, live_server):
    ready_emotions_task(page, live_server)
    expect(page.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    page.locator("#category-0").focus()
    expect(page.locator("#definition-0")).to_be_visible()
    expect(page.locator("#definition-0")).to_have_text("fond feelings; love; tenderness")
    expect(page.locator("#valence-low")).to_contain_text("negative")
    expect(page.locator("#dominance-high")).to_contain_text("in control")


def test_a_new_worker_signs_up_passes_the_qualification_and_gets_real_work(page: Page, live_server, settings):
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_PASS_RATE = 2, 1.0
    for _ in range(2):
        GoldItemFactory(person=PersonFactory(image=ImageFactory(file=True)), for_qualification=True, for_control=False)
    real = PersonFactory(image=ImageFactory(file=True))
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password:", exact=True).fill("a-quite-long-passphrase")
    page.get_by_label("Password confirmation").fill("a-quite-long-passphrase")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("link", name="Start the qualification test").click()

    task_id = None
    for number in (1, 2):
        task_id = task_ready(page, after=task_id)
        expect(page.locator("#qualification-banner")).to_be_visible()
        expect(page.locator("#qualification-number")).to_have_text(str(number))
        fill_emotions_by_keyboard(page)  # Happiness is what the gold items accept
        page.keyboard.press("Control+Enter")
        expect(page.locator("#count-total")).to_have_text(str(number))

    expect(page.locator("#task-title")).to_have_text("You passed the qualification test")  # announced
    page.get_by_role("button", name="Start real work").click()
    expect(page.locator("#qualification-banner")).to_be_hidden()
    expect(page.locator("#task-title")).to_have_text("How does the person in the red box feel?")
    worker = Worker.objects.get(user__username="newcomer")
    assert worker.qualification == "qualified"
    assert TaskAssignment.objects.get(worker=worker, state="assigned").person == real


def test_skipping_by_key_asks_first_when_the_answer_is_filled_in(page: Page, live_server):
    ready_emotions_task(page, live_server)  # categories, sliders, gender and age chosen
    first = page.locator("#workspace").get_attribute("data-task-id")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.keyboard.press("s")
    expect(page.locator("#workspace")).to_have_attribute("data-task-id", first)  # kept
    assert questions == ["Skip this task? What you have entered for it will be lost."]
    assert TaskAssignment.objects.get().state == "assigned"
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("s")
    expect(page.locator("#task-title")).to_have_text("No task right now")
    assert TaskAssignment.objects.get().state == "skipped"


def test_skip_and_report_from_the_keyboard(page: Page, live_server):
    skipped, reported = PersonFactory(image=ImageFactory(file=True)), PersonFactory(image=ImageFactory(file=True))
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    expect(page.locator("#task-title")).to_have_text("How does the person in the red box feel?")
    first = task_ready(page)
    page.keyboard.press("s")
    task_ready(page, after=first)
    page.keyboard.press("r")
    dialog = page.get_by_role("dialog", name="Report a bad image")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Not a photo").check()
    dialog.get_by_label("Details").fill("a cartoon")
    dialog.get_by_role("button", name="Report and skip").click()
    expect(page.locator("#task-title")).to_have_text("No task right now")
    states = dict(TaskAssignment.objects.filter(worker=worker).values_list("person", "state"))
    assert states == {skipped.pk: "skipped", reported.pk: "reported"}
    reported.image.refresh_from_db()
    assert reported.image.reported_count == 1
    assert TaskAssignment.objects.get(person=reported).skip_reason == "Not a photo (drawing, text, collage): a cartoon"


def requests_for_tasks(page: Page) -> list[str]:
    """The page's requests for a task, recorded from now on."""
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url) if "/api/tasks/next/" in request.url else None)
    return asked


def test_with_work_held_by_others_the_page_counts_down_and_asks_again_by_itself(page: Page, live_server, monkeypatch):
    monkeypatch.setattr(assignment, "RETRY_AFTER_LATER", 4)  # the 204's Retry-After
    person = PersonFactory(image=ImageFactory(file=True))
    TaskAssignmentFactory(person=person)  # another worker holds its only slot
    asked = requests_for_tasks(page)
    log_in(page, live_server, WorkerFactory())

    expect(page.locator("#task-title")).to_have_text("No task right now")
    expect(page.locator("#empty-heading")).to_have_text("No task for you right now")
    expect(page.locator("#waiting")).to_be_visible()
    countdown = page.locator("#retry-countdown")
    expect(countdown).to_have_text(re.compile(r"^[34]$"))
    expect(page.get_by_role("button", name="Try now")).to_be_visible()
    # The other worker's task runs out meanwhile; the countdown goes on, then the page asks again by itself.
    assert expire_stale_assignments(now=timezone.now() + timedelta(days=1)) == 1
    expect(countdown).to_have_text(re.compile(r"^[12]$"))
    assert len(asked) == 1
    task_ready(page)
    expect(page.locator("#task-title")).to_have_text("How does the person in the red box feel?")
    expect(page.locator("#empty")).to_be_hidden()
    assert len(asked) == 2
    assert TaskAssignment.objects.get(state="assigned").person == person


def test_try_now_asks_at_once_instead_of_waiting(page: Page, live_server):
    person = PersonFactory(image=ImageFactory(file=True))
    TaskAssignmentFactory(person=person)
    asked = requests_for_tasks(page)
    log_in(page, live_server, WorkerFactory())
    expect(page.locator("#waiting")).to_be_visible()
    expect(page.locator("#retry-countdown")).to_have_text(re.compile(r"^(2[0-9]|30)$"))  # Retry-After: 30
    assert expire_stale_assignments(now=timezone.now() + timedelta(days=1)) == 1
    page.get_by_role("button", name="Try now").click()
    task_ready(page)
    assert len(asked) == 2
    expect(page.locator("#waiting")).to_be_hidden()


def test_with_nothing_left_the_page_says_so_and_stops_asking(page: Page, live_server, monkeypatch):
    monkeypatch.setattr(assignment, "RETRY_AFTER_DONE", 1)  # even a short Retry-After: "done" means stop
    person = PersonFactory(image=ImageFactory(file=True))
    asked = requests_for_tasks(page)
    log_in(page, live_server, WorkerFactory())
    task_ready(page)
    fill_emotions_by_keyboard(page)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#count-total")).to_have_text("1")
    assert EmotionAnnotation.objects.get().person == person

    expect(page.locator("#task-title")).to_have_text("No task right now")
    expect(page.locator("#empty-heading")).to_have_text("Nothing left for you")
    expect(page.locator("#empty-text")).to_contain_text("every person you may annotate has all the answers")
    expect(page.locator("#waiting")).to_be_hidden()
    expect(page.get_by_role("button", name="Check again")).to_be_visible()
    page.wait_for_timeout(2500)
    assert len(asked) == 2  # the first task, then "done": no polling
