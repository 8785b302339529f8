"""Load with faults, through the proxy: throughput and latency per phase while Redis, workers and gunicorn misbehave.

Run by hand (never in CI), on a quiet machine:

    .venv/bin/python bench/bench_faults.py --workers 30 --phase-seconds 20

It brings up the production topology on loopback as tests/stack/test_stack.py
does (Debian's caddy running deploy/Caddyfile with its local CA, gunicorn with
deploy/gunicorn.conf.py under ``config.settings.production``, a Celery worker
with beat on a private redis-server, a fresh PostgreSQL database filled with
``--people`` people), logs ``--workers`` simulated crowd workers in through
the proxy's HTTPS port (half with the session and its CSRF token, half with
API tokens, as bench/load_test.py), and keeps them answering while it goes
through these phases, ``--phase-seconds`` each:

    baseline       nothing wrong
    redis-paused   redis-server stopped with SIGSTOP (a frozen host), then SIGCONT
    redis-killed   redis-server killed; started again at the end of the phase
    worker-killed  the Celery worker killed with SIGKILL; started again half way
    reload         gunicorn's master sent SIGHUP (graceful reload) at the start of the phase
    after          nothing wrong again

It prints, per phase, the answers acknowledged a second (and as a share of the
baseline), the p50/p95/p99 latency of next-task and submit, and the statuses
that were not 200/201/204; then the checks of bench/load_test.py from the
database (every acknowledged answer stored exactly once, no person given
twice to a worker, no person over its split's annotators). ``--json`` prints
the figures as one JSON line too. Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from bench.databases import recreate_database  # noqa: E402

import load_test  # noqa: E402
from bench_assignment import ANSWER  # noqa: E402

PHASES = ("baseline", "redis-paused", "redis-killed", "worker-killed", "reload", "after")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/emotic_faults")
    parser.add_argument("--people", type=int, default=8000, help="enough that the pool never runs dry")
    parser.add_argument("--workers", type=int, default=30, help="concurrent simulated crowd workers")
    parser.add_argument("--phase-seconds", type=float, default=20.0)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Redis:
    """A private redis-server that can be frozen, killed and started again on the same port."""

    def __init__(self, workdir: Path):
        self.port, self.workdir, self.process = free_port(), workdir, None

    def start(self) -> Redis:
        import redis

        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)], stdout=subprocess.DEVNULL)
        for _ in range(200):
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def start(command: list[str], environment: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=REPO, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_for(url: str, what: str, timeout: float = 90, **kwargs) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2, allow_redirects=False, **kwargs).status_code == 200:
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer at {url}")


class Recorder:
    """Every request: (the moment it finished, its endpoint, its status, its latency)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events: list[tuple[float, str, int, float]] = []
        self.acknowledged: list[tuple[float, str, int, str]] = []

    def add(self, endpoint: str, status: int, latency: float) -> None:
        with self.lock:
            self.events.append((time.monotonic(), endpoint, status, latency))


