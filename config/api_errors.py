"""The API's one exception handler, and the schema's account of the errors it answers.

Every 4xx of the API answers one contract (``annotator.serializers.ErrorSerializer``)::

    {"detail": "<field>: <reason>", "code": "<code>", "errors": {"<field>": ["<reason>", ...]}}

whatever raised it. A ``FieldError`` about the request carries its field and
reason, ``status_code`` and ``code`` (the annotation services' errors, the
body parser's, the token and CSRF refusals). Any other ``FieldError`` that
reaches the handler is about data the server holds (a control item stored
with a malformed box, say), not about this request: it is a logged 500, so
a worker is neither blamed nor shown what the server holds. DRF's validation errors are
flattened by field (``boxes[0][2]``). DRF's and Django's other exceptions name
the part of the request at fault:

=======================  ======  ======================  ===================================
exception                status  code                    field
=======================  ======  ======================  ===================================
FieldError               500     (not answered here: a server fault, logged)
 ... with status_code    its     its ``code``            its own: AnnotationError 400-409;
                                                         TokenRefused 401 authentication_failed
                                                         (Authorization); CsrfRefused 403
                                                         csrf_failed (X-CSRFToken)
ValidationError          400     invalid                 each field; ``body`` for the whole body
ParseError               400     parse_error             body
NotAuthenticated         401     not_authenticated       Authorization
AuthenticationFailed     401     authentication_failed   Authorization
PermissionDenied         403     permission_denied       request
NotFound, Http404        404     not_found               path
MethodNotAllowed         405     method_not_allowed      method
NotAcceptable            406     not_acceptable          Accept
UnsupportedMediaType     415     unsupported_media_type  Content-Type
Throttled                429     throttled               request (with Retry-After)
SuspiciousOperation      400     invalid                 body (too many form fields or files)
RequestDataTooBig        413     too_large               body
any other APIException   its     its code                request
=======================  ======  ======================  ===================================

A 401 carries ``WWW-Authenticate`` (from the view's first authentication
class). Outside DRF, in the same shape: the body-size middleware
(``config.request_limits``) answers 413 ``too_large`` (body) and 400 ``invalid``
(Content-Length), and ``not_found`` (``handler404``) a 404 ``not_found`` (path)
for a URL under /api/ that no route matches.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from emotic.errors import FieldError

WHOLE_BODY = "body"
NO_FIELD = "request"
# The part of the request each of DRF's exceptions is about (the first match counts).
FIELDS: tuple[tuple[type[exceptions.APIException], str], ...] = (
    (exceptions.ValidationError, WHOLE_BODY),
    (exceptions.ParseError, WHOLE_BODY),
    (exceptions.NotAuthenticated, "Authorization"),
    (exceptions.AuthenticationFailed, "Authorization"),
    (exceptions.NotFound, "path"),
    (exceptions.MethodNotAllowed, "method"),
    (exceptions.NotAcceptable, "Accept"),
    (exceptions.UnsupportedMediaType, "Content-Type"),
)


def error_body(errors: dict[str, list[str]], code: str) -> dict:
    """The contract: ``detail`` is the first field and its first reason."""
    field, reasons = next(iter(errors.items()))
    return {"detail": f"{field}: {reasons[0]}", "code": code, "errors": errors}


def field_error_body(field: str, reason: str, code: str) -> dict:
    return error_body({field: [reason]}, code)


def flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as ``{"boxes[0][2]": ["A valid integer is required."]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}[{key}]" if prefix else str(key)
            flat.update(flatten(value, name))
    elif isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        flat[prefix] = [str(e) for e in errors]
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                flat.update(flatten(value, f"{prefix}[{index}]"))
    elif isinstance(errors, str):
        flat[prefix] = [str(errors)]
    return flat


def _field_of(exc: exceptions.APIException) -> str:
    return next((field for kind, field in FIELDS if isinstance(exc, kind)), NO_FIELD)


def _errors_of(exc: exceptions.APIException) -> tuple[dict[str, list[str]], str]:
    """The reasons by field, and the code, of one of DRF's exceptions."""
    field = _field_of(exc)
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
    else:
        code = getattr(exc.detail, "code", None) or exc.default_code
    errors = {}
    for name, reasons in flatten(exc.detail).items():
        # A serializer's errors about the body as a whole, or a detail that names no field.
        name = field if name in ("", api_settings.NON_FIELD_ERRORS_KEY) else name
        errors.setdefault(name, []).extend(reasons)
    return errors or {field: [str(exc.default_detail)]}, code


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: the contract for every error the API answers; None re-raises."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):
        exc = BodyRefused("body", str(exc) or "is larger than the server accepts", status_code=413, code="too_large")
    elif isinstance(exc, SuspiciousOperation):  # too many form fields or files, a malformed multipart body
        exc = BodyRefused("body", str(exc) or "cannot be read", status_code=400, code="invalid")

    if isinstance(exc, FieldError) and hasattr(exc, "status_code"):
        errors, code = {exc.field: [exc.reason]}, getattr(exc, "code", "invalid")
        status_code = exc.status_code
    elif isinstance(exc, exceptions.APIException):
        errors, code = _errors_of(exc)
        status_code = exc.status_code
    else:
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = "%d" % exc.wait
    set_rollback()
    return Response(error_body(errors, code), status=status_code, headers=headers)


