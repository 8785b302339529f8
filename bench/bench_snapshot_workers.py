"""A snapshot's npy arrays built by real Celery workers: 1 and 2 worker processes (run by hand, never by CI).

Photo-like JPEGs with their people (``bench_export.make_photos``, cached under
``var/bench/``) become images, people and accepted annotations in a PostgreSQL
database of their own, their files in a media folder of their own. Each round
starts a real Celery worker (prefork, ``--concurrency N``) on a Redis broker,
queues one snapshot build (``formats=npy``) and times it from the queueing to
the row marked complete; the worker's log gives the phases (files written,
archived, uploaded) and how many shards the helpers made. Variants, interleaved
round by round:

- ``builder alone``: concurrency 1, ``EXPORT_ARRAY_HELPERS=0`` (no shards: how a
  build ran before shards; a Celery worker's process cannot fork a pool);
- ``shards, N process(es)``: concurrency N, helpers queued beside the builder.

    .venv/bin/python bench/bench_snapshot_workers.py --images 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.bench_export import make_photos, random_categories  # noqa: E402
from bench.databases import local_database_url, recreate_database, start_django  # noqa: E402

PHASES = re.compile(r"files written in ([\d.]+) s, archived in ([\d.]+) s, uploaded in ([\d.]+) s")
HELPED = re.compile(r"train arrays in (\d+) shards, (\d+) made by helpers; the builder made \d+ in ([\d.]+) s, "
                    r"copied the helpers' in ([\d.]+) s, waited ([\d.]+) s")


def fill(photos: list[dict], folder: Path, media: Path) -> int:
    """Images (their files hard-linked into the media folder), people and one accepted answer each; returns people."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from annotator.models import EmotionAnnotation, Person, Worker
    from catalog.models import Image, Source
    from emotic.taxonomy import categories_to_mask

    rng = np.random.default_rng(0)
    (media / "bench").mkdir(parents=True, exist_ok=True)
    source = Source.objects.create(kind="bundled", name="bench_snapshot_workers")
    worker = Worker.objects.create(user=get_user_model().objects.create(username="bench-worker", password="!"), qualification="qualified")
    rows = []
    for k, entry in enumerate(photos):
        os.link(folder / entry["filename"], media / "bench" / entry["filename"])
        rows.append(Image(source=source, storage_key=f"bench/{entry['filename']}", sha256=f"{k:064x}", phash="0" * 16,
                          width=entry["width"], height=entry["height"], format="JPEG", original_database="web",
                          folder="web/images", filename=entry["filename"], fetched_at=timezone.now(), split="train",
                          boxes_confirmed=True))
    images = Image.objects.bulk_create(rows, batch_size=5000)
    people = Person.objects.bulk_create(
        [Person(image=image, x1=b[0], y1=b[1], x2=b[2], y2=b[3], image_width=image.width, image_height=image.height,
                box_origin="imported") for image, entry in zip(images, photos) for b in entry["boxes"]],
        batch_size=5000,
    )
    EmotionAnnotation.objects.bulk_create(
        [EmotionAnnotation(person=person, worker=worker, categories_mask=categories_to_mask(random_categories(rng)),
                           valence=int(rng.integers(1, 11)), arousal=int(rng.integers(1, 11)), dominance=int(rng.integers(1, 11)),
                           gender="Male", age="Adult", status="accepted", seconds_spent=20.0) for person in people],
        batch_size=5000,
    )
    return len(people)


