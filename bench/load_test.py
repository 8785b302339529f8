"""Load test: 50 simulated crowd workers for 60 seconds against gunicorn, then a check of every answer in the database.

Run by hand (never in CI):

    .venv/bin/python bench/load_test.py --workers 50 --seconds 60

It recreates the PostgreSQL database named by ``--database-url``, fills it with
``--people`` people (splits 70/10/20, so 1, 5 or 3 annotators each, as
EMOTIC), starts a private redis-server on loopback (broker and cache, so the
throttles run as in production), and serves the app with gunicorn as
docker-compose does. Half the workers log in through the log-in page and use
the session with its CSRF token, as the annotation page does; the other half
use API tokens. Each loops: GET /api/tasks/next/, POST the answer; every tenth
answer is sent twice (a retry after a lost response). The pool is sized to
run dry near the end, where over-allocation would show.

It prints requests per second and p50/p95/p99 latency per endpoint, then
verifies from the database that every acknowledged answer is stored exactly
once, that no worker got a person twice and that no person got more
annotators than its split needs; it exits non-zero when a check fails.
(bench/bench_assignment.py measures the cycle against 100,000 people and a
trivial view; this script adds the checks, sessions with CSRF, and Redis.)
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from bench.databases import recreate_database  # noqa: E402

from bench_assignment import ANSWER, SPLITS_70_10_20, report, serve  # noqa: E402

PASSWORD = secrets.token_urlsafe(16)  # of the throwaway workers in the throwaway database, made per run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/emotic_load")
    parser.add_argument("--people", type=int, default=650, help="sized so the pool runs dry near the end on a 2-core machine")
    parser.add_argument("--workers", type=int, default=50, help="concurrent simulated workers")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--gunicorn-workers", type=int, default=4, help="as docker-compose runs it")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    if min(args.people, args.workers) < 1 or args.seconds <= 0:
        parser.error("--people, --workers and --seconds must be positive")
    return args


def start_redis() -> tuple[subprocess.Popen, int]:
    import socket

    import redis

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return server, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def prepare(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Migrate, fill the pool, make the workers; return their usernames and API keys."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from annotator.models import Person, Worker
    from catalog.models import Image
    from annotator.services.workers import create_api_token
    from catalog.models import Source

    call_command("migrate", verbosity=0, interactive=False)
    source = Source.objects.create(kind="url_list", name="load test", location="bench")
    now = timezone.now()
    images = Image.objects.bulk_create(
        Image(source=source, storage_key=f"load/{i}.jpg", sha256=f"{i:064x}", phash="0" * 16, width=640, height=480,
              format="JPEG", original_database="web", filename=f"{i}.jpg", fetched_at=now,
              split=SPLITS_70_10_20[i % 10], boxes_confirmed=True)
        for i in range((args.people + 1) // 2)
    )
    Person.objects.bulk_create(
        Person(image=image, x1=x, y1=40, x2=x + 150, y2=440, image_width=640, image_height=480, box_origin="imported")
        for image in images for x in (50, 350)
    )
    password_hash = make_password(PASSWORD)  # hashed once: the hasher is slow on purpose
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"load-worker-{n}", password=password_hash) for n in range(args.workers)
    )
    names, keys = [], []
    for user in users:
        worker = Worker.objects.create(user=user, qualification="qualified", qualified_at=now)
        names.append(user.username)
        keys.append(create_api_token(worker, "load test")[1])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return names, keys


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = {}
        self.statuses: Counter = Counter()
        self.acknowledged: list[tuple[str, int, str]] = []  # (worker, task id, submission id)
        self.resends_not_stored_again = 0
        self.resends = 0

    def merge(self, timings, statuses, acknowledged, resends, resends_ok) -> None:
        with self.lock:
            for name, values in timings.items():
                self.timings.setdefault(name, []).extend(values)
            self.statuses.update(statuses)
            self.acknowledged.extend(acknowledged)
            self.resends += resends
            self.resends_not_stored_again += resends_ok


def session_for(base: str, username: str, key: str, use_token: bool, verify: str | bool = True):
    import requests

    session = requests.Session()
    session.verify = verify  # the CA of a proxy's certificate (bench/bench_faults.py), or the system's
    session.trust_env = verify is True  # else REQUESTS_CA_BUNDLE from the environment would win over it
    if use_token:
        session.headers["Authorization"] = f"Token {key}"
        return session
    form = session.get(f"{base}/accounts/login/")
    if "csrftoken" not in session.cookies:
        raise SystemExit(f"the log-in page gave no CSRF cookie: {form.status_code} {form.headers} {form.text[:300]}")
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base}/accounts/login/"}, allow_redirects=False,
    )
    if response.status_code != 302:
        raise SystemExit(f"log-in failed for {username}: {response.status_code}")
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]  # rotated at log-in
    session.headers["Referer"] = f"{base}/work/annotate/"
    return session


def simulated_worker(base: str, session, username: str, deadline: float, results: Results) -> None:
    timings: dict[str, list[float]] = {"next": [], "submit": []}
    statuses: Counter = Counter()
    acknowledged = []
    resends = resends_ok = 0
    rng = random.Random(username)
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        response = session.get(f"{base}/api/tasks/next/")
        timings["next"].append(time.perf_counter() - started)
        statuses[f"next {response.status_code}"] += 1
        if response.status_code == 204:
            time.sleep(0.5)  # nothing to do now: the page waits before asking again
            continue
        if response.status_code != 200:
            time.sleep(0.2)
            continue
        task_id = response.json()["id"]
        body = {**ANSWER, "submission_id": str(uuid.uuid4()), "valence": rng.randint(1, 10)}
        started = time.perf_counter()
        response = session.post(f"{base}/api/tasks/{task_id}/submit/", json=body)
        timings["submit"].append(time.perf_counter() - started)
        statuses[f"submit {response.status_code}"] += 1
        if response.status_code in (200, 201):
            acknowledged.append((username, task_id, body["submission_id"]))
            if rng.random() < 0.1:  # the answer's response was lost: the page sends it again
                resends += 1
                again = session.post(f"{base}/api/tasks/{task_id}/submit/", json=body)
                statuses[f"resubmit {again.status_code}"] += 1
                resends_ok += again.status_code == 200 and again.json().get("stored") is False
    results.merge(timings, statuses, acknowledged, resends, resends_ok)


def verify(results: Results) -> list[str]:
    """Every check from the database; returns the failures (empty: all hold)."""
    from django.db import connection
    from django.db.models import Count

    from annotator.models import EmotionAnnotation, Person, TaskAssignment

    connection.close()
    problems = [] if results.acknowledged else ["no answer was acknowledged: the run did no work"]
    acknowledged_ids = {uuid.UUID(s) for _, _, s in results.acknowledged}
    if len(acknowledged_ids) != len(results.acknowledged):
        problems.append("a submission id was acknowledged for two different answers")
    stored = {
        row["submission_id"]: row
        for row in EmotionAnnotation.objects.values("submission_id", "assignment_id", "worker__user__username")
    }
    missing = acknowledged_ids - set(stored)
    if missing:
        problems.append(f"{len(missing)} acknowledged answers are not stored")
    for username, task_id, submission_id in results.acknowledged:
        row = stored.get(uuid.UUID(submission_id))
        if row and (row["assignment_id"] != task_id or row["worker__user__username"] != username):
            problems.append(f"answer {submission_id} is stored on the wrong task or worker")
            break
    duplicates = EmotionAnnotation.objects.values("submission_id").annotate(n=Count("id")).filter(n__gt=1).count()
    if duplicates:
        problems.append(f"{duplicates} submission ids stored more than once")
    unacknowledged = len(set(stored) - acknowledged_ids)
    twice = TaskAssignment.objects.values("worker", "person").annotate(n=Count("id")).filter(n__gt=1).count()
    twice += EmotionAnnotation.objects.values("worker", "person").annotate(n=Count("id")).filter(n__gt=1).count()
    if twice:
        problems.append(f"{twice} (worker, person) pairs were given or answered twice")
    from annotator.protocol import protocol_in_force

    protocol = protocol_in_force()
    per_split = protocol.annotators_per_split
    over = 0
    counts = list(Person.objects.annotate(answers=Count("annotations")).values_list("image__split", "answers"))
    for split, answers in counts:
        if answers > per_split.get(split, protocol.annotators_unsplit):
            over += 1
    if over:
        problems.append(f"{over} people have more annotators than their split needs")
    full = sum(1 for split, answers in counts if answers == per_split.get(split, protocol.annotators_unsplit))
    print(f"\nstored answers: {len(stored)} ({len(acknowledged_ids)} acknowledged, {unacknowledged} stored whose "
          f"response the client never saw); resent answers: {results.resends}, answered 'already stored': "
          f"{results.resends_not_stored_again}; people fully annotated: {full} of {len(counts)}")
    if results.resends_not_stored_again != results.resends:
        problems.append("a resent answer was not answered 'already stored'")
    return problems


def main() -> None:
    args = parse_args()
    redis_server, redis_port = start_redis()
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": args.database_url,
        "DEBUG": "false",
        "DATABASE_CONN_MAX_AGE": "60",
        "GOLD_RATE": "0",  # no hidden controls: every answer is a real one the checks can count
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CACHE_URL": f"redis://127.0.0.1:{redis_port}/1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    })
    try:
        recreate_database(args.database_url)
        names, keys = prepare(args)
        server = serve(args)
        base = f"http://127.0.0.1:{args.port}"
        results = Results()
        try:
            # Log-ins first (the password hasher is slow on purpose), then the clock starts.
            sessions = [session_for(base, name, key, n % 2 == 1) for n, (name, key) in enumerate(zip(names, keys, strict=True))]
            deadline = time.perf_counter() + args.seconds
            threads = [
                threading.Thread(target=simulated_worker, args=(base, session, name, deadline, results))
                for session, name in zip(sessions, names, strict=True)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"{args.workers} workers ({args.workers - args.workers // 2} session + CSRF, {args.workers // 2} API token), "
              f"{args.people} people, gunicorn x{args.gunicorn_workers}, {elapsed:.0f} s")
        total = sum(len(v) for v in results.timings.values()) + results.resends
        print(f"requests: {total} ({total / elapsed:.1f}/s); answers acknowledged: {len(results.acknowledged)} "
              f"({len(results.acknowledged) / elapsed:.1f}/s)")
        for name in ("next", "submit"):
            if results.timings.get(name):
                report(name, results.timings[name], elapsed)
        print("statuses:", dict(sorted(results.statuses.items())))
        problems = verify(results)
    finally:
        redis_server.kill()
    print("checks:", "all hold" if not problems else "FAILED")
    for problem in problems:
        print("  -", problem)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
