"""Site-wide pages: the landing page, the health check, and the admin pages that moved."""

from django.contrib.auth import views as auth_views
from django.db import connection
from django.db.utils import OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render, resolve_url

from emotic.taxonomy import CATEGORIES


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"categories": CATEGORIES})


class LoginView(auth_views.LoginView):
    """Django's log-in; without a ``next``, staff land in the admin and workers on their work page."""

    def get_default_redirect_url(self) -> str:
        return resolve_url("admin:index" if self.request.user.is_staff else "annotator:home")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and compose health checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except OperationalError:
        connection.close_if_unusable_or_obsolete()  # reconnect on the next request
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503, headers={"Retry-After": "5"})
    return JsonResponse({"status": "ok"})


# Admin pages whose model moved to another app (catalog, quality): old links and bookmarks keep working.
MOVED_ADMIN_PAGES = {
    "annotator/image": "catalog/image",
    "scraper/source": "catalog/source",
    "annotator/qualityreport": "quality/qualityreport",
    "annotator/personagreement": "quality/personagreement",
}


def moved_admin_page(request: HttpRequest, old: str, rest: str) -> HttpResponse:
    """A permanent redirect to the page's new address, query string kept (the admin there checks permissions)."""
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"/admin/{MOVED_ADMIN_PAGES[old]}/{rest}" + (f"?{query}" if query else ""))
