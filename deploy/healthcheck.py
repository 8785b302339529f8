"""The containers' health check: ``python deploy/healthcheck.py [URL]`` exits 0 when URL answers 200.

Compose runs it in the web container against gunicorn itself
(``http://127.0.0.1:8000/healthz``, the default). It needs nothing but the
standard library, so it works in any image the app runs in.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (to HTTPS, say) is an answer other than 200: unhealthy


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    try:
        with urllib.request.build_opener(_NoRedirects).open(url, timeout=5) as response:
            status, body = response.status, response.read(200)
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read(200)
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}: {body.decode(errors='replace')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
