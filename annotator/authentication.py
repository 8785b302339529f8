"""Token authentication for programs: ``Authorization: Token <key>`` (or ``Bearer <key>``).

The page itself uses Django's session (with CSRF protection); a program, such
as an external crowd platform's bridge, uses a token the worker made on its
"API tokens" page.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from annotator.services.workers import worker_for_api_key

KEYWORDS = ("token", "bearer")


class WorkerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization: expected 'Token <key>' with one key and no spaces")
        worker = worker_for_api_key(parts[1].decode(errors="replace"))
        if worker is None:
            raise exceptions.AuthenticationFailed("Authorization: unknown or revoked token")
        return worker.user, worker

    def authenticate_header(self, request):
        return 'Token realm="api"'


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