def crowd_worker(base: str, session, username: str, stop: threading.Event, recorder: Recorder, resends: list) -> None:
    import random

    import requests

    rng = random.Random(username)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            response = session.get(f"{base}/api/tasks/next/", timeout=30)
            status = response.status_code
        except requests.RequestException:
            status = 0
        recorder.add("next", status, time.perf_counter() - started)
        if status == 204:
            time.sleep(0.5)
        if status != 200:
            time.sleep(0.2)
            continue
        task_id = response.json()["id"]
        body = {**ANSWER, "submission_id": str(uuid.uuid4()), "valence": rng.randint(1, 10)}
        for attempt in range(3):  # the page keeps an answer and sends it again until it is acknowledged
            started = time.perf_counter()
            try:
                answer = session.post(f"{base}/api/tasks/{task_id}/submit/", json=body, timeout=30)
                status = answer.status_code
            except requests.RequestException:
                status = 0
            recorder.add("submit", status, time.perf_counter() - started)
            if status in (200, 201):
                with recorder.lock:
                    recorder.acknowledged.append((time.monotonic(), username, task_id, body["submission_id"]))
                if attempt:
                    resends.append(status == 200 and answer.json().get("stored") is False)
                break
            time.sleep(0.5)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    redis_server = Redis(work).start()
    https_port, http_port, health_port, gunicorn_port = (free_port() for _ in range(4))
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "STORAGE_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{https_port}",
        "TRUSTED_PROXIES": "127.0.0.1,::1",
        "DATABASE_URL": args.database_url,
        "DATABASE_CONN_MAX_AGE": "60",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "CACHE_URL": f"redis://127.0.0.1:{redis_server.port}/1",
        "MEDIA_ROOT": str(work / "media"),
        "STATIC_ROOT": str(work / "static"),
        "GOLD_RATE": "0",  # every answer a real one the checks can count
        "WEB_CONCURRENCY": str(args.gunicorn_workers),
        # The simulated crowd logs in from one address in a burst; the limits are not what is measured here.
        "LOGIN_ATTEMPTS_PER_SECOND": "1000", "LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE": "100000",
        "API_THROTTLE_WORKER": "100000/minute",
    }
    os.environ.update({key: environment[key] for key in (
        "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "GOLD_RATE", "ALLOWED_HOSTS")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    processes: list[subprocess.Popen] = []
    try:
        recreate_database(args.database_url)
        names, keys = load_test.prepare(argparse.Namespace(people=args.people, workers=args.workers))
        collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=REPO, env=environment,
                                   capture_output=True, text=True, timeout=300)
        if collected.returncode:
            raise SystemExit(f"collectstatic failed: {collected.stderr[-2000:]}")
        gunicorn = start([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "config.wsgi:application",
                          "--bind", f"127.0.0.1:{gunicorn_port}"], environment, work / "gunicorn.log")
        processes.append(gunicorn)
        caddy_env = {**os.environ, "SITE_ADDRESS": f"127.0.0.1:{https_port}", "STORAGE_SITE_ADDRESS": f"localhost:{https_port}",
                     "APP_UPSTREAM": f"127.0.0.1:{gunicorn_port}", "STORAGE_UPSTREAM": "127.0.0.1:9",
                     "STATIC_ROOT": environment["STATIC_ROOT"], "HTTP_PORT": str(http_port),
                     "PROXY_HEALTH_PORT": str(health_port), "CADDY_ADMIN": "off", "HOME": str(work),
                     "XDG_DATA_HOME": str(work / "caddy-data"), "XDG_CONFIG_HOME": str(work / "caddy-config")}
        processes.append(start([shutil.which("caddy") or "caddy", "run", "--config", "deploy/Caddyfile", "--adapter",
                                "caddyfile"], caddy_env, work / "caddy.log"))
        celery_command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--beat", "-Q", "celery,crawl",
                          "--pool=threads", "--concurrency=2", "--loglevel=WARNING",
                          "--schedule", str(work / "celerybeat-schedule")]
        worker = start(celery_command, environment, work / "celery.log")
        processes.append(worker)
        ca = work / "caddy-data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        wait_for(f"http://127.0.0.1:{gunicorn_port}/healthz", "gunicorn")
        deadline = time.monotonic() + 60
        while not ca.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        base = f"https://127.0.0.1:{https_port}"
        wait_for(f"{base}/healthz", "the proxy", verify=str(ca))

        sessions = []
        for n, (name, key) in enumerate(zip(names, keys, strict=True)):
            session = load_test.session_for(base, name, key, n % 2 == 1, verify=str(ca))
            sessions.append(session)
        recorder, resends, stop = Recorder(), [], threading.Event()
        threads = [threading.Thread(target=crowd_worker, args=(base, s, name, stop, recorder, resends))
                   for s, name in zip(sessions, names, strict=True)]
        for thread in threads:
            thread.start()

        boundaries = []
        for phase in PHASES:
            began = time.monotonic()
            boundaries.append((phase, began))
            middle = began + args.phase_seconds / 2
            if phase == "redis-paused":
                redis_server.signal(signal.SIGSTOP)
            elif phase == "redis-killed":
                redis_server.kill()
            elif phase == "worker-killed":
                os.killpg(worker.pid, signal.SIGKILL)
            elif phase == "reload":
                gunicorn.send_signal(signal.SIGHUP)
            while time.monotonic() < began + args.phase_seconds:
                if phase == "worker-killed" and time.monotonic() >= middle and worker.poll() is not None:
                    worker = start(celery_command, environment, work / "celery-2.log")
                    processes.append(worker)
                time.sleep(0.05)
            if phase == "redis-paused":
                redis_server.signal(signal.SIGCONT)
            elif phase == "redis-killed":
                redis_server.start()
        stop.set()
        for thread in threads:
            thread.join()
        ended = time.monotonic()

        figures = []
        edges = [began for _, began in boundaries] + [ended]
        for (phase, began), finish in zip(boundaries, edges[1:]):
            seconds = finish - began
            events = [e for e in recorder.events if began <= e[0] < finish]
            answers = sum(1 for at, *_ in recorder.acknowledged if began <= at < finish)
            odd = {}
            for _, endpoint, status, _ in events:
                if status not in (200, 201, 204):
                    odd[f"{endpoint} {status}"] = odd.get(f"{endpoint} {status}", 0) + 1
            row = {"phase": phase, "seconds": round(seconds, 1), "answers_per_s": round(answers / seconds, 1), "other": odd}
            for endpoint in ("next", "submit"):
                latencies = sorted(latency for _, name, status, latency in events if name == endpoint and status in (200, 201, 204))
                row[endpoint] = {q: round(percentile(latencies, q) * 1000, 1) for q in (50, 95, 99)} if latencies else {}
            figures.append(row)
        baseline = figures[0]["answers_per_s"] or float("nan")
        print(f"{args.workers} crowd workers through caddy (HTTPS) -> gunicorn x{args.gunicorn_workers} "
              f"(config.settings.production), Celery worker with beat, private redis, {args.people} people")
        print(f"{'phase':14s} {'answers/s':>10s} {'of base':>8s}   next p50/p95/p99 ms      submit p50/p95/p99 ms   other statuses")
        for row in figures:
            share = row["answers_per_s"] / baseline if baseline == baseline else float("nan")
            row["share_of_baseline"] = round(share, 2)
            fmt = lambda d: "/".join(f"{d[q]:.0f}" for q in (50, 95, 99)) if d else "-"  # noqa: E731
            print(f"{row['phase']:14s} {row['answers_per_s']:10.1f} {share:8.2f}   {fmt(row['next']):22s} "
                  f"{fmt(row['submit']):22s} {row['other'] or ''}")
        results = load_test.Results()
        results.acknowledged = [(name, task, submission) for _, name, task, submission in recorder.acknowledged]
        results.resends, results.resends_not_stored_again = len(resends), sum(resends)
        problems = load_test.verify(results)
        if args.json:
            print(json.dumps({"phases": figures, "acknowledged": len(recorder.acknowledged), "problems": problems}))
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=30)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    process.kill()
        if redis_server.process.poll() is None:
            redis_server.signal(signal.SIGCONT)
            redis_server.kill()
        if os.environ.get("BENCH_KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("checks:", "all hold" if not problems else "FAILED")
    for problem in problems:
        print("  -", problem)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
