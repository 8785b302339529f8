"""``Authorization: Token <key>`` (or ``Bearer``) with a researcher token, and the scope each operation needs.

Only researcher tokens open the researcher API: no session (no cookie an
attacker's page could ride on, so no CSRF), and no worker token.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.exceptions import ErrorDetail

from emotic.errors import FieldError
from research_api.models import ResearchToken
from research_api.services import token_for_key

KEYWORDS = ("token", "bearer")
CHALLENGE = 'Token realm="research"'


class ResearchTokenRefused(FieldError, exceptions.AuthenticationFailed):
    """No valid researcher token: 401, with the token challenge."""

    status_code = 401
    code = "authentication_failed"

    def __init__(self, reason: str):
        FieldError.__init__(self, "Authorization", reason)
        self.detail = ErrorDetail(str(self), code=self.code)


class ScopeMissing(FieldError, exceptions.PermissionDenied):
    """The token lacks the scope the operation needs: 403, naming the scope."""

    status_code = 403
    code = "scope_missing"

    def __init__(self, scope: str):
        FieldError.__init__(self, "Authorization", f"this token lacks the {str(scope)!r} scope this operation needs")
        self.detail = ErrorDetail(str(self), code=self.code)


class ResearchTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise ResearchTokenRefused("expected 'Token <key>' with one key and no spaces")
        token = token_for_key(parts[1].decode(errors="replace"))
        if token is None:
            raise ResearchTokenRefused("unknown, expired or revoked researcher token, or its account is no longer staff")
        return token.user, token

    def authenticate_header(self, request):
        return CHALLENGE


class HasScope(permissions.BasePermission):
    """The view's ``scopes``: {HTTP method: scope needed}; every method needs ``read`` at least."""

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ResearchToken):
            raise exceptions.NotAuthenticated()
        needed = getattr(view, "scopes", {}).get(request.method, "read")
        if not token.allows(needed):
            raise ScopeMissing(needed)
        return True


class ResearchTokenScheme(OpenApiAuthenticationExtension):
    target_class = "research_api.authentication.ResearchTokenAuthentication"
    name = "researchToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A researcher token an admin granted to a staff account (Admin › Researcher API › "
            "Research tokens), sent as `Token <key>`. Its scopes (read, identify, export, train, crawl) say what it may do.",
        }
