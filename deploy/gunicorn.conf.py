"""gunicorn for the web service: ``gunicorn -c deploy/gunicorn.conf.py config.wsgi:application``.

It sits behind the reverse proxy (deploy/Caddyfile), which buffers slow
clients: gunicorn's sync workers then only ever talk to the proxy.

``preload_app``: the master imports Django and the whole app once, and every
worker is a fork of it. A graceful reload (SIGHUP: ``docker compose kill -s HUP
web``) replaces the workers with new forks that answer at once, instead of
workers that each spend seconds importing the app while the old ones are
already gone (docs/benchmarks.md: a 6 s stall at 3 requests a second before,
none after). The cost: a reload does not re-import Python code. In the image
the code never changes under a running container (a new release is a new
container), so nothing is lost there; where code is updated in place, restart
the service, or use gunicorn's USR2 + WINCH + QUIT procedure, which starts a
whole new master with the new code before the old one stops.
"""

import os

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
timeout = 60
graceful_timeout = 30
preload_app = True
accesslog = "-"


def when_ready(server):
    """Load the URLconf (the admin, the API and what they import) in the master too, so no worker does it on its first request."""
    from django.urls import get_resolver

    get_resolver().url_patterns
