"""CPU per download of the crawler's HTTP client beside plain http.client, urllib3 and requests.

    .venv/bin/python bench/bench_http_clients.py [--images 300] [--rounds 3]

Serves the crawl benchmark's JPEGs (bench/bench_scraper.py, mean 114 KB) from one loopback host, in its
own process, and downloads them one at a time with each client, keeping connections alive where the
client does, interleaved over ``--rounds``. It prints the median CPU time of this process per download
(``time.thread_time``: the server's work is not counted): the crawl runs about 32 downloads at once in
one interpreter, so what a download costs in Python is what the fetch threads queue for. Nothing here
is a test: it only prints figures.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_scraper import serve, write_images  # noqa: E402


def cpu_per_download(fetch_all) -> float:
    started = time.thread_time()
    count = fetch_all()
    return 1000 * (time.thread_time() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    images = ROOT / "var" / "bench" / "scraper-images"
    write_images(images, args.images)
    manager = multiprocessing.Manager()
    ready, ports = manager.Event(), manager.list()
    server = multiprocessing.Process(target=serve, args=(str(images), ["127.0.0.2"], ready, ports), daemon=True)
    server.start()
    ready.wait(30)
    port = ports[0]
    paths = [f"/{i}.jpg" for i in range(args.images)]
    urls = [f"http://127.0.0.2:{port}{path}" for path in paths]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    import requests
    import urllib3

    from scraper.fetching import AddressPolicy, PoliteFetcher

    def with_http_client() -> int:
        connection = http.client.HTTPConnection("127.0.0.2", port)
        for path in paths:
            connection.request("GET", path)
            connection.getresponse().read()
        connection.close()
        return len(paths)

    def with_urllib3() -> int:
        with urllib3.PoolManager() as pool:
            for url in urls:
                pool.request("GET", url)
        return len(urls)

    def with_requests() -> int:
        with requests.Session() as session:
            for url in urls:
                session.get(url, timeout=30).content  # noqa: B018
        return len(urls)

    def with_fetcher() -> int:
        policy = AddressPolicy.build(allow_private=True)
        with PoliteFetcher(user_agent="bench/1.0", address_policy=policy, obey_robots=True) as fetcher:
            for url in urls:
                fetcher.fetch_image(url, max_bytes=10**7)
        return len(urls)

    clients = {"http.client (plain)": with_http_client, "urllib3 (plain)": with_urllib3, "requests (plain)": with_requests,
               "PoliteFetcher.fetch_image": with_fetcher}  # fmt: skip
    figures: dict[str, list[float]] = {name: [] for name in clients}
    for round_number in range(1, args.rounds + 1):
        for name, fetch_all in clients.items():
            figures[name].append(cpu_per_download(fetch_all))
        print(f"round {round_number}: " + ", ".join(f"{name} {values[-1]:.2f} ms" for name, values in figures.items()), flush=True)
    print(f"median CPU per download of {args.images} JPEGs, {args.rounds} rounds:")
    for name, values in figures.items():
        print(f"  {name:28s} {statistics.median(values):.2f} ms")
    server.terminate()


if __name__ == "__main__":
    main()
