"""Refuse request bodies larger than the settings allow, before anything reads them.

Django checks ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when it parses a form;
Django REST framework reads JSON bodies from the raw stream and so bypasses
it. This middleware applies one limit to every body by its Content-Length
(a body sent without one is not read by Django at all).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.REQUEST_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length: must be a whole number of bytes", "code": "invalid"}, status=400)
        if length > limit:
            return JsonResponse(
                {"detail": f"body: {length} bytes is more than the {limit} allowed", "code": "too_large"}, status=413
            )
        return self.get_response(request)
