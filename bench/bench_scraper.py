"""Ingest throughput of the scraper, end to end, against local HTTP servers on loopback.

    .venv/bin/python bench/bench_scraper.py [--images 2000] [--hosts 16] [--sequential-sample 300]

Serves N distinct JPEGs of 50-300 KB from ``--hosts`` loopback addresses
(127.0.0.2, 127.0.0.3, ...: a crawl spreads over many sites, and the per-host
limit is part of the politeness being measured), each answer delayed 20-100 ms.
The servers run in their own process so they do not share the GIL with the
crawler. Then, in a fresh PostgreSQL database and a fresh media folder:

1. a plain sequential download of the same URLs (one requests.Session, one at a time);
2. the scraper's own pipeline with concurrency 1 on a sample (fetch, validate, hash, store, rows);
3. the scraper's pipeline at the default settings on the whole set, as ``import_dataset --format urls`` runs it;
4. the same job run by two processes at once (two Celery workers with ``SCRAPER_PARALLEL_STEPS=2``),
   their fetch limits shared in Redis (``SCRAPER_SHARED_LIMITS_URL``), so still 32 requests in flight overall.

Django runs with ``DEBUG=false``, as in production.

It prints images per second for each, the ratio of (3) to (1) and (2), and the
crawler's CPU seconds per image, so the per-core figure can be compared with
published bulk downloaders. Nothing here is a test: it only prints figures.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.databases import drop_database, local_database_url, recreate_database  # noqa: E402


# --- the images and the servers (no Django here) ----------------------------------
def make_jpeg(index: int) -> bytes:
    """A distinct photo-like JPEG of 50-300 KB (distinct pHash: no near duplicates among them)."""
    rng = np.random.default_rng(index)
    width, height = [(800, 600), (1024, 768), (960, 720), (1200, 900)][index % 4]
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    unit_noise = rng.normal(0, 1, size=base.shape)
    sigma, quality = rng.uniform(3, 8), int(rng.integers(80, 93))
    while True:
        pixels = np.clip(base + (unit_noise * sigma).astype(np.int16), 0, 255).astype(np.uint8)
        output = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(output, "JPEG", quality=quality)
        size = len(output.getvalue())
        if size < 50 * 1024:
            sigma += 1.5
        elif size > 300 * 1024:
            quality -= 4
        else:
            return output.getvalue()


def write_images(folder: Path, count: int) -> list[int]:
    """The images, made once and kept under var/ (making them takes longer than the benchmark)."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (folder / f"{i}.jpg").is_file()]
    with multiprocessing.Pool() as pool:
        for index, blob in zip(missing, pool.imap(make_jpeg, missing, chunksize=20)):
            (folder / f"{index}.jpg").write_bytes(blob)
    return [(folder / f"{i}.jpg").stat().st_size for i in range(count)]


