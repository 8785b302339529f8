"""Issue 14, item 1: every worker page at phone, tablet, laptop and desktop sizes and at 200 % zoom.

Each test walks the worker's pages in a real Chromium at one size, takes a screenshot of each,
and measures: the photo and the form never overlap (at the top and once scrolled to Submit),
Submit is on screen or reachable by scrolling, every checkbox and radio is what a tap at its
centre reaches, and every tap target is at least 24 x 24 CSS px (44 x 44 on touch screens).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.worker_pages import (
    SIZES,
    Size,
    hit_test_misses,
    in_viewport,
    open_page,
    photo_and_form_overlap,
    screenshot,
    seed,
    small_targets,
    visible_share,
    visit_worker_pages,
)

pytestmark = pytest.mark.django_db(transaction=True)

TASK_PAGES = {"emotions-task", "boxes-task", "qualification"}


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0


def check_task_page(page: Page, size: Size, name: str) -> list[str]:
    problems = []
    if photo_and_form_overlap(page) > 1:
        problems.append(f"{name}: the photo and the form overlap on arrival")
    if size.width >= 1366 and name != "boxes-task":
        # The most common laptop: the whole emotions task without scrolling the page, Submit included,
        # with the photo on screen beside the form.
        if not in_viewport(page, "#submit-button"):
            problems.append(f"{name}: Submit is not on screen on arrival")
        if visible_share(page, "#canvas") < 0.99:
            problems.append(f"{name}: the photo is not wholly on screen on arrival")
    misses = hit_test_misses(page, "#workspace input[type=checkbox], #workspace input[type=radio]")
    problems += [f"{name}: {miss}" for miss in misses]
    if size.width >= 1366 and name != "boxes-task" and visible_share(page, "#canvas") < 0.99:
        problems.append(f"{name}: the photo leaves the screen while the form scrolls")
    page.locator("#submit-button").scroll_into_view_if_needed()
    if not in_viewport(page, "#submit-button"):
        problems.append(f"{name}: Submit cannot be reached")
    if photo_and_form_overlap(page) > 1:
        problems.append(f"{name}: the photo and the form overlap once scrolled to Submit")
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    if photo_and_form_overlap(page) > 1:
        problems.append(f"{name}: the photo and the form overlap at the bottom of the page")
    page.evaluate("() => window.scrollTo(0, 0)")
    return problems


@pytest.mark.parametrize("size", SIZES, ids=[size.name for size in SIZES])
def test_every_worker_page_fits_the_screen(browser, live_server, size: Size, tmp_path, settings):
    data = seed(settings)
    problems: list[str] = []
    with open_page(browser, size) as page:
        for name in visit_worker_pages(page, live_server, data):
            screenshot(page, size, name, tmp_path)
            if name in TASK_PAGES:
                problems += check_task_page(page, size, name)
            problems += [f"{name}: target {target} is too small" for target in small_targets(page, size)]
            overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
            if overflow > 1:
                problems.append(f"{name}: the page is {overflow} px wider than the screen")
    assert not problems, "\n".join(problems)
