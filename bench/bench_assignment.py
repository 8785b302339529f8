"""Benchmark: the next-task + submit cycle under concurrent workers, against gunicorn and PostgreSQL.

Run by hand (never in CI):

    .venv/bin/python bench/bench_assignment.py --people 100000 --workers 20 --seconds 30

It creates (or reuses) the database named by ``--database-url``, fills it with
``--people`` people (two per image, splits 70/10/20, boxes final), clears
earlier runs' tasks, serves the app with gunicorn, and lets ``--workers``
simulated workers (threads with API tokens) loop GET /api/tasks/next/ then
POST /api/tasks/<id>/submit/ (with ``--think-ms``, pausing between cycles as a
person looking at the next image does). It prints assignments per second and the
p50/p95/p99 latencies of each request and of the whole cycle, then the same
for a trivial JSON view (/healthz, one SELECT 1) served the same way, and the
ratio of the two p50s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.databases import ensure_database  # noqa: E402

BENCH_BROKER = "redis://127.0.0.1:6379/13"
SPLITS_70_10_20 = ["train"] * 7 + ["val"] + ["test"] * 2
ANSWER = {"categories": ["Engagement"], "valence": 6, "arousal": 5, "dominance": 6, "gender": "Female", "age": "Adult"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/emotic_bench")
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=20, help="concurrent simulated workers")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each phase runs")
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="mean pause of a simulated worker between cycles (uniform from half to one and a half times it); "
        "0, the default, is a closed loop that saturates the server",
    )
    args = parser.parse_args()
    if args.people < 1 or args.workers < 1 or args.seconds <= 0:
        parser.error("--people, --workers and --seconds must be positive")
    if args.think_ms < 0:
        parser.error("--think-ms must be 0 or more")
    return args


def prepare(args: argparse.Namespace) -> list[str]:
    """Migrate, fill the pool, reset earlier runs; return one API key per simulated worker."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from annotator.models import EmotionAnnotation, Person, TaskAssignment, Worker
    from catalog.models import Image
    from annotator.services.workers import create_api_token
    from django.contrib.auth import get_user_model
    from catalog.models import Source

    call_command("migrate", verbosity=0, interactive=False)
    have = Person.objects.count()
    if have < args.people:
        started = time.perf_counter()
        source, _ = Source.objects.get_or_create(kind="url_list", name="benchmark", location="bench")
        now = timezone.now()
        images_needed = (args.people - have + 1) // 2
        first = Image.objects.count()
        for start in range(0, images_needed, 5000):
            batch = [
                Image(
                    source=source,
                    storage_key=f"bench/{first + i}.jpg",
                    sha256=f"{first + i:064x}",
                    phash="0" * 16,
                    width=640,
                    height=480,
                    format="JPEG",
                    original_database="web",
                    filename=f"{first + i}.jpg",
                    fetched_at=now,
                    split=SPLITS_70_10_20[(first + i) % 10],
                    boxes_confirmed=True,
                )
                for i in range(start, min(start + 5000, images_needed))
            ]
            images = Image.objects.bulk_create(batch)
            Person.objects.bulk_create(
                Person(image=image, x1=x, y1=40, x2=x + 150, y2=440, image_width=640, image_height=480, box_origin="imported")
                for image in images
                for x in (50, 350)
            )
        print(f"filled {Person.objects.count()} people in {time.perf_counter() - started:.1f} s", flush=True)
    TaskAssignment.objects.all().delete()
    EmotionAnnotation.objects.all().delete()
    Person.objects.update(annotation_slots_taken=0)
    keys = []
    for n in range(args.workers):
        user, _ = get_user_model().objects.get_or_create(username=f"bench-worker-{n}")
        worker, _ = Worker.objects.get_or_create(user=user)
        Worker.objects.filter(pk=worker.pk).update(qualification="qualified", is_blocked=False, tasks_submitted=0)
        worker.api_tokens.all().delete()
        keys.append(create_api_token(worker, "benchmark")[1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return keys


def serve(args: argparse.Namespace) -> subprocess.Popen:
    gunicorn = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.gunicorn_workers),
        "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(gunicorn, cwd=REPO, env=os.environ.copy())
    import requests

    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{args.port}/healthz", timeout=1).ok:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def run_phase(args, keys, cycle) -> dict[str, list[float]]:
    import requests

    deadline = time.perf_counter() + args.seconds
    timings: dict[str, list[float]] = {}
    lock = threading.Lock()

    def work(key: str) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {key}"
        mine: dict[str, list[float]] = {}
        pause = random.Random(key)
        while time.perf_counter() < deadline:
            if not cycle(session, mine):
                break
            if args.think_ms:  # a person reading the next image: the server sees an open, paced load
                time.sleep(pause.uniform(0.5, 1.5) * args.think_ms / 1000)
        with lock:
            for name, values in mine.items():
                timings.setdefault(name, []).extend(values)

    threads = [threading.Thread(target=work, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def timed(mine, name, call):
    started = time.perf_counter()
    response = call()
    mine.setdefault(name, []).append(time.perf_counter() - started)
    return response


def annotation_cycle(base: str):
    def cycle(session, mine) -> bool:
        started = time.perf_counter()
        response = timed(mine, "next", lambda: session.get(f"{base}/api/tasks/next/"))
        if response.status_code != 200:
            return False
        task_id = response.json()["id"]
        body = {**ANSWER, "submission_id": str(uuid.uuid4())}
        response = timed(mine, "submit", lambda: session.post(f"{base}/api/tasks/{task_id}/submit/", json=body))
        if response.status_code != 201:
            raise SystemExit(f"submit failed: {response.status_code} {response.text}")
        mine.setdefault("cycle", []).append(time.perf_counter() - started)
        return True

    return cycle


def trivial_cycle(base: str):
    def cycle(session, mine) -> bool:
        timed(mine, "healthz", lambda: session.get(f"{base}/healthz"))
        return True

    return cycle


def report(name: str, values: list[float], seconds: float) -> float:
    values = sorted(values)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    p50, p95, p99 = statistics.median(values), cuts[94], cuts[98]
    print(f"{name:>8}: {len(values) / seconds:8.1f}/s  p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")
    return p50


def main() -> None:
    args = parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DATABASE_CONN_MAX_AGE", "60")  # persistent connections, as in production
    os.environ["API_THROTTLE_WORKER"] = "1000000/minute"
    os.environ.setdefault("GOLD_RATE", "0")
    # Tasks that other code enqueues after each answer go to a Redis database of their own, emptied afterwards.
    os.environ.setdefault("CELERY_BROKER_URL", BENCH_BROKER)
    ensure_database(args.database_url)
    keys = prepare(args)
    server = serve(args)
    base = f"http://127.0.0.1:{args.port}"
    try:
        pacing = f", {args.think_ms:.0f} ms mean think time" if args.think_ms else ", closed loop (no think time)"
        print(f"{args.workers} workers, {args.people} people, gunicorn x{args.gunicorn_workers}, {args.seconds:.0f} s per phase{pacing}")
        cycle = run_phase(args, keys, annotation_cycle(base))
        trivial = run_phase(args, keys, trivial_cycle(base))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if os.environ["CELERY_BROKER_URL"] == BENCH_BROKER:
            import redis

            redis.Redis.from_url(BENCH_BROKER).flushdb()
    print(f"assignments per second: {len(cycle['cycle']) / args.seconds:.1f}")
    report("next", cycle["next"], args.seconds)
    report("submit", cycle["submit"], args.seconds)
    cycle_p50 = report("cycle", cycle["cycle"], args.seconds)
    trivial_p50 = report("healthz", trivial["healthz"], args.seconds)
    print(f"cycle p50 / trivial JSON view p50: {cycle_p50 / trivial_p50:.1f}")


if __name__ == "__main__":
    main()
