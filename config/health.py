"""``/healthz`` answered before any other middleware: the same from inside the container as through the proxy.

Compose's health check asks gunicorn directly (``http://127.0.0.1:8000/healthz``):
plain HTTP, with a Host that is not in ``ALLOWED_HOSTS``. Under production
settings every other path then answers a redirect to HTTPS (or a 400 for the
host), so this middleware, first in ``MIDDLEWARE``, answers ``/healthz`` itself
before the host check and the HTTPS redirect. The answer says only whether
the database answers; nothing in it comes from the request.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == HEALTH_PATH and request.method in ("GET", "HEAD"):
            from config.views import healthz

            return healthz(request)
        return self.get_response(request)