class BodyRefused(FieldError):
    """A body Django itself refuses to read (too many fields, too big), in the contract's shape."""

    def __init__(self, field: str, reason: str, *, status_code: int, code: str):
        super().__init__(field, reason)
        self.status_code, self.code = status_code, code


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: a request Django refuses before any view (a suspicious one) answers the contract under /api/."""
    if request.path.startswith("/api/"):
        return JsonResponse(field_error_body("request", str(exception) or "cannot be read", "invalid"), status=400)
    return django_bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a URL under /api/ that no route matches (``/api/tasks/abc/submit/``) answers the contract too."""
    if request.path.startswith("/api/"):
        return JsonResponse(field_error_body("path", f"no API endpoint at {request.path}", "not_found"), status=404)
    return page_not_found(request, exception)


# --- the schema -------------------------------------------------------------------------------------------

ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}
# Every authenticated operation can answer these (the middleware's 400 and 413 apply to any request).
EVERY_OPERATION = {
    400: "A parameter, header or body is invalid; `errors` names each field.",
    401: "No credentials, or an unknown, revoked or malformed token. Sign in, or send `Authorization: Token <key>`.",
    406: "The Accept header asks for a media type the API cannot answer in.",
    413: "The body is larger than the server accepts.",
    429: "Too many requests from this worker; retry after `Retry-After` seconds.",
}
# Operations that take a body also answer these.
WITH_A_BODY = {
    403: "A request signed in with the session cookie lacks the page's CSRF token (`X-CSRFToken`).",
    415: "The body's Content-Type is not JSON, a form or multipart.",
}
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True,
                               "description": 'The token challenge, `Token realm="api"`.'}},
    429: {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "required": True,
                          "description": "Seconds to wait before the next request."}},
}


def document_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: each operation documents every error it can answer.

    The views document their own (400 for a bad answer, 403 for a worker who may
    not work, 404 for another worker's task, 409 for a closed task); this adds
    what every authenticated operation can answer, all in the ``Error`` shape.
    """
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation or not operation.get("security"):
                continue
            codes = {**EVERY_OPERATION, **(WITH_A_BODY if "requestBody" in operation else {})}
            responses = operation["responses"]
            for status_code, description in sorted(codes.items()):
                responses.setdefault(str(status_code), {
                    "content": {"application/json": {"schema": ERROR_SCHEMA}}, "description": description,
                })
            for status_code, headers in HEADERS.items():
                if str(status_code) in responses:
                    responses[str(status_code)].setdefault("headers", {}).update(headers)
            operation["responses"] = dict(sorted(responses.items()))
    return result