def build_on_a_worker(name: str, environment: dict, concurrency: int, log_path: Path) -> dict:
    """Start a worker, queue the build, wait for it; the worker's startup is not timed."""
    from emotic_export.models import DatasetSnapshot
    from emotic_export.services import ExportOptions, create_snapshot
    from emotic_export.tasks import build_snapshot_task

    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "celery", "--pool", "prefork",
               f"--concurrency={concurrency}", "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"]
    with log_path.open("w") as log:
        worker = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while " ready." not in log_path.read_text():
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise SystemExit(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            snapshot = create_snapshot(name=name, options=ExportOptions(formats=("npy",)))
            start = time.perf_counter()
            build_snapshot_task.delay(snapshot.pk)
            while DatasetSnapshot.objects.filter(pk=snapshot.pk, state__in=["pending", "building"]).exists():
                time.sleep(0.05)
            seconds = time.perf_counter() - start
        finally:
            worker.terminate()
            worker.wait(60)
    snapshot.refresh_from_db()
    text = log_path.read_text()
    if snapshot.state != "complete":
        raise SystemExit(f"{name}: {snapshot.state} {snapshot.error}\n{text[-3000:]}")
    phases = [float(v) for v in PHASES.search(text).groups()]
    helped = HELPED.search(text)
    shards, by_helpers, making, copying, waiting = (float(v) for v in helped.groups()) if helped else (0, 0, 0, 0, 0)
    return {"seconds": seconds, "written": phases[0], "archived": phases[1], "uploaded": phases[2], "shards": int(shards),
            "by_helpers": int(by_helpers), "making": making, "copying": copying, "waiting": waiting}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--photo-sides", default="640,640", help="smallest and largest long side of the JPEGs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", default="1,2", help="worker processes (concurrency) with shards, comma-separated")
    parser.add_argument("--database", default="bench_snapshot_workers")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()

    sides = tuple(int(v) for v in args.photo_sides.split(","))
    photos_folder = REPO / "var" / "bench" / f"photos-{sides[0]}-{sides[1]}"
    photos = make_photos(photos_folder, args.images, 0, sides)
    url = recreate_database(local_database_url(args.database))
    work = Path(tempfile.mkdtemp(prefix="bench-snapshot-workers-", dir=REPO / "var" / "bench"))
    media, exports = work / "media", work / "exports"
    exports.mkdir(parents=True)
    os.environ.update({"MEDIA_ROOT": str(media), "EXPORT_WORK_DIR": str(exports), "CELERY_BROKER_URL": args.broker, "CACHE_URL": ""})
    start_django(url, broker_url=args.broker)
    import redis

    redis.Redis.from_url(args.broker).flushdb()
    people = fill(photos, photos_folder, media)
    print(f"{len(photos)} photos ({args.photo_sides} px long side), {people} people; broker {args.broker}", flush=True)
    base = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "INFO"}
    variants = [("builder alone", 1, {"EXPORT_ARRAY_HELPERS": "0"})]
    variants += [(f"shards, {n} process{'es' if n > 1 else ''}", n, {}) for n in (int(v) for v in args.processes.split(","))]
    results: dict[str, list[dict]] = {label: [] for label, _, _ in variants}
    try:
        for round_number in range(args.rounds):
            for k, (label, concurrency, extra) in enumerate(variants):
                name = f"bench-r{round_number}-v{k}"
                result = build_on_a_worker(name, {**base, **extra}, concurrency, work / f"{name}.log")
                results[label].append(result)
                print(f"  round {round_number + 1} {label:<22} {result['seconds']:6.2f} s "
                      f"({people / result['seconds']:7.1f} people/s; files {result['written']:.2f} s, archive "
                      f"{result['archived']:.2f} s, upload {result['uploaded']:.2f} s; {result['by_helpers']} of "
                      f"{result['shards']} shards by helpers; builder making {result['making']:.2f} s, copying "
                      f"{result['copying']:.2f} s, waiting {result['waiting']:.2f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = statistics.median(r["seconds"] for r in results[variants[0][0]])
    print(f"\nmedians of {args.rounds} round(s), {people} people, whole build from queueing to complete:")
    for label, _, _ in variants:
        seconds = statistics.median(r["seconds"] for r in results[label])
        written = statistics.median(r["written"] for r in results[label])
        print(f"  {label:<22} {seconds:6.2f} s  {people / seconds:7.1f} people/s  {first / seconds:4.2f}x"
              f"   files written {written:6.2f} s ({people / written:7.1f} people/s)")


if __name__ == "__main__":
    main()
