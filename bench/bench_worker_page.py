"""The worker's wait between tasks, measured in Chromium: submit to the next task ready for input.

For each checkout given (this one by default, and e.g. ``--baseline-ref main``,
exported with ``git archive`` into a temporary folder), the script makes a fresh
SQLite database and media folder with demo-like data (the demo's photos plus
``--photos`` 1280x960 JPEGs of about 270 KB, each four random crops of the
demo's photos, one person each, every person needing one answer; the demo's
own photos are left out of the pool, as their first task is a boxes task), starts that checkout's server (``runserver
--insecure``, DEBUG off) and drives Debian's Chromium through Playwright as a
qualified worker: it answers ``--answers`` tasks by keyboard, waiting
``--think`` seconds on each as a worker would, and measures in the page, from
the click on Submit to the moment the next task is ready for input (the page
sets ``data-task-id`` on its workspace once the photo is decoded and the form
reset).

Two network profiles: unthrottled (loopback), and Chromium's "Slow 4G" preset
through the DevTools protocol (``Network.emulateNetworkConditions``: 562.5 ms
latency, 1.44 Mbit/s down, 675 kbit/s up: DevTools' own figures, 150 ms RTT x
3.75, 1.6 Mbit/s x 0.9, 750 kbit/s x 0.9). It also reports the task page's
weight (every byte the page loads before its first task is ready, photo
excluded), the photo's bytes, and the worker API requests per answer.

    .venv/bin/python bench/bench_worker_page.py --baseline-ref main
    .venv/bin/python bench/bench_worker_page.py --checkout /path/to/other/checkout --answers 20
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SLOW_4G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.6e6 * 0.9 / 8, "uploadThroughput": 750e3 * 0.9 / 8}
PASSWORD = secrets.token_urlsafe(12)  # the demo accounts' password in this run

SETUP = textwrap.dedent(
    """
    import io, json, random, sys
    from django.utils import timezone
    from PIL import Image as PILImage, ImageOps
    from django.contrib.auth import get_user_model
    from annotator.models import Worker
    from annotator.services.intake import receive_image
    from catalog.ingest import ingest_image_bytes
    from catalog.sources import bundled_source
    from catalog.splits import fix_splits
    from demo.loader import load_demo_data

    load_demo_data(password=sys.argv[1])
    Worker.objects.filter(user__username="worker1").update(qualification="qualified", qualified_at=timezone.now())
    # The demo's own photos start with boxes tasks: withdrawn, so every measured task is an emotions task.
    from catalog.models import Image
    Image.objects.filter(source__name="Bundled demo photos").update(reported_count=1000)
    source = bundled_source("Benchmark photos")
    rng = random.Random(14)
    originals = ["astronaut-eileen-collins.png", "cameraman.png", "grace-hopper.jpg", "coffee.png"]
    photos = [PILImage.open(f"demo/photos/{name}").convert("RGB") for name in originals]
    for n in range(int(sys.argv[2])):
        # A 1280x960 photo of real texture: four random crops of the demo's photos, about 270 KB as JPEG.
        picture = PILImage.new("RGB", (1280, 960))
        for i in range(4):
            src = rng.choice(photos)
            w = rng.randrange(280, min(src.size) + 1)
            h = int(w * 0.75)
            x, y = rng.randrange(0, src.size[0] - w + 1), rng.randrange(0, src.size[1] - h + 1)
            tile = src.crop((x, y, x + w, y + h)).resize((640, 480), PILImage.Resampling.LANCZOS)
            if rng.random() < 0.5:
                tile = ImageOps.mirror(tile)
            picture.paste(tile, ((i % 2) * 640, (i // 2) * 480))
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=92)
        result = ingest_image_bytes(buffer.getvalue(), source=source, filename=f"bench-{n}.jpg",
                                    original_database="bench", folder="bench/images", source_url="",
                                    source_record=f"bench {n}", license="CC0",
                                    people_boxes=[(300, 200, 700, 900)])
        if result.image is None:
            raise SystemExit(f"bench photo {n} refused: {result.reason}")
        receive_image(result.image, result.people_boxes, boxes_final=True)
        fix_splits([result.image.pk], "train")
    print(json.dumps({"ok": True}))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_ref(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(HERE), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


class Server:
    """One checkout's server on a fresh SQLite database and media folder."""

    def __init__(self, checkout: Path, workdir: Path, photos: int):
        self.checkout = checkout
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "MEDIA_ROOT": str(workdir / "media"),
            "CELERY_BROKER_URL": "memory://",
            "CACHE_URL": "",
            "DEBUG": "false",
            "SECRET_KEY": "bench-worker-page-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1",
            "GOLD_RATE": "0",
            "ANNOTATORS_PER_TRAIN": "1", "ANNOTATORS_PER_VAL": "1", "ANNOTATORS_PER_TEST": "1",
            "API_THROTTLE_WORKER": "100000/minute",
            "LOGIN_ATTEMPTS_PER_SECOND": "100",
        }
        self.env.pop("REDIS_URL", None)
        python = sys.executable
        run = dict(cwd=checkout, env=self.env, check=True, capture_output=True, text=True)
        subprocess.run([python, "manage.py", "migrate", "--noinput"], **run)
        setup = subprocess.run([python, "-c", "import django; django.setup(); exec(open(0).read())", PASSWORD,
                                str(photos)], input=SETUP, **{**run, "check": False})
        if setup.returncode:
            raise SystemExit(f"loading the data into {checkout} failed:\n{setup.stderr}")
        self.log = workdir / "server.log"
        self.process = subprocess.Popen(
            [python, "manage.py", "runserver", "--insecure", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=checkout, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        for _ in range(600):
            if self.process.poll() is not None:
                raise SystemExit(f"the server of {checkout} stopped:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


FILL = ["/", *"hap", "Enter", "Escape", *"748", "f", "a"]

OBSERVE = """() => {
  window.readyAt = [];
  const workspace = document.getElementById("workspace");
  new MutationObserver(() => {
    if (workspace.dataset.taskId) window.readyAt.push([workspace.dataset.taskId, performance.now()]);
  }).observe(workspace, { attributes: true, attributeFilter: ["data-task-id"] });
}"""


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(browser, server: Server, answers: int, think: float, throttle: dict | None) -> dict:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    sizes: dict[str, dict] = {}
    cdp.on("Network.responseReceived", lambda e: sizes.setdefault(e["requestId"], {}).update(url=e["response"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.setdefault(e["requestId"], {}).update(bytes=e["encodedDataLength"]))
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)

    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill("worker1")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/work/")
    if throttle:
        cdp.send("Network.emulateNetworkConditions", throttle)
    sizes.clear()
    page.goto(f"{server.url}/work/annotate/")
    page.wait_for_selector("#workspace[data-task-id]", timeout=60_000)
    page.wait_for_load_state("networkidle")
    photo_urls = ("/api/images/", "/image/")
    first_load = [s for s in sizes.values() if "bytes" in s]
    weight = sum(s["bytes"] for s in first_load if not any(p in s["url"] for p in photo_urls))
    current = page.locator("#workspace").get_attribute("data-task-id")
    page_photo = [s["bytes"] for s in first_load if any(p in s["url"] for p in photo_urls)]
    page.evaluate(OBSERVE)
    api_calls.clear()
    waits = []
    for _ in range(answers):
        for key in FILL:
            page.keyboard.press(key)
        time.sleep(think)  # the worker answering: what the page may use to load ahead
        started = page.evaluate("() => { const t = performance.now(); document.getElementById('submit-button').click(); return t; }")
        page.wait_for_function(
            "(id) => document.getElementById('workspace').dataset.taskId && document.getElementById('workspace').dataset.taskId !== id",
            arg=current, timeout=60_000,
        )
        current = page.locator("#workspace").get_attribute("data-task-id")
        ready = [t for task_id, t in page.evaluate("window.readyAt") if task_id == current]
        waits.append(ready[-1] - started)
    page.wait_for_load_state("networkidle")
    calls = len(api_calls)
    context.close()
    return {
        "median_ms": round(statistics.median(waits)),
        "p90_ms": round(percentile(waits, 0.9)),
        "max_ms": round(max(waits)),
        "page_weight_kb": round(weight / 1024, 1),
        "photo_kb": [round(b / 1024, 1) for b in page_photo],
        "api_requests_per_answer": round(calls / answers, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", action="append", default=[], help="a checkout to measure (default: this one)")
    parser.add_argument("--baseline-ref", help="also measure this git ref of this repository (e.g. main)")
    parser.add_argument("--answers", type=int, default=12, help="answers per profile (default 12)")
    parser.add_argument("--think", type=float, default=3.0, help="seconds spent on each task before Submit")
    parser.add_argument("--photos", type=int, default=40, help="synthetic photos besides the demo's")
    args = parser.parse_args()
    if args.answers * 2 + 2 > args.photos:
        parser.error(f"--photos: must be at least twice --answers plus 2 (every answer uses a person), got {args.photos}")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-worker-page-") as tmp:
        checkouts = [(Path(c).resolve().name, Path(c).resolve()) for c in args.checkout] or [("this checkout", HERE)]
        if args.baseline_ref:
            checkouts.insert(0, (args.baseline_ref, export_ref(args.baseline_ref, Path(tmp) / "baseline")))
        results = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"]
            )
            for name, checkout in checkouts:
                workdir = Path(tmp) / f"run-{len(results)}"
                workdir.mkdir()
                server = Server(checkout, workdir, args.photos)
                try:
                    results[name] = {
                        "unthrottled": measure(browser, server, args.answers, args.think, None),
                        "slow 4G": measure(browser, server, args.answers, args.think, SLOW_4G),
                    }
                finally:
                    server.stop()
            browser.close()
    print(f"submit to next task ready, {args.answers} answers per profile, {args.think} s on each task; "
          "Slow 4G = 562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up")
    for name, profiles in results.items():
        for profile, figures in profiles.items():
            print(f"{name:>16} {profile:>12}: median {figures['median_ms']:>5} ms  p90 {figures['p90_ms']:>5} ms  "
                  f"max {figures['max_ms']:>5} ms  page {figures['page_weight_kb']:>6} KB (photo excluded)  "
                  f"photo {figures['photo_kb']} KB  API requests/answer {figures['api_requests_per_answer']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
