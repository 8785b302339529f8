"""How fast the researcher API pages through answers; prints the figures (run by hand, never by CI).

A synthetic crowd is bulk-inserted into its own PostgreSQL database, created
here: ``--workers`` workers, ``--people`` people in images split 70/10/20, each
person answered by 3 workers. Then, in process (Django's test client, no
network), it times:

- every answer, page after page (``page_size=1000``), with pseudonyms (scope
  read) and with real ids (scope identify): pages a second, answers a second,
  and the queries one page makes;
- one filter by a worker's pseudonym (a keyed hash of every worker's id is
  compared: it grows with the number of workers);
- every person's agreement row, page after page.

    .venv/bin/python bench/bench_research_api.py                       # 30,000 people, 2,000 workers
    .venv/bin/python bench/bench_research_api.py --people 3000 --workers 300
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.databases import drop_database, local_database_url, recreate_database, start_django  # noqa: E402

ANSWERS_PER_PERSON = 3
PEOPLE_PER_IMAGE = 2


def fill(people: int, workers: int) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotator.models import EmotionAnnotation, Person, Worker
    from catalog.models import Image, Source

    now = timezone.now()
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-worker-{n}", password="!") for n in range(workers)], batch_size=5000)
    crowd = Worker.objects.bulk_create([Worker(user=u, qualification="qualified") for u in users], batch_size=5000)
    source = Source.objects.create(kind="folder", name="bench")
    images = Image.objects.bulk_create([
        Image(source=source, storage_key=f"bench/{n}.jpg", sha256=hashlib.sha256(str(n).encode()).hexdigest(),
              phash="0" * 16, width=640, height=480, format="JPEG", original_database="web", filename=f"{n}.jpg",
              fetched_at=now, split=("train", "train", "train", "train", "train", "train", "train", "val", "test", "test")[n % 10],
              boxes_confirmed=True)
        for n in range(people // PEOPLE_PER_IMAGE)], batch_size=5000)
    rows = Person.objects.bulk_create([
        Person(image=images[n // PEOPLE_PER_IMAGE], x1=10 + 300 * (n % 2), y1=10, x2=300 + 300 * (n % 2), y2=470,
               image_width=640, image_height=480, box_origin="imported")
        for n in range(len(images) * PEOPLE_PER_IMAGE)], batch_size=5000)
    EmotionAnnotation.objects.bulk_create([
        EmotionAnnotation(person=person, worker=crowd[(n * 7 + k * 13) % len(crowd)], categories_mask=1 << ((n + k) % 26),
                          valence=1 + (n + k) % 10, arousal=1 + n % 10, dominance=1 + k % 10, gender="Female", age="Adult")
        for n, person in enumerate(rows) for k in range(ANSWERS_PER_PERSON)], batch_size=10_000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would soon: without statistics the planner joins blindly


def walk(client, path: str, **params) -> tuple[int, list[float], list[int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url, rows, seconds, queries = path, 0, [], []
    while url:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            page = client.get(url, params).json()
            seconds.append(time.perf_counter() - started)
        queries.append(len(captured))
        rows += len(page["results"])
        url, params = page["next"], {}
    return rows, seconds, queries


def report(label: str, rows: int, seconds: list[float], queries: list[int]) -> None:
    total = sum(seconds)
    print(f"{label}: {rows} rows in {len(seconds)} pages, {total:.2f} s ({rows / total:,.0f} rows/s); "
          f"page p50 {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms; "
          f"queries a page {min(queries)}-{max(queries)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=2_000)
    parser.add_argument("--database", default="emotic_bench_research")
    parser.add_argument("--keep", action="store_true", help="leave the database for another run")
    args = parser.parse_args()
    url = recreate_database(local_database_url(args.database))
    started = time.perf_counter()
    start_django(url)
    fill(args.people, args.workers)
    print(f"setup: {args.people} people, {args.workers} workers, {args.people * ANSWERS_PER_PERSON} answers in "
          f"{time.perf_counter() - started:.0f} s; Python {platform.python_version()}, {platform.machine()}")

    from django.contrib.auth import get_user_model
    from django.test import Client

    from quality.services import recompute_quality
    from research_api.services import grant_research_token

    staff = get_user_model().objects.create(username="bench-researcher", is_staff=True)
    keys = {scopes: grant_research_token(staff, "bench", scopes.split())[1] for scopes in ("read", "read identify")}
    reader, identifier = (Client(HTTP_AUTHORIZATION=f"Token {keys[s]}") for s in ("read", "read identify"))
    api = "/api/research/v1/"
    report("answers, pseudonymised", *walk(reader, f"{api}answers/", page_size=1000))
    report("answers, real ids", *walk(identifier, f"{api}answers/", page_size=1000))
    report("answers, counted only", *walk(reader, f"{api}answers/", page_size=1000, counted="true"))
    first = reader.get(f"{api}answers/", {"page_size": 1}).json()["results"][0]["worker"]
    times = []
    for _ in range(5):
        begin = time.perf_counter()
        found = walk(reader, f"{api}answers/", page_size=1000, worker=first)[0]
        times.append(time.perf_counter() - begin)
    print(f"answers of one worker by pseudonym ({args.workers} workers hashed): {found} rows, "
          f"p50 {statistics.median(times) * 1000:.0f} ms")
    begin = time.perf_counter()
    recompute_quality("command")
    print(f"(quality recomputation for the agreement rows: {time.perf_counter() - begin:.1f} s)")
    report("agreement per person", *walk(reader, f"{api}agreement/people/", page_size=1000))
    report("people", *walk(reader, f"{api}people/", page_size=1000))
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    main()
