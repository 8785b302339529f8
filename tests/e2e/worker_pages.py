"""The worker's pages at many screen sizes: the sizes, the data behind each page, and the geometry checks.

Shared by test_worker_layout.py (geometry, screenshots) and test_accessibility.py (axe-core).
Screenshots are written where ``WORKER_SCREENSHOTS`` points (docs/img/worker-after/ for the
documentation), else under pytest's temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from annotator.models import TaskAssignment
from tests.factories import (
    PASSWORD,
    EmotionAnnotationFactory,
    GoldItemFactory,
    ImageFactory,
    PersonFactory,
    TaskAssignmentFactory,
    WorkerFactory,
)

DEMO_PHOTOS = Path(settings.BASE_DIR) / "demo" / "photos"


@dataclass(frozen=True)
class Size:
    name: str
    width: int
    height: int
    touch: bool = False
    scale: float = 1  # device pixels per CSS pixel
    documented: bool = False  # one of the three sizes shown in docs/worker-pages.md

    @property
    def min_target(self) -> int:
        """The smallest tap target: 44 CSS px on touch screens, 24 elsewhere (WCAG 2.5.8)."""
        return 44 if self.touch else 24


# 200 % zoom: the browser halves the CSS viewport (1366 x 768 device pixels become 683 x 384 CSS
# pixels) and doubles the pixels per CSS pixel. A viewport of half the CSS size with a device scale
# factor of 2 is exactly that for layout and media queries; device_scale_factor alone would only
# sharpen the rendering and leave the layout at 1366 px.
SIZES = [
    Size("phone-390x844", 390, 844, touch=True, scale=2, documented=True),
    Size("tablet-768x1024", 768, 1024, touch=True),
    Size("laptop-1024x768", 1024, 768, documented=True),
    Size("laptop-1366x768", 1366, 768, documented=True),
    Size("desktop-1920x1080", 1920, 1080),
    Size("zoom200-1366x768", 683, 384, scale=2),
]


def new_context(browser: Browser, size: Size):
    context = browser.new_context(
        viewport={"width": size.width, "height": size.height},
        device_scale_factor=size.scale,
        has_touch=size.touch,
        is_mobile=size.touch,
    )
    context.set_default_timeout(15_000)
    return context


@contextmanager
def open_page(browser: Browser, size: Size):
    """A page at ``size`` in a context of its own, closed once its last requests have finished (as the
    conftest's ``page`` fixture does: the database is flushed after the test), with no JavaScript error."""
    context = new_context(browser, size)
    page = context.new_page()
    errors: list[str] = []
    in_flight: set = set()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: in_flight.add(request))
    page.on("requestfinished", lambda request: in_flight.discard(request))
    page.on("requestfailed", lambda request: in_flight.discard(request))
    try:
        yield page
    finally:
        for _ in range(100):
            if not in_flight:
                break
            page.wait_for_timeout(50)
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def photo_image(filename: str, **fields):
    """An image whose stored file is one of the demo photos (real pictures make honest screenshots)."""
    from PIL import Image as PILImage

    path = DEMO_PHOTOS / filename
    data = path.read_bytes()
    with PILImage.open(path) as picture:
        width, height = picture.size
        format_ = picture.format
    image = ImageFactory(width=width, height=height, format=format_, **fields)
    key = default_storage.save(f"images/test/{image.pk:06d}-{filename}", ContentFile(data))
    image.storage_key = key
    image.sha256 = hashlib.sha256(data).hexdigest()
    image.save(update_fields=["storage_key", "sha256"])
    return image


@dataclass
class WorkerPages:
    worker: object  # qualified, with a history; gets an emotions task, then a boxes task
    newcomer: object  # pending: gets the qualification test


def seed(settings) -> WorkerPages:
    """An emotions task, a boxes task with a box found automatically, a qualification item and a history.

    ``settings`` is pytest-django's fixture, which puts every setting back after the test."""
    settings.QUALIFICATION_ITEMS = 1
    worker = WorkerFactory()
    now = timezone.now()
    for minutes, state, reason in ((50, "skipped", ""), (40, "reported", "Not a photo (drawing, text, collage)"), (30, "submitted", "")):
        done = TaskAssignmentFactory(worker=worker, state=state, skip_reason=reason, finished_at=now - timedelta(minutes=minutes))
        if state == "submitted":
            EmotionAnnotationFactory(assignment=done, person=done.person, worker=worker, categories=("Happiness", "Engagement"))
    grace = photo_image("grace-hopper.jpg")
    PersonFactory(image=grace, x1=30, y1=20, x2=512, y2=600)
    astronaut = photo_image("astronaut-eileen-collins.png", boxes_confirmed=False)
    PersonFactory(image=astronaut, x1=15, y1=10, x2=365, y2=512)  # a suggested box, to keep or fix
    GoldItemFactory(person=PersonFactory(image=photo_image("cameraman.png"), x1=0, y1=60, x2=330, y2=512),
                    for_qualification=True, for_control=False)
    return WorkerPages(worker=worker, newcomer=WorkerFactory(pending=True))


