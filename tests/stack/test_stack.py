"""The production topology without Docker, driven through the proxy's HTTPS port as a browser would.

The same pieces as docker-compose.yml, as real processes on loopback: Debian's
caddy running deploy/Caddyfile (certificates from its local CA, whose root
the test's clients trust), gunicorn with deploy/gunicorn.conf.py under
``config.settings.production``, a Celery worker of the web side (queue
``celery``), the test's PostgreSQL database, a private redis-server (broker and
cache) and moto's S3 server as the object store, with a gateway in front of
it that checks each signed URL against the Host it receives, as MinIO does
(tests/config/signed_gateway.py). Workers and redis come from the fault tests'
harness (tests/faults/conftest.py).

Addresses: the proxy reaches gunicorn from 127.0.0.1 (TRUSTED_PROXIES); the
test's clients connect to the proxy from 127.0.0.2 and 127.0.0.3, so the
address the app sees tells the client from the proxy.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests
import yaml
from django.conf import settings as django_settings
from PIL import Image as PILImage

from annotator.models import EmotionAnnotation
from emotic_export.models import DatasetSnapshot
from tests.config.signed_gateway import SignedGateway
from tests.factories import PASSWORD, EmotionAnnotationFactory, ImageFactory, PersonFactory, UserFactory, WorkerFactory
from tests.faults.conftest import CeleryWorker, PrivateRedis, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "stack-access-key", "stack-secret-key"
CLIENT, OTHER_CLIENT = "127.0.0.2", "127.0.0.3"  # the proxy reaches gunicorn from 127.0.0.1
GUNICORN_WORKERS = 2


@dataclass
class Stack:
    https_port: int
    http_port: int
    health_port: int
    gunicorn_port: int
    ca: Path
    bucket: str
    s3_internal: str
    gateway: SignedGateway
    environment: dict
    logs: dict[str, Path] = field(default_factory=dict)
    processes: list = field(default_factory=list)

    @property
    def site(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def storage_site(self) -> str:
        return f"https://localhost:{self.https_port}"

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")[-6000:]


def wait_for(url: str, what: str, timeout: float = 90, **kwargs) -> requests.Response:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=2, allow_redirects=False, **kwargs)
            if response.status_code == 200:
                return response
            last = response.status_code
        except (requests.RequestException, OSError) as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"{what} did not answer 200 at {url}: {last}")


def start(command: list[str], environment: dict, log: Path) -> subprocess.Popen:
    output = log.open("w")  # a file, not a pipe: a full pipe would stall the process
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture(scope="module")
def stack(django_db_setup, s3_server, tmp_path_factory):
    caddy = shutil.which("caddy")
    assert caddy, "the stack test needs Debian's caddy (make caddy, or apt-get install caddy)"
    work = tmp_path_factory.mktemp("stack")
    redis_server = PrivateRedis(work).start()
    bucket = f"emotic-stack-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id=KEY,
                 aws_secret_access_key=SECRET).create_bucket(Bucket=bucket)
    gateway = SignedGateway(upstream=s3_server, secrets={KEY: SECRET}).start()
    https_port, http_port, health_port, gunicorn_port = (free_port() for _ in range(4))
    database = django_settings.DATABASES["default"]
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "STORAGE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{https_port}",
        "TRUSTED_PROXIES": "127.0.0.1,::1",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": redis_server.url,
        "CACHE_URL": f"redis://127.0.0.1:{redis_server.port}/1",
        "STORAGE_BUCKET": bucket,
        "STORAGE_ENDPOINT_URL": s3_server,
        "STORAGE_PUBLIC_ENDPOINT_URL": f"https://localhost:{https_port}",
        "STORAGE_ACCESS_KEY_ID": KEY,
        "STORAGE_SECRET_ACCESS_KEY": SECRET,
        "STORAGE_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "STATIC_ROOT": str(work / "static"),
        "EXPORT_WORK_DIR": str(work / "exports"),
        "TRAINING_WORK_DIR": str(work / "training"),
        "GOLD_RATE": "0",
        "LOGIN_FAILURES_ALLOWED": "2",
        "LOGIN_ATTEMPTS_PER_SECOND": "100",  # the site-wide limit is tested in tests/security/test_throttling.py
        "WEB_CONCURRENCY": str(GUNICORN_WORKERS),
        "FAULT_VISIBILITY_TIMEOUT": "3600",  # the harness's worker: no redelivery while a build runs
    }
    stack = Stack(https_port, http_port, health_port, gunicorn_port,
                  ca=work / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt",
                  bucket=bucket, s3_internal=s3_server, gateway=gateway, environment=environment)
    try:
        collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT,
                                   env=environment, capture_output=True, text=True, timeout=180)
        assert collected.returncode == 0, collected.stderr
        stack.logs["gunicorn"] = work / "gunicorn.log"
        stack.processes.append(start(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi:application",
             "--bind", f"127.0.0.1:{gunicorn_port}"], environment, stack.logs["gunicorn"]))
        stack.logs["caddy"] = work / "caddy.log"
        stack.processes.append(start(
            [caddy, "run", "--config", "deploy/Caddyfile", "--adapter", "caddyfile"],
            {**os.environ, "SITE_ADDRESS": f"127.0.0.1:{https_port}", "STORAGE_SITE_ADDRESS": f"localhost:{https_port}",
             "APP_UPSTREAM": f"127.0.0.1:{gunicorn_port}", "STORAGE_UPSTREAM": f"127.0.0.1:{gateway.port}",
             "STATIC_ROOT": environment["STATIC_ROOT"], "HTTP_PORT": str(http_port),
             "PROXY_HEALTH_PORT": str(health_port), "CADDY_ADMIN": "off", "HOME": str(work),
             "XDG_DATA_HOME": str(work / "caddy-data"), "XDG_CONFIG_HOME": str(work / "caddy-config")},
            stack.logs["caddy"]))
        worker = CeleryWorker("celery", environment)
        stack.processes.append(worker)
        wait_for(f"http://127.0.0.1:{gunicorn_port}/healthz", "gunicorn")
        wait_until(stack.ca.exists, "caddy's local CA", timeout=60)
        wait_for(f"{stack.site}/healthz", "the proxy", verify=str(stack.ca))
        worker.wait_ready()
        yield stack
    finally:
        for process in reversed(stack.processes):
            if isinstance(process, CeleryWorker):
                process.stop()
            elif process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        gateway.stop()
        redis_server.kill()


@pytest.fixture(autouse=True)
def production_password_hashes(settings):
    """The test settings hash with MD5 for speed; the production settings would not recognise such a hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


