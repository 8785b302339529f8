"""Importing the official EMOTIC at full size: ``import_dataset --format emotic`` against PostgreSQL.

    .venv/bin/python bench/bench_import.py                    # EMOTIC's size: 23,554 images, 34,320 people
    .venv/bin/python bench/bench_import.py --scale 0.05       # a 5 % sample, same layout
    .venv/bin/python bench/bench_import.py --processes 1,2    # one job run by 1, then 2 worker processes

First it makes (once, kept under ``var/bench/``) a dataset in EMOTIC's official
layout: ``Annotations/Annotations.mat`` written by ``emotic.formats.mat`` with
the real field layout (train: one annotator per person; val and test: 3 to 5
annotators each, with combined labels), per split the images and people the
paper gives, and ``emotic/<folder>/<filename>`` beside it as synthetic
photo-like JPEGs (640 or 480 pixels on the long side, 4:3, distinct pHashes),
spread over EMOTIC's four folders of origin.

Then, for each process count, in a fresh PostgreSQL database and media folder,
it runs the import as a job and times it from the command to the last row:
with one process, as ``import_dataset`` does; with two, as two Celery workers
do with ``SCRAPER_PARALLEL_STEPS=2`` (each claims its own chunks). It prints
images and people a second, the total time, every process's peak memory and
the rows made (images, people, original answers), checked against the file.
``--storage reference`` keeps the images where they lie (``CATALOG_LOCAL_IMAGES=reference``).
Nothing here is a test: it only prints figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.bench_export import EMOTIC_SPLITS, people_per_image, random_box, random_categories  # noqa: E402
from bench.databases import drop_database, local_database_url, recreate_database  # noqa: E402
from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord  # noqa: E402
from emotic.taxonomy import AGES, GENDERS  # noqa: E402

FOLDERS = {"mscoco": "mscoco/images", "ade20k": "ade20k/images", "emodb_small": "emodb_small/images", "framesdb": "framesdb/images"}


# ---------------------------------------------------------------- the dataset
_GRAIN: dict[tuple[int, int], np.ndarray] = {}


def _jpeg(job: tuple[str, int, int, int]) -> None:
    """A photo-like JPEG: a smooth random colour field (its own pHash) with sensor grain (a JPEG's real size).

    ``bench_export.photo`` draws fresh grain per image, which costs more than
    the import of the image; here one grain tile per process is shifted by a
    random offset, which is as costly to decode and hash.
    """
    path, width, height, seed = job
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (height // 48 + 2, width // 48 + 2, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(low).resize((width, height), Image.Resampling.BICUBIC))
    if (width, height) not in _GRAIN:
        _GRAIN[width, height] = np.random.default_rng(width).integers(0, 21, (height + 64, width + 64, 3), dtype=np.uint8)
    dy, dx = (int(v) for v in rng.integers(0, 64, 2))
    pixels = np.minimum(field, 235) + _GRAIN[width, height][dy : dy + height, dx : dx + width]
    Image.fromarray(pixels).save(path, quality=88)


def _answer(rng: np.random.Generator, gender: str, age: str, per_answer: bool) -> AnnotatorAnswer:
    vad = [int(v) for v in rng.integers(1, 11, 3)]
    return AnnotatorAnswer(tuple(random_categories(rng)), *vad, *((gender, age) if per_answer else ()))


def make_dataset(root: Path, scale: float, seed: int) -> dict:
    """EMOTIC's layout under ``root`` (reused when made before with the same scale and seed); returns its counts."""
    marker = root / "made.json"
    if marker.exists():
        return json.loads(marker.read_text())
    from emotic.formats.mat import write_annotations_mat

    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    records, jobs, counts = [], [], {"images": 0, "people": 0, "answers": 0}
    for split, sizes in EMOTIC_SPLITS.items():
        n_images = max(1, round(sizes["images"] * scale))
        n_people = max(n_images, round(sizes["people"] * scale))
        low, high = sizes["annotators"]
        for k, n in enumerate(people_per_image(rng, n_images, n_people)):
            database = list(FOLDERS)[int(rng.integers(len(FOLDERS)))]
            width, height = (640, 480) if rng.random() < 0.75 else (480, 640)
            people = []
            for _ in range(int(n)):
                gender, age = GENDERS[int(rng.integers(len(GENDERS)))], AGES[int(rng.integers(len(AGES)))]
                answers = [_answer(rng, gender, age, split == "train") for _ in range(int(rng.integers(low, high + 1)))]
                categories = sorted({c for a in answers for c in a.categories})
                combined = tuple(float(np.mean([getattr(a, d) for a in answers])) for d in ("valence", "arousal", "dominance"))
                people.append(PersonRecord(random_box(rng, width, height), tuple(answers), categories, combined, gender, age))
                counts["answers"] += len(answers)
            filename = f"{split}_{k:05d}.jpg"
            records.append(ImageRecord(filename, FOLDERS[database], width, height, database, split, tuple(people)))
            jobs.append((str(root / "emotic" / FOLDERS[database] / filename), width, height, seed * 1_000_003 + len(jobs)))
            counts["images"] += 1
            counts["people"] += int(n)
    for folder in FOLDERS.values():
        (root / "emotic" / folder).mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_annotations_mat(root / "Annotations" / "Annotations.mat", records)
    with multiprocessing.Pool() as pool:
        for _ in pool.imap_unordered(_jpeg, jobs, chunksize=50):
            pass
    counts["bytes"] = sum(Path(path).stat().st_size for path, *_ in jobs)
    print(f"made the dataset under {root} in {time.perf_counter() - start:.0f} s", flush=True)
    marker.write_text(json.dumps(counts))
    return counts


# ---------------------------------------------------------------- the import
def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_job(job_id: int, report) -> None:
    """One worker process: run the job's steps until none is left (as a Celery worker's chain of steps does)."""
    from django.db import connections

    from scraper.services.jobs import advance_crawl_job

    connections.close_all()
    while (wait := advance_crawl_job(job_id)) is not None:
        if wait:
            time.sleep(wait)
    report.put(peak_rss_mib())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_import(mat: Path, processes: int) -> dict:
    from django.db import connections

    from annotator.models import EmotionAnnotation, Person
    from catalog.models import Image as ImageRow
    from scraper.models import CrawlJob
    from scraper.services.jobs import create_crawl_job

    start, cpu_before = time.perf_counter(), _children_cpu()
    job = create_crawl_job("emotic", {"path": str(mat)})
    CrawlJob.objects.filter(pk=job.pk).update(run_by_workers=processes > 1)
    connections.close_all()
    context = multiprocessing.get_context("fork")
    report = context.Queue()
    workers = [context.Process(target=_run_job, args=(job.pk, report)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    peaks = [report.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    job.refresh_from_db()
    return {
        "seconds": elapsed, "peaks_mib": peaks, "cpu_seconds": _children_cpu() - cpu_before, "state": job.state, "stored": job.stored, "rejected": job.rejected_by_reason,
        "duplicates": job.exact_duplicates + job.near_duplicates,
        "images": ImageRow.objects.count(), "people": Person.objects.count(), "answers": EmotionAnnotation.objects.count(),
    }


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants (a Celery worker and its pool), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * resource.getpagesize()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 2**20


def run_import_celery(mat: Path, processes: int) -> dict:
    """The job handed to a real Celery worker with ``processes`` pool processes (``SCRAPER_PARALLEL_STEPS`` as many)."""
    import subprocess

    from django.conf import settings
    from django.db import transaction

    from annotator.models import EmotionAnnotation, Person
    from catalog.models import Image as ImageRow
    from scraper.models import CrawlJob
    from scraper.services.jobs import FINISHED_STATES, create_crawl_job, enqueue_crawl_job

    cpu_before = _children_cpu()

    settings.SCRAPER_PARALLEL_STEPS = processes
    env = {**os.environ, "SCRAPER_PARALLEL_STEPS": str(processes)}
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "crawl", "--pool", "prefork",
               f"--concurrency={processes}", "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "WARNING"]
    log = open(Path(tempfile.gettempdir()) / f"bench_import_worker_{processes}.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(command, cwd=REPO, env={**env, "LOG_LEVEL": "INFO"}, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(8)  # the worker imports Django and connects to the broker before the clock starts
        start = time.perf_counter()
        with transaction.atomic():
            job = create_crawl_job("emotic", {"path": str(mat)})
            enqueue_crawl_job(job)
        peak = 0.0
        while CrawlJob.objects.filter(pk=job.pk).exclude(state__in=FINISHED_STATES).exists():
            peak = max(peak, _tree_rss_mib(worker.pid))
            time.sleep(0.5)
        elapsed = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(60)
        log.close()
    job.refresh_from_db()
    return {
        "seconds": elapsed, "peaks_mib": [peak], "cpu_seconds": _children_cpu() - cpu_before, "state": job.state, "stored": job.stored, "rejected": job.rejected_by_reason,
        "duplicates": job.exact_duplicates + job.near_duplicates,
        "images": ImageRow.objects.count(), "people": Person.objects.count(), "answers": EmotionAnnotation.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of EMOTIC's size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", default="1", help="worker process counts to run, comma-separated")
    parser.add_argument("--storage", choices=["copy", "reference"], default="copy", help="CATALOG_LOCAL_IMAGES for the import")
    parser.add_argument("--database", default="bench_import")
    parser.add_argument("--make-only", action="store_true", help="make the dataset and stop")
    parser.add_argument(
        "--runner", choices=["command", "celery"], default="command",
        help="command: the job's steps in N forked processes, as import_dataset runs them (N=1) or as N workers would; "
        "celery: a real Celery worker with N pool processes (broker CELERY_BROKER_URL)",
    )
    args = parser.parse_args()

    root = REPO / "var" / "bench" / f"emotic-official-{args.scale:g}-seed{args.seed}"
    print(f"bench_import on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    counts = make_dataset(root, args.scale, args.seed)
    print(
        f"dataset: {counts['images']} images ({counts['bytes'] / 2**20:.0f} MiB of JPEG), {counts['people']} people, "
        f"{counts['answers']} original answers; {root / 'Annotations' / 'Annotations.mat'}",
        flush=True,
    )
    if args.make_only:
        return
    work = Path(tempfile.mkdtemp(prefix="bench_import_"))
    url = local_database_url(args.database)
    os.environ.update(
        MEDIA_ROOT=str(work / "media"), SCRAPER_IMPORT_ROOTS=str(root), CATALOG_LOCAL_IMAGES=args.storage,
        SCRAPER_PARALLEL_STEPS="2", LOG_LEVEL="WARNING", DEBUG="false",
        DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.settings.base",
        # A real broker: without one the settings fall back to kombu's filesystem transport, which polls once a second.
        CELERY_BROKER_URL=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/7"),
    )  # fmt: skip
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    try:
        for processes in [int(p) for p in args.processes.split(",")]:
            connections.close_all()
            recreate_database(url)
            shutil.rmtree(work / "media", ignore_errors=True)
            call_command("migrate", verbosity=0, interactive=False)
            runner = run_import_celery if args.runner == "celery" else run_import
            result = runner(root / "Annotations" / "Annotations.mat", processes)
            rate = result["images"] / result["seconds"]
            complete = (result["images"], result["people"], result["answers"]) == (counts["images"], counts["people"], counts["answers"])
            print(
                f"import --format emotic ({args.runner}), {processes} process(es), storage {args.storage}: "
                f"{result['images']} images and {result['people']} people in {result['seconds']:.1f} s = {rate:.1f} images/s, "
                f"{result['people'] / result['seconds']:.1f} people/s; peak RSS "
                f"{'of the worker and its pool' if args.runner == 'celery' else 'per process'} "
                f"{', '.join(f'{p:.0f}' for p in result['peaks_mib'])} MiB; importer CPU {result['cpu_seconds']:.0f} s = "
                f"{result['images'] / max(result['cpu_seconds'], 1e-9):.1f} images per CPU-second (PostgreSQL's not counted, "
                f"load average {os.getloadavg()[0]:.1f}); "
                f"job {result['state']}, stored {result['stored']}, "
                f"duplicates {result['duplicates']}, rejected {result['rejected']}; {result['answers']} original answers; "
                f"rows {'match' if complete else 'DO NOT match'} the file",
                flush=True,
            )
    finally:
        connections.close_all()
        drop_database(url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
