"""When the database is unreachable, answer 503 with a retry hint instead of a 500.

A crowd worker's browser (and any API client) retries a 503 after
``Retry-After`` seconds with the same submission id, so no input is lost and
nothing is stored twice.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import SimpleTemplateResponse

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (OperationalError, InterfaceError)


def _is_connection_failure(exc: BaseException) -> bool:
    """A lost or refused connection, as opposed to a bad query (a real bug: let it be a 500)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    cause = exc.__cause__
    return isinstance(exc, DatabaseError) and cause is not None and type(cause).__name__ in {
        "OperationalError", "InterfaceError", "ConnectionFailure", "AdminShutdown",
    }


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not _is_connection_failure(exc):
            return None
        logger.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()  # the next request reconnects
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
            return JsonResponse(
                {"detail": "The service is briefly unavailable; nothing was stored. Retry in a few seconds.",
                 "retry_after": RETRY_AFTER_SECONDS},
                status=503, headers=headers,
            )
        response = SimpleTemplateResponse("503.html", status=503, headers=headers)
        return response.render()
