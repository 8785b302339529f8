"""What a gunicorn SIGHUP (graceful reload) does to a steady trickle of requests.

Run by hand (never in CI):

    .venv/bin/python bench/bench_reload.py --before     # gunicorn as the Dockerfile ran it until now
    .venv/bin/python bench/bench_reload.py              # gunicorn as it runs now: -c deploy/gunicorn.conf.py

It serves the app with gunicorn on a free loopback port (settings from the
environment; with none, ``config.settings.base`` on SQLite), sends
``--rate`` requests a second to ``--path`` from a thread each (a slow answer
never delays the next request), sends the master SIGHUP ``--reload-after``
seconds in, ``--reloads`` times ``--reload-every`` seconds apart, and keeps
going for ``--seconds`` in all. It prints the longest gap between two
answers, the slowest request, and how many requests failed; ``--json`` prints
the same as one JSON line. A gap longer than the request interval is a stall:
requests that arrived during it waited in the listen queue.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEFORE = ["config.wsgi:application", "--workers", "4", "--timeout", "60"]  # the Dockerfile's and compose's command until now
AFTER = ["-c", "deploy/gunicorn.conf.py", "config.wsgi:application"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", action="store_true", help="gunicorn's command line before the fix")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (WEB_CONCURRENCY for the config file)")
    parser.add_argument("--rate", type=float, default=3.0, help="requests a second")
    parser.add_argument("--path", default="/accounts/login/", help="a page that goes through the whole Django stack")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--reload-after", type=float, default=6.0)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--reload-every", type=float, default=7.0)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(args: argparse.Namespace, port: int) -> subprocess.Popen:
    import requests

    command = list(BEFORE if args.before else AFTER)
    if args.before:
        command[command.index("--workers") + 1] = str(args.workers)
    environment = {**os.environ, "WEB_CONCURRENCY": str(args.workers)}  # the config file reads it
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *command, "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--access-logfile", os.devnull],
        cwd=REPO, env=environment,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}{args.path}", timeout=2).status_code < 500:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def main() -> None:
    import requests

    args = parse_args()
    port = free_port()
    server = serve(args, port)
    url = f"http://127.0.0.1:{port}{args.path}"
    results: list[tuple[float, float, int]] = []  # (sent, answered, status); status 0: failed
    lock = threading.Lock()

    def one(sent: float) -> None:
        try:
            status = requests.get(url, timeout=60).status_code
        except requests.RequestException:
            status = 0
        with lock:
            results.append((sent, time.monotonic(), status))

    start = time.monotonic()
    reload_times = [start + args.reload_after + n * args.reload_every for n in range(args.reloads)]
    threads, n = [], 0
    try:
        while True:
            now = time.monotonic()
            if now - start >= args.seconds:
                break
            if reload_times and now >= reload_times[0]:
                reload_times.pop(0)
                server.send_signal(signal.SIGHUP)
            due = start + n / args.rate
            if now >= due:
                thread = threading.Thread(target=one, args=(now,))
                thread.start()
                threads.append(thread)
                n += 1
            time.sleep(0.005)
        for thread in threads:
            thread.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)

    answered = sorted(done for _, done, status in results if 0 < status < 500)
    gaps = [b - a for a, b in zip(answered, answered[1:])]
    latencies = [done - sent for sent, done, status in results]
    summary = {
        "command": "gunicorn " + " ".join(BEFORE if args.before else AFTER),
        "workers": args.workers,
        "requests": len(results),
        "failed": sum(1 for _, _, status in results if not 0 < status < 500),
        "reloads": args.reloads,
        "longest_gap_s": round(max(gaps), 3),
        "slowest_request_s": round(max(latencies), 3),
        "median_request_s": round(statistics.median(latencies), 3),
        "interval_s": round(1 / args.rate, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['command']}  ({args.workers} workers, {args.rate:g} requests/s, {args.reloads} x SIGHUP)")
        print(f"  requests {summary['requests']}, failed {summary['failed']}")
        print(f"  longest gap between answers {summary['longest_gap_s']:.3f} s (the interval is {summary['interval_s']:.3f} s)")
        print(f"  slowest request {summary['slowest_request_s']:.3f} s, median {summary['median_request_s']:.3f} s")


if __name__ == "__main__":
    main()