def log_in(page: Page, live_server, worker) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(worker.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/work/$"))


def task_ready(page: Page, after: str | None = None) -> str:
    workspace = page.locator("#workspace[data-task-id]")
    expect(workspace).to_be_visible()
    if after is not None:
        expect(workspace).not_to_have_attribute("data-task-id", after)
    page.wait_for_function("() => document.getElementById('task-image').complete")
    return workspace.get_attribute("data-task-id")


def visit_worker_pages(page: Page, live_server, data: WorkerPages):
    """Open each worker page in turn, yielding its name once it is ready: password reset, login, home,
    emotions, boxes, history, instructions, account, account deletion, qualification."""
    page.goto(f"{live_server.url}/accounts/password-reset/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    yield "password-reset"
    page.goto(f"{live_server.url}/accounts/login/")
    yield "login"
    page.get_by_label("Username").fill(data.worker.user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(re.compile("Please enter a correct username"))).to_be_visible()
    yield "login-error"
    log_in(page, live_server, data.worker)
    yield "work-home"
    page.get_by_role("link", name="Start annotating").click()
    expect(page.locator("#task-title")).to_have_text("How does the person in the red box feel?")
    emotions = task_ready(page)
    yield "emotions-task"
    page.locator("#skip-button").click()
    expect(page.locator("#task-title")).to_have_text("Draw a box around every person")
    task_ready(page, after=emotions)
    yield "boxes-task"
    page.goto(f"{live_server.url}/work/history/")
    yield "history"
    page.goto(f"{live_server.url}/work/instructions/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    yield "instructions"
    page.goto(f"{live_server.url}/work/account/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    yield "account"
    page.goto(f"{live_server.url}/work/account/delete/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    yield "account-delete"
    page.context.clear_cookies()
    log_in(page, live_server, data.newcomer)
    page.get_by_role("link", name="Start the qualification test").click()
    task_ready(page)
    expect(page.locator("#qualification-banner")).to_be_visible()
    yield "qualification"
    assert TaskAssignment.objects.filter(worker=data.newcomer.pk).exists()


def screenshot(page: Page, size: Size, name: str, fallback: Path) -> None:
    folder = Path(os.environ.get("WORKER_SCREENSHOTS") or fallback)
    if os.environ.get("WORKER_SCREENSHOTS") and not size.documented:
        return
    folder.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    path = folder / f"{name}-{size.name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide", scale="css")
    small_png(path)


def small_png(path: Path) -> None:
    """Keep a screenshot small: 256 colours (photos included) instead of 24-bit colour."""
    from PIL import Image as PILImage

    with PILImage.open(path) as picture:
        reduced = picture.convert("RGB").quantize(colors=256, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE)
    reduced.save(path, optimize=True)


# --- geometry ---------------------------------------------------------------------------------
RECT_JS = """(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height};
}"""


def overlap(a: dict, b: dict) -> float:
    """The area two rectangles share, in CSS px²."""
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return max(width, 0) * max(height, 0)


def photo_and_form_overlap(page: Page) -> float:
    return overlap(page.evaluate(RECT_JS, ".stage"), page.evaluate(RECT_JS, ".panel"))


HIT_TEST_JS = """(selector) => {
  // Each visible control: scrolled to the middle of the screen, then asked what is at its centre.
  const misses = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    const ok = hit === el || el.contains(hit) || (hit && hit.control === el);
    if (!ok) misses.push(`${el.id || el.name || el.textContent.trim().slice(0, 30)} at (${x|0},${y|0}) is under ` +
                         `${hit ? hit.tagName + '#' + hit.id + '.' + hit.className : 'nothing'}`);
  }
  return misses;
}"""


TARGETS_JS = """(minimum) => {
  // Every visible pointer target: buttons, form controls (a checkbox or radio with its label),
  // links styled as buttons or in navigation. Links inside running text are exempt (WCAG 2.5.8).
  const union = (rects) => rects.reduce((u, r) => ({
    left: Math.min(u.left, r.left), top: Math.min(u.top, r.top),
    right: Math.max(u.right, r.right), bottom: Math.max(u.bottom, r.bottom)}));
  const small = [];
  const seen = new Set();
  const controls = document.querySelectorAll(
    'button, input:not([type=hidden]), select, textarea, a.button, nav a, [role=button], summary');
  for (const el of controls) {
    if (!el.getClientRects().length || el.closest('dialog:not([open]), [hidden]')) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    let rects = [el.getBoundingClientRect()];
    if (el.labels) for (const label of el.labels) rects.push(label.getBoundingClientRect());
    const u = union(rects);
    const w = u.right - u.left, h = u.bottom - u.top;
    const key = el.id || (el.name ? `${el.name}=${el.value}` : el.textContent.trim().slice(0, 25));
    const name = `${el.tagName.toLowerCase()}#${key}`;
    if (seen.has(name)) continue;
    seen.add(name);
    if (w < minimum - 0.5 || h < minimum - 0.5) small.push(`${name} ${w.toFixed(1)}x${h.toFixed(1)}`);
  }
  return small;
}"""


def small_targets(page: Page, size: Size) -> list[str]:
    return page.evaluate(TARGETS_JS, size.min_target)


def hit_test_misses(page: Page, selector: str) -> list[str]:
    return page.evaluate(HIT_TEST_JS, selector)


def in_viewport(page: Page, selector: str) -> bool:
    """Whether the element lies wholly on screen and is what a click at its centre reaches."""
    return page.evaluate(
        """(selector) => {
          const el = document.querySelector(selector);
          const r = el.getBoundingClientRect();
          if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return false;
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          return hit === el || el.contains(hit);
        }""",
        selector,
    )


def visible_share(page: Page, selector: str) -> float:
    """The share of the element's area that is inside the viewport."""
    return page.evaluate(
        """(selector) => {
          const r = document.querySelector(selector).getBoundingClientRect();
          const w = Math.min(r.right, innerWidth) - Math.max(r.left, 0);
          const h = Math.min(r.bottom, innerHeight) - Math.max(r.top, 0);
          return r.width * r.height ? Math.max(w, 0) * Math.max(h, 0) / (r.width * r.height) : 0;
        }""",
        selector,
    )
