"""Benchmark: what reading the protocol from the database costs the task cycle (issue 18).

Run by hand (never in CI):

    .venv/bin/python bench/bench_protocol.py --people 2000 --cycles 300

On a throwaway database (``--database-url``, recreated) it makes ``--people``
people (train split, one annotator each, boxes final) and one qualified
worker, then runs ``--cycles`` next-task + submit cycles through the services,
counting the SQL statements of each call and timing them; then it times
``protocol_in_force()`` alone. The statement counts do not depend on the
machine's load; the times do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.databases import drop_database, local_database_url, recreate_database, start_django  # noqa: E402

ANSWER = {"categories": ["Engagement"], "valence": 6, "arousal": 5, "dominance": 6, "gender": "Female", "age": "Adult"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=local_database_url("emotic_bench_protocol"))
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    # The protocol's defaults, from the environment as a new installation reads them (the same on a tree
    # from before the protocol was versioned, to compare): one annotator per train person, no controls.
    os.environ.update(ANNOTATORS_PER_TRAIN="1", GOLD_RATE="0")
    start_django(recreate_database(args.database_url))

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from annotator.models import Person, Worker
    from annotator.services.assignment import next_task
    from annotator.services.submission import submit_task
    from catalog.models import Image, Source

    try:
        from annotator.protocol import protocol_in_force
    except ImportError:  # a tree from before the protocol was versioned
        protocol_in_force = None
    source = Source.objects.create(kind="url_list", name="bench", location="https://example.org/list.txt")
    images = Image.objects.bulk_create(
        Image(source=source, storage_key=f"bench/{i}.jpg", sha256=f"{i:064x}", phash="0" * 16, width=640, height=480,
              format="JPEG", original_database="web", filename=f"{i}.jpg", fetched_at=timezone.now(), split="train",
              boxes_confirmed=True)
        for i in range(args.people)
    )
    Person.objects.bulk_create(
        Person(image=image, x1=10, y1=10, x2=300, y2=400, image_width=640, image_height=480, box_origin="imported")
        for image in images
    )
    user = get_user_model().objects.create_user("bench-worker", password="x")
    worker = Worker.objects.create(user=user, qualification="qualified")

    counts = {"next_task": [], "submit_task": []}
    times = {"next_task": [], "submit_task": []}
    for _ in range(args.cycles):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            task = next_task(worker).task
            times["next_task"].append(time.perf_counter() - started)
        counts["next_task"].append(len(queries))
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
            times["submit_task"].append(time.perf_counter() - started)
        counts["submit_task"].append(len(queries))
    reads = []
    for _ in range(1000 if protocol_in_force else 0):
        started = time.perf_counter()
        protocol_in_force()
        reads.append(time.perf_counter() - started)

    print(f"people {args.people}, cycles {args.cycles}")
    for name in ("next_task", "submit_task"):
        ms = sorted(t * 1000 for t in times[name])
        print(f"{name}: SQL statements median {statistics.median(counts[name]):.0f} (min {min(counts[name])}, "
              f"max {max(counts[name])}); p50 {ms[len(ms) // 2]:.2f} ms, p95 {ms[int(len(ms) * 0.95)]:.2f} ms")
    if reads:
        us = sorted(t * 1e6 for t in reads)
        print(f"protocol_in_force(): 1 SQL statement; p50 {us[500]:.0f} us, p95 {us[950]:.0f} us over 1000 calls")
    if not args.keep:
        connection.close()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
