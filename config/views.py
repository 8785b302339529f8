"""Site-wide pages: the landing page and the health check."""

from django.db import connection
from django.db.utils import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from emotic.taxonomy import CATEGORIES


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"categories": CATEGORIES})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and compose health checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except OperationalError:
        connection.close_if_unusable_or_obsolete()  # reconnect on the next request
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503, headers={"Retry-After": "5"})
    return JsonResponse({"status": "ok"})