def serve(folder: str, hosts: list[str], ready, ports) -> None:
    """Serve the folder from every host; each answer waits 20-100 ms first."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            time.sleep(random.uniform(0.020, 0.100))
            path = Path(folder) / self.path.lstrip("/").split("?")[0]
            if self.path == "/robots.txt" or not path.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    servers = []
    for host in hosts:
        server = ThreadingHTTPServer((host, 0), Handler)
        server.daemon_threads = True
        server.request_queue_size = 128
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    for server in servers:
        ports.append(server.server_address[1])
    ready.set()
    threading.Event().wait()


# --- the database ------------------------------------------------------------------
def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_pipeline(urls: list[str], list_path: Path, label: str) -> tuple[float, float, object]:
    from scraper.services.jobs import create_crawl_job, run_crawl_job

    list_path.write_text("\n".join(urls))
    job = create_crawl_job("urls", {"path": str(list_path)})
    cpu, start = cpu_seconds(), time.perf_counter()
    job = run_crawl_job(job)
    elapsed, cpu_used = time.perf_counter() - start, cpu_seconds() - cpu
    print(
        f"{label}: {len(urls)} images in {elapsed:.1f} s = {len(urls) / elapsed:.1f} images/s "
        f"(stored {job.stored}, duplicates {job.exact_duplicates + job.near_duplicates}, rejected {job.rejected} {job.rejected_by_reason}; "
        f"crawler CPU {cpu_used:.1f} s = {1000 * cpu_used / len(urls):.1f} ms per image)"
    )
    return elapsed, cpu_used, job


SHARED_LIMITS = os.environ.get("BENCH_SHARED_LIMITS_URL", "redis://127.0.0.1:6379/12")


def run_in_two_processes(urls: list[str], list_path: Path, settings) -> tuple[float, object]:
    """Two processes each run the same job, as two Celery workers do; time until the job is done."""
    import redis
    from django.db import connections

    from scraper.services.jobs import create_crawl_job, run_crawl_job

    redis.Redis.from_url(SHARED_LIMITS).flushdb()
    settings.SCRAPER_SHARED_LIMITS_URL = SHARED_LIMITS
    list_path.write_text("\n".join(urls))
    job = create_crawl_job("urls", {"path": str(list_path)})
    connections.close_all()  # each process opens its own
    context = multiprocessing.get_context("fork")
    start = time.time()
    steps = [context.Process(target=run_crawl_job, args=(job,)) for _ in range(2)]
    for step in steps:
        step.start()
    for step in steps:
        step.join()
    job.refresh_from_db()
    settings.SCRAPER_SHARED_LIMITS_URL = ""
    return job.finished_at.timestamp() - start, job


def run_img2dataset(binary: str, urls: list[str], work: Path) -> tuple[float, int]:
    """img2dataset in its fastest configuration (download and write only), as its README runs it; whole command timed."""
    import subprocess

    listing, out = work / "img2dataset-urls.txt", work / "img2dataset-out"
    listing.write_text("\n".join(urls))
    shutil.rmtree(out, ignore_errors=True)
    command = [
        binary, "--url_list", str(listing), "--input_format", "txt", "--output_folder", str(out), "--output_format", "files",
        "--processes_count", "2", "--thread_count", "32", "--disable_all_reencoding", "True", "--timeout", "30",
        "--enable_wandb", "False",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    stored = sum(1 for path in out.rglob("*.jpg"))
    shutil.rmtree(out, ignore_errors=True)
    return elapsed, stored


def versus_img2dataset(args, urls: list[str], work: Path, media: Path, settings) -> None:
    """Three interleaved rounds: the URL-list import in two processes (validating, hashing, writing rows), then img2dataset."""
    import statistics

    ours, theirs = [], []
    fixed, _ = run_img2dataset(args.img2dataset, urls[:1], work)  # starting and stopping it: paid once per command
    print(f"img2dataset on a one-URL list (its fixed cost per command): {fixed:.1f} s", flush=True)
    for round_number in range(1, args.rounds + 1):
        reset_store(media)
        elapsed, job = run_in_two_processes(urls, work / f"round{round_number}.txt", settings)
        ours.append(len(urls) / elapsed)
        print(f"round {round_number}: import_dataset --format urls, 2 processes: {elapsed:.1f} s = {ours[-1]:.1f} images/s "
              f"(stored {job.stored}, rejected {job.rejected})", flush=True)
        elapsed, stored = run_img2dataset(args.img2dataset, urls, work)
        theirs.append(len(urls) / elapsed)
        print(f"round {round_number}: img2dataset --disable_all_reencoding, 2 processes x 32 threads: {elapsed:.1f} s = "
              f"{theirs[-1]:.1f} images/s ({stored} files)", flush=True)
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    print(f"medians of {args.rounds} rounds: import {ours_median:.1f} images/s, img2dataset {theirs_median:.1f} images/s; "
          f"ratio {ours_median / theirs_median:.2f}x", flush=True)
    steady = len(urls) / max(len(urls) / theirs_median - fixed, 1e-9)
    print(f"img2dataset without its fixed cost: {steady:.1f} images/s; ratio {ours_median / steady:.2f}x "
          f"(the import's processes are forked from this one, Django already loaded, as running workers are)", flush=True)


def reset_store(media: Path) -> None:
    from catalog.models import Image as ImageRow
    from scraper.models import CrawlItem, CrawlJob
    from catalog.models import Source

    CrawlItem.objects.all().delete()
    CrawlJob.objects.all().delete()
    ImageRow.objects.all().delete()
    Source.objects.all().delete()
    shutil.rmtree(media)
    media.mkdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=16)
    parser.add_argument("--sequential-sample", type=int, default=300, help="images for the concurrency-1 pipeline run")
    parser.add_argument(
        "--img2dataset", default="",
        help="img2dataset's command, or auto (bench/peers.py installs it from PyPI into var/bench/peers/img2dataset): "
        "run only the interleaved comparison",
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.img2dataset == "auto":
        from bench.peers import peer_python

        args.img2dataset = str(peer_python("img2dataset").parent / "img2dataset")

    work = Path(tempfile.mkdtemp(prefix="bench_scraper_"))
    images, media = ROOT / "var" / "bench" / "scraper-images", work / "media"
    media.mkdir()
    database = f"bench_scraper_{os.getpid()}"
    try:
        started = time.perf_counter()
        sizes = write_images(images, args.images)
        print(
            f"{args.images} JPEGs, {min(sizes) // 1024}-{max(sizes) // 1024} KB (mean {sum(sizes) // len(sizes) // 1024} KB), "
            f"ready in {time.perf_counter() - started:.0f} s; {args.hosts} hosts, 20-100 ms latency per answer"
        )
        hosts = [f"127.0.0.{2 + i}" for i in range(args.hosts)]
        manager = multiprocessing.Manager()
        ready, ports = manager.Event(), manager.list()
        server = multiprocessing.Process(target=serve, args=(str(images), hosts, ready, ports), daemon=True)
        server.start()
        ready.wait(30)
        urls = [f"http://{hosts[i % len(hosts)]}:{ports[i % len(hosts)]}/{i}.jpg" for i in range(args.images)]

        recreate_database(local_database_url(database))
        os.environ.update(
            DATABASE_URL=local_database_url(database),
            MEDIA_ROOT=str(media),
            SCRAPER_ALLOW_PRIVATE_ADDRESSES="true",  # the servers are on loopback
            SCRAPER_IMPORT_ROOTS=str(work),  # the URL lists are written here
            DJANGO_SETTINGS_MODULE="config.settings.base",
            LOG_LEVEL="WARNING",
            DEBUG="false",  # as in production (DEBUG keeps every query in memory)
        )
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if args.img2dataset:
            versus_img2dataset(args, urls, work, media, settings)
            server.terminate()
            return

        import requests

        with requests.Session() as session:
            start = time.perf_counter()
            for url in urls:
                session.get(url, timeout=30).raise_for_status()
            sequential = time.perf_counter() - start
        sequential_rate = len(urls) / sequential
        print(f"plain sequential download: {len(urls)} images in {sequential:.1f} s = {sequential_rate:.1f} images/s")

        sample = urls[: args.sequential_sample]
        concurrency = settings.SCRAPER_MAX_CONCURRENT_REQUESTS
        settings.SCRAPER_MAX_CONCURRENT_REQUESTS = 1
        one_elapsed, _, _ = run_pipeline(sample, work / "sample.txt", "scraper pipeline, concurrency 1")
        settings.SCRAPER_MAX_CONCURRENT_REQUESTS = concurrency
        reset_store(media)

        elapsed, cpu_used, job = run_pipeline(
            urls,
            work / "all.txt",
            f"scraper pipeline, defaults ({concurrency} requests, {settings.SCRAPER_MAX_REQUESTS_PER_HOST} per host, "
            f"chunks of {settings.SCRAPER_CHUNK_SIZE})",
        )
        rate = len(urls) / elapsed
        print(f"speed-up over the plain sequential download: {rate / sequential_rate:.1f}x")
        print(f"speed-up over the pipeline at concurrency 1: {rate / (len(sample) / one_elapsed):.1f}x")
        cores = os.cpu_count() or 1
        print(
            f"per core: {rate / cores:.1f} images/s per core of this {cores}-core machine "
            f"(load from other processes included); {len(urls) / cpu_used:.1f} images per CPU-second of the crawler"
        )
        files = sum(1 for p in media.rglob("*") if p.is_file())
        print(f"check: {job.stored} rows, {files} files in storage")

        reset_store(media)
        two_elapsed, two_job = run_in_two_processes(urls, work / "two.txt", settings)
        print(
            f"scraper pipeline, one job in two processes sharing the limits in Redis ({concurrency} requests overall): "
            f"{len(urls)} images in {two_elapsed:.1f} s = {len(urls) / two_elapsed:.1f} images/s "
            f"(stored {two_job.stored}, rejected {two_job.rejected}); "
            f"{len(urls) / two_elapsed / sequential_rate:.1f}x the sequential download"
        )
        server.terminate()
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        drop_database(local_database_url(database))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
