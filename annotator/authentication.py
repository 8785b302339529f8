"""Token authentication for programs: ``Authorization: Token <key>`` (or ``Bearer <key>``).

The page itself uses Django's session (with CSRF protection); a program, such
as an external crowd platform's bridge, uses a token made on the "API tokens"
page by a worker an admin granted API access (``Worker.api_access``).
"""

from __future__ import annotations

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.exceptions import ErrorDetail

from annotator.services.workers import worker_for_api_key
from emotic.errors import FieldError

KEYWORDS = ("token", "bearer")
CHALLENGE = 'Token realm="api"'


class TokenRefused(FieldError, exceptions.AuthenticationFailed):
    """The Authorization header names no valid token: 401, with the token challenge."""

    status_code = 401
    code = "authentication_failed"

    def __init__(self, reason: str):
        FieldError.__init__(self, "Authorization", reason)
        self.detail = ErrorDetail(str(self), code=self.code)


class CsrfRefused(FieldError, exceptions.PermissionDenied):
    """A request made with the session cookie lacks the page's CSRF token (or sends a wrong one): 403."""

    status_code = 403
    code = "csrf_failed"

    def __init__(self, reason: str):
        FieldError.__init__(self, "X-CSRFToken", f"CSRF Failed: {reason}")
        self.detail = ErrorDetail(str(self), code=self.code)


class WorkerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise TokenRefused("expected 'Token <key>' with one key and no spaces")
        worker = worker_for_api_key(parts[1].decode(errors="replace"))
        if worker is None:
            raise TokenRefused("unknown or revoked token")
        return worker.user, worker

    def authenticate_header(self, request):
        return CHALLENGE


class PageSessionAuthentication(authentication.SessionAuthentication):
    """Django's session, as DRF's SessionAuthentication, refusing a missing CSRF token with a ``CsrfRefused``."""

    def enforce_csrf(self, request):
        check = authentication.CSRFCheck(lambda request: None)
        check.process_request(request)  # sets request.META["CSRF_COOKIE"], which process_view reads
        reason = check.process_view(request, None, (), {})
        if reason:
            raise CsrfRefused(reason)


class WorkerTokenScheme(OpenApiAuthenticationExtension):
    """Documents the token scheme in the OpenAPI schema."""

    target_class = "annotator.authentication.WorkerTokenAuthentication"
    name = "workerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Token made on the worker's API tokens page, sent as `Token <key>`.",
        }


class PageSessionScheme(SessionScheme):
    """Documents the page's session (a cookie, with the CSRF token) as drf-spectacular does DRF's own."""

    target_class = "annotator.authentication.PageSessionAuthentication"
