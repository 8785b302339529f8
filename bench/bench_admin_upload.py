"""Memory and time of an upload on the admin's import page: the file is streamed, never held whole.

    .venv/bin/python bench/bench_admin_upload.py [--megabytes 256] [--files 64]

Writes a .zip of ``--files`` incompressible members (``--megabytes`` in all) and the multipart body
around it to disk, then hands the body to Django's WSGI handler as a file (``wsgi.input``), the way
gunicorn hands it over: one POST to /admin/scraper/crawljob/import/ as a logged-in superuser, in a
fresh PostgreSQL database, with DEBUG off. The request receives the file (upload handler to a
temporary file), checks the archive, unpacks it into the job's folder, copies the original into the
storage (local media folder) and queues the job (the broker is in memory; no worker runs it).

It prints the body's size, the request's wall time and throughput, the peak of Python's own
allocations during the request (tracemalloc) and how much the process's peak RSS grew. Nothing here
is a test: it only prints figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.databases import drop_database, local_database_url, recreate_database, start_django  # noqa: E402

BOUNDARY = "----bench-admin-upload-boundary"


def write_zip(path: Path, megabytes: int, files: int) -> int:
    member = megabytes * 1024 * 1024 // files
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(files):
            with archive.open(f"shoot/{index:04d}.jpg", "w") as out:
                remaining = member
                while remaining:
                    chunk = os.urandom(min(remaining, 1024 * 1024))
                    out.write(chunk)
                    remaining -= len(chunk)
    return path.stat().st_size


def write_body(body: Path, archive: Path, fields: dict[str, str]) -> int:
    with body.open("wb") as out:
        for name, value in fields.items():
            out.write(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        out.write(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="shoot.zip"\r\n'
                  "Content-Type: application/zip\r\n\r\n".encode())
        with archive.open("rb") as source:
            shutil.copyfileobj(source, out, length=8 * 1024 * 1024)
        out.write(f"\r\n--{BOUNDARY}--\r\n".encode())
    return body.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=256)
    parser.add_argument("--files", type=int, default=64)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-admin-upload-"))
    os.environ.update({
        "MEDIA_ROOT": str(work / "media"),
        "SCRAPER_IMPORT_ROOTS": str(work / "imports"),
        "SCRAPER_UPLOAD_STAGING_DIR": str(work / "imports" / "uploads"),
        "SCRAPER_UPLOAD_MAX_BYTES": str(4 * args.megabytes * 1024 * 1024),
        "STORAGE_BACKEND": "local",
    })  # fmt: skip
    (work / "imports").mkdir()
    (work / "upload-temp").mkdir()
    database = recreate_database(local_database_url("bench_admin_upload"))
    try:
        start_django(database)
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.handlers.wsgi import WSGIHandler
        from django.middleware.csrf import _get_new_csrf_string
        from django.test import Client

        settings.FILE_UPLOAD_TEMP_DIR = str(work / "upload-temp")
        admin = get_user_model().objects.create_superuser("bench-admin", "bench@example.org", "bench-password-1")
        client = Client()
        client.force_login(admin)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        csrf = _get_new_csrf_string()

        archive_size = write_zip(work / "shoot.zip", args.megabytes, args.files)
        fields = {"csrfmiddlewaretoken": csrf, "kind": "folder", "origin": "upload", "licenses": "any"}
        body_size = write_body(work / "body", work / "shoot.zip", fields)

        handler = WSGIHandler()

        def post(trace: bool) -> tuple[str, float, int, int]:
            """One upload; returns the status, seconds, peak traced bytes (when traced) and peak-RSS growth in KiB."""
            status = []
            with (work / "body").open("rb") as body:
                environ = {
                    "REQUEST_METHOD": "POST", "PATH_INFO": "/admin/scraper/crawljob/import/", "SCRIPT_NAME": "",
                    "SERVER_NAME": "localhost", "SERVER_PORT": "80", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
                    "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}", "CONTENT_LENGTH": str(body_size),
                    "HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
                    "wsgi.input": body, "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1",
                }  # fmt: skip
                rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                if trace:
                    tracemalloc.start()
                started = time.perf_counter()
                response = handler(environ, lambda s, headers, exc_info=None: status.append(s))
                b"".join(response)
                response.close()
                seconds = time.perf_counter() - started
                peak = tracemalloc.get_traced_memory()[1] if trace else 0
                if trace:
                    tracemalloc.stop()
                return status[0], seconds, peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before

        status, seconds, _, rss_growth = post(trace=False)
        _, _, peak, _ = post(trace=True)  # tracing slows allocations: timed apart

        from scraper.models import CrawlJob

        job = CrawlJob.objects.order_by("pk").first()
        unpacked = sum(p.stat().st_size for p in Path(job.params["path"]).rglob("*") if p.is_file())
        left = list((work / "upload-temp").iterdir())
        print(f"status {status}; job #{job.pk} {job.state}, {unpacked / 2**20:,.1f} MiB unpacked, temporary files left: {len(left)}")
        print(f"archive {archive_size / 2**20:,.1f} MiB ({args.files} members), request body {body_size / 2**20:,.1f} MiB")
        print(f"request: {seconds:.2f} s ({body_size / 2**20 / seconds:,.1f} MiB/s: receive, check, unpack, store, queue)")
        print(f"peak Python allocations during the request: {peak / 2**20:,.2f} MiB")
        print(f"peak RSS of the process grew by {rss_growth / 1024:,.1f} MiB during the first request")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(database)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
