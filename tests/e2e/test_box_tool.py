"""Issue 14, item 4: the box tool in crowded scenes, in a real Chromium, with mouse, touch and keys.

Drawing a new box is always possible: a drag that starts outside the chosen box draws, even inside
another box, and Shift+drag draws anywhere; a click chooses the innermost box. Zoom and pan by
Ctrl+wheel, pinch and keys; undo and redo by buttons and Ctrl+Z / Ctrl+Shift+Z; corner handles stay
inside the photo and grow on touch screens; a finger scrolls the page when it is not drawing; a box
dragged past the photo's edge is cut there, with a message at the box. Each test checks what the
server stored.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from annotator.models import BoxAnnotation
from tests.e2e.test_annotation_page import drag, image_point, log_in, task_ready, touch_drag
from tests.e2e.worker_pages import SIZES, open_page
from tests.factories import ImageFactory, PersonFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0


def stored_boxes(worker) -> list[list[int]]:
    return BoxAnnotation.objects.get(worker=worker).boxes


def near(box, expected, tolerance=5) -> bool:
    return all(abs(v - e) <= tolerance for v, e in zip(box, expected))


def submit(page: Page, total: int) -> None:
    page.get_by_role("button", name=re.compile("^Submit")).click()
    expect(page.locator("#count-total")).to_have_text(str(total))


def chosen(page: Page):
    return page.locator("#box-list li.selected")


def test_a_box_is_drawn_inside_another_one_and_a_click_chooses_the_innermost(page: Page, live_server):
    image = ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    PersonFactory(image=image, x1=80, y1=20, x2=720, y2=380)  # a crowd's big box, found automatically
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    task_ready(page)
    # Inside the big (not chosen) box a drag draws a new box: the big one does not move.
    drag(page, image_point(page, 0.3, 0.2), image_point(page, 0.4, 0.8))
    expect(page.locator("#box-list li")).to_have_count(2)
    expect(chosen(page)).to_contain_text("Person 2")
    # A click inside both boxes chooses the innermost, the new one; inside the big one only, the big one.
    page.mouse.click(*image_point(page, 0.6, 0.5))
    expect(chosen(page)).to_contain_text("Person 1")
    page.mouse.click(*image_point(page, 0.35, 0.5))
    expect(chosen(page)).to_contain_text("Person 2")
    # The chosen box moves when dragged: 5 % of the width to the right.
    drag(page, image_point(page, 0.35, 0.5), image_point(page, 0.4, 0.5))
    # Shift+drag draws even inside the chosen box (a person in front of another).
    page.keyboard.down("Shift")
    drag(page, image_point(page, 0.37, 0.3), image_point(page, 0.43, 0.6))
    page.keyboard.up("Shift")
    expect(page.locator("#box-list li")).to_have_count(3)
    submit(page, 1)
    big, second, third = stored_boxes(worker)
    assert big == [80, 20, 720, 380]
    assert near(second, (280, 80, 360, 320)), second
    assert near(third, (296, 120, 344, 240)), third


def test_undo_and_redo_by_buttons_and_keys_after_drawing_by_keyboard(page: Page, live_server):
    ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    task_ready(page)
    undo = page.get_by_role("button", name="Undo", exact=True)
    redo = page.get_by_role("button", name="Redo", exact=True)
    expect(undo).to_be_disabled()
    drag(page, image_point(page, 0.1, 0.1), image_point(page, 0.3, 0.5))
    expect(page.locator("#box-list li")).to_have_count(1)
    page.keyboard.press("Control+z")
    expect(page.locator("#box-list li")).to_have_count(0)
    page.keyboard.press("Control+Shift+Z")
    expect(page.locator("#box-list li")).to_have_count(1)
    undo.click()
    expect(page.locator("#box-list li")).to_have_count(0)
    redo.click()
    expect(page.locator("#box-list li")).to_have_count(1)
    expect(redo).to_be_disabled()

    # Drawn by keyboard: B puts a box of a quarter by a half of the photo in the middle (300..500 x 100..300).
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("b")
    expect(page.locator("#box-list li")).to_have_count(2)
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")  # 10 px each
    page.keyboard.press("Control+z")  # the run of key presses is one step
    expect(page.locator("#box-list li")).to_have_count(2)
    for _ in range(2):
        page.keyboard.press("Shift+ArrowLeft")
    time.sleep(1.1)  # a new run
    for _ in range(5):
        page.keyboard.press("Alt+ArrowDown")  # taller by 5 px
    page.keyboard.press("Control+y")  # nothing to redo after a change: no effect
    submit(page, 1)
    first, second = stored_boxes(worker)
    assert near(first, (80, 40, 240, 200)), first
    assert second == [280, 100, 480, 305], second


def test_zoom_and_pan_by_wheel_pinch_and_keys_and_drawing_while_zoomed(page: Page, live_server):
    ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    task_ready(page)
    canvas = page.locator("#canvas")
    zoom = page.locator("#zoom-level")
    scrollable = "(el) => [el.scrollWidth > el.clientWidth + 1, el.scrollLeft, el.scrollTop]"

    # Ctrl+wheel over a point of the photo zooms in around that point.
    x, y = image_point(page, 0.75, 0.5)
    page.mouse.move(x, y)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    expect(zoom).not_to_have_text("100 %")
    assert canvas.evaluate(scrollable)[0]
    fx, fy = page.evaluate(
        """([x, y]) => { const r = document.getElementById('overlay').getBoundingClientRect();
                        return [(x - r.left) / r.width, (y - r.top) / r.height]; }""",
        [x, y],
    )
    assert abs(fx - 0.75) < 0.02 and abs(fy - 0.5) < 0.02, (fx, fy)  # the point stayed under the pointer

    # Keys: 0 fits, + zooms in, the arrows pan while no box is chosen.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("0")
    expect(zoom).to_have_text("100 %")
    for _ in range(3):
        page.keyboard.press("+")
    expect(zoom).to_have_text("338 %")
    before = canvas.evaluate(scrollable)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    after = canvas.evaluate(scrollable)
    assert after[1] > before[1] and after[2] > before[2], (before, after)

    # Drawing at 150 %: the stored box is in the photo's own pixels.
    page.get_by_role("button", name="Fit").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(zoom).to_have_text("150 %")
    canvas.evaluate("(el) => { el.scrollLeft = 0; el.scrollTop = 0; }")
    drag(page, image_point(page, 0.05, 0.1), image_point(page, 0.2, 0.5))
    expect(page.locator("#box-list li")).to_have_count(1)

    # A two-finger pinch zooms and draws nothing.
    page.get_by_role("button", name="Fit").click()
    cdp = page.context.new_cdp_session(page)
    (ax, ay), (bx, by) = image_point(page, 0.45, 0.5), image_point(page, 0.55, 0.5)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": ax, "y": ay, "id": 1}, {"x": bx, "y": by, "id": 2}]})
    for step in range(1, 11):
        spread = step * 12
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": ax - spread, "y": ay, "id": 1}, {"x": bx + spread, "y": by, "id": 2}]})
    time.sleep(0.1)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
    expect(zoom).not_to_have_text("100 %")
    assert float(zoom.text_content().split()[0]) > 150
    expect(page.locator("#box-list li")).to_have_count(1)
    submit(page, 1)
    (box,) = stored_boxes(worker)
    assert near(box, (40, 40, 160, 200)), box


def handle_boxes(page: Page) -> tuple[dict, list[dict]]:
    photo = page.locator("#overlay").bounding_box()
    return photo, [handle.bounding_box() for handle in page.locator(".handle-hit").all()]


def test_handles_stay_inside_the_photo_and_grow_on_touch(browser, live_server, settings):
    settings.BOX_ANNOTATORS_PER_IMAGE = 2  # one worker with a mouse, one on a phone
    image = ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    PersonFactory(image=image, x1=0, y1=0, x2=800, y2=400)  # a box along the photo's edges
    for touch, side in ((False, 24), (True, 44)):
        size = SIZES[3] if not touch else SIZES[0]
        with open_page(browser, size) as page:
            log_in(page, live_server, WorkerFactory())
            task_ready(page)
            page.get_by_role("button", name=re.compile("^Person 1")).click()
            photo, handles = handle_boxes(page)
        assert len(handles) == 4
        for handle in handles:
            assert abs(handle["width"] - side) < 1 and abs(handle["height"] - side) < 1, (touch, handle)
            assert handle["x"] >= photo["x"] - 0.5 and handle["y"] >= photo["y"] - 0.5, (photo, handle)
            assert handle["x"] + handle["width"] <= photo["x"] + photo["width"] + 0.5, (photo, handle)
            assert handle["y"] + handle["height"] <= photo["y"] + photo["height"] + 0.5, (photo, handle)


def test_a_finger_scrolls_the_page_when_not_drawing_and_draws_when_drawing(browser, live_server):
    ImageFactory(boxes_confirmed=False, width=600, height=800, file=True)  # a tall photo on a phone
    worker = WorkerFactory()
    with open_page(browser, SIZES[0]) as page:  # 390 x 844, touch
        log_in(page, live_server, worker)
        task_ready(page)
        finger = page.get_by_role("button", name="Finger draws")
        expect(finger).to_have_attribute("aria-pressed", "true")
        # Drawing: a finger on the photo draws a box, and the page stays where it is.
        page.locator("#canvas").scroll_into_view_if_needed()
        scrolled = page.evaluate("() => window.scrollY")
        touch_drag(page, image_point(page, 0.2, 0.2), image_point(page, 0.6, 0.5))
        expect(page.locator("#box-list li")).to_have_count(1)
        assert abs(page.evaluate("() => window.scrollY") - scrolled) < 2

        # Not drawing: a swipe on the photo scrolls the page and draws nothing.
        finger.tap()
        expect(finger).to_have_attribute("aria-pressed", "false")
        page.evaluate("() => window.scrollTo(0, 0)")
        touch_drag(page, image_point(page, 0.8, 0.9), image_point(page, 0.8, 0.6))  # a swipe up, beside the box
        page.wait_for_function("() => window.scrollY > 50")
        expect(page.locator("#box-list li")).to_have_count(1)
        # A tap still chooses a box, or none.
        page.locator("#canvas").scroll_into_view_if_needed()
        page.touchscreen.tap(*image_point(page, 0.8, 0.9))
        expect(page.locator("#box-list li.selected")).to_have_count(0)
        page.touchscreen.tap(*image_point(page, 0.4, 0.35))
        expect(page.locator("#box-list li.selected")).to_contain_text("Person 1")
        page.reload()  # the choice is remembered in this browser
        task_ready(page)
        expect(page.get_by_role("button", name="Finger draws")).to_have_attribute("aria-pressed", "false")
        page.locator("#submit-button").tap()
        expect(page.locator("#count-total")).to_have_text("1")
        (box,) = stored_boxes(worker)
        assert near(box, (120, 160, 360, 400), tolerance=8), box


def test_a_box_dragged_past_the_photos_edge_is_cut_there_with_a_message_at_the_box(page: Page, live_server):
    ImageFactory(boxes_confirmed=False, width=800, height=400, file=True)
    worker = WorkerFactory()
    log_in(page, live_server, worker)
    task_ready(page)
    photo = page.locator("#overlay").bounding_box()
    drag(page, image_point(page, 0.7, 0.5), (photo["x"] + photo["width"] + 60, photo["y"] + photo["height"] + 40))
    notice = page.locator(".box-notice")
    expect(notice).to_have_text("Kept inside the photo: the part outside it was cut off")
    box = page.locator(".box-body").bounding_box()
    said = notice.bounding_box()
    assert said["y"] <= box["y"] + box["height"] + 30 and said["y"] + said["height"] >= box["y"] - 30, (box, said)
    assert photo["x"] <= said["x"] and said["x"] + said["width"] <= photo["x"] + photo["width"] + 1, (photo, said)
    # Resizing a corner out past the edge is cut the same way.
    page.locator("body").click(position={"x": 5, "y": 5})
    drag(page, image_point(page, 0.1, 0.2), image_point(page, 0.3, 0.6))
    drag(page, image_point(page, 0.1, 0.2), (photo["x"] - 50, photo["y"] - 50))
    expect(notice).to_have_text("Kept inside the photo: the part outside it was cut off")
    submit(page, 1)
    first, second = stored_boxes(worker)
    assert near(first, (560, 200, 800, 400)) and first[2] == 800 and first[3] == 400, first
    assert second[:2] == [0, 0] and near(second, (0, 0, 240, 240)), second
