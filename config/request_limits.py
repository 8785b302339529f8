"""Refuse request bodies larger than the settings allow, before anything reads them.

Django checks ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when it parses a form;
Django REST framework reads JSON bodies from the raw stream and so bypasses
it. This middleware applies one limit to every body by its Content-Length
(a body sent without one is not read by Django at all), and answers in the
API's error shape (``config.api_errors``). The one page that takes uploads,
the admin's dataset import, is allowed ``SCRAPER_UPLOAD_MAX_BYTES`` and a
little room for its form; its upload handler streams the file to a temporary
file and stops at that limit in the form's own words.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse

from config.api_errors import field_error_body


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = upload_limit(request.path) or settings.REQUEST_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(field_error_body("Content-Length", "must be a whole number of bytes", "invalid"), status=400)
        if length > limit:
            return JsonResponse(
                field_error_body("body", f"{length} bytes is more than the {limit} allowed", "too_large"), status=413
            )
        return self.get_response(request)


def upload_limit(path: str) -> int | None:
    """The body limit of the page at ``path`` when it takes uploads, else None."""
    try:
        upload_page = reverse("admin:scraper_crawljob_import")
    except NoReverseMatch:
        return None
    if path != upload_page:
        return None
    from scraper.admin_imports import upload_body_limit

    return upload_body_limit()