@pytest.fixture
def stack_storage(stack, settings):
    """This process writes the test's images to the stack's bucket, as ingest would."""
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "config.storage.S3Storage", "OPTIONS": {
            "bucket_name": stack.bucket, "endpoint_url": stack.s3_internal, "region_name": "us-east-1",
            "access_key": KEY, "secret_key": SECRET, "default_acl": None, "file_overwrite": False,
            "addressing_style": "path", "signature_version": "s3v4",
        }},
    }
    return stack


class FromAddress(requests.adapters.HTTPAdapter):
    """Connect from a given loopback address (Linux routes all of 127.0.0.0/8 to lo)."""

    def __init__(self, address: str, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser(stack: Stack, address: str = CLIENT) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment would override verify
    session.verify = str(stack.ca)
    session.mount(stack.site + "/", FromAddress(address))
    return session


def log_in(session: requests.Session, stack: Stack, username: str, password: str, path: str = "/accounts/login/"):
    form = session.get(stack.site + path, timeout=30)
    assert form.status_code == 200, form.text[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    fields = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    if path.startswith("/admin/"):
        fields["next"] = "/admin/"
    return session.post(stack.site + path, data=fields, headers={"Referer": stack.site + path},
                        allow_redirects=False, timeout=30)


def csrf_headers(session: requests.Session, stack: Stack) -> dict:
    return {"X-CSRFToken": session.cookies["csrftoken"], "Referer": stack.site + "/work/"}


# --- the two journeys ---------------------------------------------------------------------------
def test_a_worker_logs_in_gets_a_task_sees_its_image_from_storage_and_answers(stack_storage):
    stack = stack_storage
    image = ImageFactory(file=True, width=640, height=480)
    person = PersonFactory(image=image)
    worker = WorkerFactory()
    session = browser(stack)
    assert log_in(session, stack, worker.user.username, PASSWORD).status_code == 302

    task = session.get(f"{stack.site}/api/tasks/next/", timeout=30)
    assert task.status_code == 200, task.text
    task = task.json()
    assert task["kind"] == "emotions" and task["person_box"] == [person.x1, person.y1, person.x2, person.y2]

    picture = session.get(stack.site + task["image_url"], timeout=30)  # the browser follows the redirect
    assert [r.status_code for r in picture.history] == [302]
    assert picture.url.startswith(f"{stack.storage_site}/{stack.bucket}/")  # signed for the public endpoint
    assert picture.status_code == 200, picture.text
    assert PILImage.open(io.BytesIO(picture.content)).format == "WEBP"  # the photo by identity, a WebP rendition
    assert (f"localhost:{stack.https_port}", f"/{stack.bucket}/", 200) in [
        (host, path[:len(stack.bucket) + 2], status) for host, path, status in stack.gateway.seen
    ]  # checked against the Host the proxy passed through

    answer = {"submission_id": str(uuid.uuid4()), "categories": ["Peace"], "valence": 6, "arousal": 3,
              "dominance": 5, "gender": "Female", "age": "Adult"}
    stored = session.post(f"{stack.site}/api/tasks/{task['id']}/submit/", json=answer,
                          headers=csrf_headers(session, stack), timeout=30)
    assert stored.status_code == 201, stored.text
    assert EmotionAnnotation.objects.get(person=person, worker=worker).categories == ["Peace"]


def test_an_admin_exports_a_snapshot_the_worker_builds_it_and_the_download_comes_from_storage(stack_storage):
    stack = stack_storage
    for n in range(2):
        image = ImageFactory(file=True, split="train", width=320, height=240, filename=f"stack-{n}.jpg")
        EmotionAnnotationFactory(person=PersonFactory(image=image, x1=10, y1=10, x2=200, y2=230))
    admin = UserFactory(username="stack-admin", is_staff=True, is_superuser=True)
    session = browser(stack)
    assert log_in(session, stack, admin.username, PASSWORD, "/admin/login/").status_code == 302

    add_url = f"{stack.site}/admin/emotic_export/datasetsnapshot/add/"
    form = session.get(add_url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    created = session.post(add_url, data={
        "csrfmiddlewaretoken": token, "name": "through-the-proxy", "description": "", "formats": ["jsonl", "coco"],
        "train": "0.7", "val": "0.1", "test": "0.2", "split_seed": "0", "label_rule": "union-mean",
    }, headers={"Referer": add_url}, allow_redirects=False, timeout=60)
    assert created.status_code == 302, created.text[:2000]
    snapshot = DatasetSnapshot.objects.get(name="through-the-proxy")

    status_url = f"{stack.site}/admin/exports/snapshots/{snapshot.pk}/status/"
    wait_until(lambda: session.get(status_url, timeout=30).json()["state"] in {"complete", "failed"},
               "the worker to build the snapshot", timeout=120)
    status = session.get(status_url, timeout=30).json()
    assert status["state"] == "complete", f"{status}\nworker log:\n{stack.processes[2].log()}"

    download = session.get(f"{stack.site}/admin/exports/snapshots/{snapshot.pk}/download/", timeout=60)
    assert [r.status_code for r in download.history] == [302]
    assert download.url.startswith(f"{stack.storage_site}/{stack.bucket}/") and download.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(download.content)) as archive:
        assert "through-the-proxy/manifest.json" in archive.getnames()


# --- the proxy's duties -------------------------------------------------------------------------
def test_plain_http_is_redirected_to_https(stack):
    answer = requests.get(f"http://127.0.0.1:{stack.http_port}/accounts/login/?next=/work/", allow_redirects=False,
                          timeout=10)
    assert answer.status_code in (301, 308)
    assert answer.headers["Location"] == f"{stack.site}/accounts/login/?next=/work/"


def test_the_health_checks_pass_under_production_settings(stack):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    through_proxy = requests.get(f"{stack.site}/healthz", verify=str(stack.ca), timeout=10)
    assert through_proxy.status_code == 200 and through_proxy.json() == {"status": "ok"}
    # Compose's web check, run here against this gunicorn: plain HTTP from inside, Host 127.0.0.1:port.
    web_check = compose["web"]["healthcheck"]["test"]
    assert web_check[:3] == ["CMD", "python", "deploy/healthcheck.py"]
    inside = subprocess.run([sys.executable, *web_check[2:], f"http://127.0.0.1:{stack.gunicorn_port}/healthz"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert inside.returncode == 0, inside.stderr
    # The proxy's own check answers on its loopback port.
    assert ":2080/healthz" in " ".join(compose["proxy"]["healthcheck"]["test"])
    assert requests.get(f"http://127.0.0.1:{stack.health_port}/healthz", timeout=10).text == "ok"
    # Every other page still insists on HTTPS and a known host when asked directly.
    direct = requests.get(f"http://127.0.0.1:{stack.gunicorn_port}/accounts/login/", allow_redirects=False, timeout=10)
    assert direct.status_code == 301 and direct.headers["Location"].startswith("https://")


def test_the_app_sees_the_clients_address_not_the_proxys(stack):
    """The log-in lock-out is per (username, client address): a guesser at 127.0.0.2 locks only 127.0.0.2 out.

    Before TRUSTED_PROXIES every request came from the proxy (127.0.0.1): the
    guesser would have locked the account for every client behind the proxy.
    """
    WorkerFactory(user__username="locked-by-address")
    guesser = browser(stack, CLIENT)
    assert [log_in(guesser, stack, "locked-by-address", "wrong").status_code for _ in range(3)] == [200, 200, 429]
    assert log_in(guesser, stack, "locked-by-address", PASSWORD).status_code == 429
    # Another client, even one claiming to be the guesser (the proxy replaces the header), gets in.
    other = browser(stack, OTHER_CLIENT)
    other.headers["X-Forwarded-For"] = CLIENT
    assert log_in(other, stack, "locked-by-address", PASSWORD).status_code == 302


def test_the_proxy_serves_static_files_itself(stack):
    manifest = (Path(stack.environment["STATIC_ROOT"]) / "staticfiles.json").read_text()
    hashed = re.search(r'"(admin/css/base\.[0-9a-f]{12}\.css)"', manifest).group(1)
    answer = requests.get(f"{stack.site}/static/{hashed}", verify=str(stack.ca), timeout=10,
                          headers={"Accept-Encoding": "br, gzip"})
    assert answer.status_code == 200 and "text/css" in answer.headers["Content-Type"]
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"  # Caddy's, not whitenoise's
    assert answer.headers.get("Content-Encoding") in {"br", "gzip"}  # collectstatic's precompressed file
    time.sleep(0.5)
    assert "/static/" not in stack.log("gunicorn")  # gunicorn never saw it


# --- slow clients ---------------------------------------------------------------------------------
def open_slow_requests(port: int, count: int, tls: ssl.SSLContext | None, body: bool) -> list[socket.socket]:
    """Connections that send a request's start and then stall: headers without their end, or a body 1 byte at a time.

    The slow bodies are log-in forms that pass the CSRF origin and cookie checks,
    so Django reads the body (a form it could refuse unread would not hold gunicorn).
    """
    held = []
    origin = f"https://127.0.0.1:{port}"
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            connection = tls.wrap_socket(connection, server_hostname="127.0.0.1")
        start_line = (f"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
                      f"Referer: {origin}/accounts/login/\r\nCookie: csrftoken={'c' * 32}\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nu"
                      if body else f"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")
        connection.sendall(start_line.encode())
        held.append(connection)
    return held


def trickle(connections: list[socket.socket], stop: threading.Event, body: bool) -> None:
    while not stop.wait(1.0):
        for connection in connections:
            try:
                connection.sendall(b"x" if body else b"X-Slow: 1\r\n")
            except OSError:
                pass


def close_all(connections: list[socket.socket]) -> None:
    for connection in connections:
        try:
            connection.close()
        except OSError:
            pass


def test_slow_clients_tie_up_gunicorn_alone_but_not_the_proxy(stack):
    """Slowloris: a few connections that never finish their request.

    Straight at gunicorn (what compose published until now), as many as it has
    workers stop the site. At the proxy, many times more of them change nothing
    for a normal client, because Caddy holds them and forwards only whole requests.
    """
    # Straight at gunicorn: GUNICORN_WORKERS stalled requests, and a normal request gets no answer.
    held = open_slow_requests(stack.gunicorn_port, GUNICORN_WORKERS, tls=None, body=False)
    try:
        time.sleep(0.5)
        with pytest.raises(requests.exceptions.Timeout):
            requests.get(f"http://127.0.0.1:{stack.gunicorn_port}/accounts/login/", timeout=3, allow_redirects=False)
    finally:
        close_all(held)
    wait_for(f"http://127.0.0.1:{stack.gunicorn_port}/healthz", "gunicorn, once the slow clients are gone", timeout=30)

    # At the proxy: ten times as many, half trickling headers and half a body, and the site still answers.
    tls = ssl.create_default_context(cafile=str(stack.ca))
    slow = 5 * GUNICORN_WORKERS
    headers_held = open_slow_requests(stack.https_port, slow, tls, body=False)
    bodies_held = open_slow_requests(stack.https_port, slow, tls, body=True)
    stop = threading.Event()
    trickling = [threading.Thread(target=trickle, args=(headers_held, stop, False), daemon=True),
                 threading.Thread(target=trickle, args=(bodies_held, stop, True), daemon=True)]
    for thread in trickling:
        thread.start()
    normal = requests.Session()
    normal.trust_env = False
    normal.verify = str(stack.ca)
    timings = []
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            started = time.monotonic()
            answer = normal.get(f"{stack.site}/accounts/login/", timeout=5)
            timings.append(time.monotonic() - started)
            assert answer.status_code == 200
            time.sleep(0.3)
        for connection in headers_held + bodies_held:  # still held open by the proxy, not refused
            connection.sendall(b"X-Still: here\r\n" if connection in headers_held else b"y")
    finally:
        stop.set()
        close_all(headers_held + bodies_held)
    assert len(timings) >= 8 and max(timings) < 3.0, timings
