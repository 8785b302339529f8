"""Issue 14, item 6: accessibility checked by a machine, and the fixes the issue names.

axe-core (bundled by axe-playwright-python, run offline in the page) on every worker page at a phone
and a laptop size: no serious or critical violation. Then what axe does not measure: the focus
ring's contrast, the links' contrast, checkbox and radio sizes, 16 px inputs, single-key shortcuts
that can be turned off (WCAG 2.1.4) and stay off, the log-in error tied to its fields, the history
page's hidden caption.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.test_annotation_page import log_in as log_in_and_start
from tests.e2e.test_annotation_page import task_ready
from tests.e2e.worker_pages import SIZES, open_page, seed, visit_worker_pages
from tests.factories import ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Axe()
AXE_OPTIONS = {"resultTypes": ["violations"], "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0


def serious(page: Page) -> list[str]:
    results = AXE.run(page, options=AXE_OPTIONS).response
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("size", [SIZES[0], SIZES[3]], ids=[SIZES[0].name, SIZES[3].name])
def test_no_serious_or_critical_axe_violation_on_any_worker_page(browser, live_server, size, settings):
    data = seed(settings)
    found = []
    with open_page(browser, size) as page:
        page.goto(f"{live_server.url}/accounts/signup/")
        found += [f"signup: {v}" for v in serious(page)]
        page.get_by_role("button", name="Sign up").click()  # empty: every field in error
        expect(page.locator("[aria-invalid=true]").first).to_be_visible()
        found += [f"signup-errors: {v}" for v in serious(page)]
        for name in visit_worker_pages(page, live_server, data):
            found += [f"{name}: {v}" for v in serious(page)]
            if name in ("emotions-task", "boxes-task"):
                page.get_by_role("button", name=re.compile("^Shortcuts")).click()  # the list opened too
                found += [f"{name} with the shortcuts: {v}" for v in serious(page)]
                page.keyboard.press("?")  # closes it, as does its Close button on small screens
    assert not found, "\n".join(found)


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb()/rgba() colours (alpha ignored: both are opaque here)."""

    def luminance(colour: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", colour)[:3])
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def page_background(page: Page) -> str:
    return page.evaluate("() => getComputedStyle(document.body).backgroundColor")


def test_focus_ring_links_checkboxes_and_inputs(page: Page, live_server):
    PersonFactory(image=ImageFactory(file=True))
    log_in_and_start(page, live_server, WorkerFactory())
    task_ready(page)
    background = page_background(page)
    # The focus ring, reached by keyboard as a keyboard user reaches it.
    page.locator("#category-filter").focus()
    page.keyboard.press("Shift+Tab")
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement); return [s.outlineColor, s.outlineWidth, s.outlineStyle]; }"
    )
    assert ring[2] == "solid" and float(ring[1].removesuffix("px")) >= 2, ring
    assert contrast(ring[0], background) >= 3, ring
    assert contrast(ring[0], "rgb(255, 255, 255)") >= 3, ring  # on the form's white card too
    # Links against the page.
    link = page.locator("#full-size-link").evaluate("(a) => getComputedStyle(a).color")
    assert contrast(link, background) >= 4.5, link
    # Checkboxes and radios larger than the browser's 13 px; text inputs at 16 px so phones do not zoom.
    for selector in ("#category-0", 'input[name="gender"]', 'input[name="age"]'):
        size = page.locator(selector).first.bounding_box()
        assert size["width"] > 13 and size["height"] > 13, (selector, size)
    assert page.locator("#category-filter").evaluate("(i) => parseFloat(getComputedStyle(i).fontSize)") >= 16


def test_single_key_shortcuts_can_be_turned_off_and_stay_off(page: Page, live_server):
    for _ in range(2):
        PersonFactory(image=ImageFactory(file=True))
    log_in_and_start(page, live_server, WorkerFactory())
    task_ready(page)
    switch = page.get_by_label("Single-key shortcuts (letters, digits, signs)")
    expect(switch).to_be_checked()
    switch.uncheck()
    page.locator("body").click(position={"x": 5, "y": 5})
    for key in ("7", "f", "a", "/", "s", "r"):
        page.keyboard.press(key)
    expect(page.locator("#valence-value")).to_have_text("not set")
    expect(page.locator('input[name="gender"]:checked')).to_have_count(0)
    expect(page.locator("#report-dialog")).not_to_be_visible()
    assert page.evaluate("() => document.activeElement.id") != "category-filter"
    # Keys with Ctrl still work: Ctrl+Enter submits (and names what is missing).
    page.keyboard.press("Control+Enter")
    expect(page.locator("#problems")).to_contain_text("Tick at least one category.")
    # Remembered by this browser.
    page.reload()
    task_ready(page)
    expect(page.get_by_label("Single-key shortcuts (letters, digits, signs)")).not_to_be_checked()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("m")
    expect(page.locator('input[name="gender"]:checked')).to_have_count(0)
    page.get_by_label("Single-key shortcuts (letters, digits, signs)").check()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("m")
    expect(page.locator('input[name="gender"]:checked')).to_have_value("Male")


def test_the_log_in_error_is_styled_and_tied_to_its_fields(page: Page, live_server):
    worker = WorkerFactory()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("Please enter a correct username and password")
    for field in (page.get_by_label("Username"), page.get_by_label("Password")):
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_have_attribute("aria-describedby", "login-error")
        expect(field).to_have_accessible_description(re.compile("Please enter a correct username"))
    expect(page.get_by_label("Username")).to_have_value(worker.user.username)
    for label in ("Username", "Password"):
        assert page.get_by_label(label).evaluate("(i) => parseFloat(getComputedStyle(i).fontSize)") >= 16
    colour = error.evaluate("(e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor, getComputedStyle(e).borderLeftWidth]")
    assert contrast(colour[0], colour[1]) >= 4.5 and colour[2] != "0px", colour


def test_the_history_pages_caption_is_hidden_yet_names_the_table(page: Page, live_server):
    from django.utils import timezone

    worker = WorkerFactory()
    TaskAssignmentFactory(worker=worker, state="skipped", finished_at=timezone.now())
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill("a-long-test-password-42")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Your finished tasks").click()
    caption = page.locator("caption")
    size = caption.bounding_box()
    assert size["width"] <= 1 and size["height"] <= 1, size
    expect(page.get_by_role("table", name="Your finished tasks, newest first")).to_be_visible()
