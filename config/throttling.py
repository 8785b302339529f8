"""Log-in and sign-up throttling: every refusal comes before any password is hashed.

A password check costs most of a second of CPU (PBKDF2), so log-ins are
limited before it runs, four ways, each counted in Django's cache (Redis when
``CACHE_URL`` is set: every gunicorn process and machine shares the counts):

- the whole site: at most ``LOGIN_ATTEMPTS_PER_SECOND`` checks a second, so a
  flood of log-ins cannot starve the workers' API of CPU;
- one client address: at most ``LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE``,
  whatever the user names tried;
- one user name from one address: after ``LOGIN_FAILURES_ALLOWED`` failures a
  delay before the next try, doubling with each further failure up to
  ``LOGIN_LOCKOUT_SECONDS``: progressive, so a worker behind the same proxy
  as a guesser waits seconds, not a quarter of an hour;
- one user name from anywhere: the same, after
  ``LOGIN_ACCOUNT_FAILURES_ALLOWED`` failures, so rotating addresses does not
  buy unlimited guesses.

Unknown user names are counted like known ones (the answers must not tell
which accounts exist). The address is ``config.client_address.client_address``:
the client's, behind the proxy too (``TRUSTED_PROXIES``). Every log-in path
goes through ``django.contrib.auth.authenticate`` (the worker log-in page,
the admin log-in), so the checks live in an authentication backend placed
first, which refuses before ModelBackend hashes anything; the middleware
turns the refusal into a 429 with ``Retry-After`` and says why on the form.
Sign-ups (which hash the new password) are limited per address and for the
whole site the same way. Password-reset requests (each may send an e-mail)
are limited for the whole site, per address, and per e-mail address asked
for (``PASSWORD_RESETS_PER_*``), so the form can flood no one's inbox; a
refused request sends nothing and says so, whether or not the address
belongs to an account. Every attempt and its outcome is written to the
access log (``access.AccessAttempt``), which admins read.

The worker API is throttled by Django REST framework (``annotator.api.WorkerThrottle``,
rate ``API_THROTTLE_WORKER``), in the same cache; its anonymous callers are
counted by ``REMOTE_ADDR``, which ``ClientAddressMiddleware`` sets to the same
client address (``NUM_PROXIES = 0``: never a raw X-Forwarded-For).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from access.models import AccessAttempt
from access.services import record_attempt
from annotator.forms import SignupForm
from config.client_address import client_address  # the client's, also behind the proxy (TRUSTED_PROXIES)

REFUSAL_ATTRIBUTE = "access_refused"
Outcome = AccessAttempt.Outcome


@dataclass(frozen=True)
class Refusal:
    outcome: str  # an AccessAttempt.Outcome
    seconds: int
    kind: str = AccessAttempt.Kind.LOG_IN

    @property
    def message(self) -> str:
        wait = _wording(self.seconds)
        reset = self.kind == AccessAttempt.Kind.PASSWORD_RESET
        if self.outcome == Outcome.BUSY:
            return f"Too many {'password resets' if reset else 'log-ins'} on the site right now. Try again in {wait}."
        if self.outcome == Outcome.ADDRESS_LIMIT:
            return f"Too many attempts from your address. Try again in {wait}."
        if reset:
            return f"Too many reset links asked for this e-mail address. Try again in {wait}."
        return f"Too many failed log-ins for this account. Try again in {wait}."


def _wording(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _over_rate(key: str, limit: int, window: int) -> int:
    """Admit one event if the last ``window`` seconds hold fewer than ``limit``: 0, else the seconds to wait.

    The count over the last ``window`` seconds is estimated from two fixed
    windows, as nginx and Cloudflare do: the current one's count plus the
    previous one's, weighted by the share of it still within the last
    ``window`` seconds. A fixed window alone admits ``limit`` at the end of one
    window and ``limit`` more at the start of the next, twice the limit in a
    moment. The event is counted, then taken back if refused: refusals cost
    nothing, so they do not lengthen the wait; two processes racing for the
    last place may both be refused, never both admitted.
    """
    now = time.time()
    slot, into = divmod(now, window)
    current_key, previous_key = f"{key}:{int(slot)}", f"{key}:{int(slot) - 1}"
    kept = 2 * window + 1  # read as the previous window all through the next one
    cache.add(current_key, 0, timeout=kept)
    try:
        current = cache.incr(current_key)
    except ValueError:  # expired between add and incr
        cache.set(current_key, 1, timeout=kept)
        current = 1
    previous = cache.get(previous_key, 0)
    if previous * (1 - into / window) + current <= limit:
        return 0
    with contextlib.suppress(ValueError):  # the counter expired meanwhile: nothing left to take back
        cache.decr(current_key)
    return _seconds_until_admitted(previous, current - 1, limit, window, into)


def _seconds_until_admitted(previous: int, current: int, limit: int, window: int, into: float) -> int:
    """When the estimate with one more event first comes to ``limit``, if nothing else is admitted meanwhile."""
    room = limit - current - 1
    if room >= 0 and previous > 0:  # within this window, as the previous one's weight falls
        seconds = window * (1 - room / previous) - into
    else:  # in the next, as this window's count (then the previous) loses weight
        seconds = window - into + window * max(0.0, 1 - (limit - 1) / max(current, 1))
    return max(1, math.ceil(seconds))


# --- failures of one user name -------------------------------------------------------------------


def _failure_keys(username: str, address: str) -> tuple[str, str]:
    return f"login-failures:pair:{_digest(username, address)}", f"login-failures:account:{_digest(username)}"


def _delay(failures: int, allowed: int) -> int:
    """Seconds to wait after ``failures`` failures: none up to ``allowed``, then 1, 2, 4 ... up to the lockout."""
    if failures < allowed:
        return 0
    return min(settings.LOGIN_LOCKOUT_SECONDS, 2 ** min(failures - allowed, 30))


def wait_for_account(username: str, address: str) -> int:
    """Seconds this user name must still wait before it may try from this address; 0 when it may."""
    now = time.time()
    waits = []
    for key, allowed in zip(_failure_keys(username, address),
                            (settings.LOGIN_FAILURES_ALLOWED, settings.LOGIN_ACCOUNT_FAILURES_ALLOWED)):
        failures, last = cache.get(key) or (0, 0.0)
        waits.append(math.ceil(last + _delay(failures, allowed) - now))
    return max(0, *waits)


def record_failure(username: str, address: str) -> None:
    """Count one failed log-in for the user name, from this address and in all."""
    now = time.time()
    for key in _failure_keys(username, address):
        failures, _ = cache.get(key) or (0, 0.0)
        # Kept a while past the longest delay, so a guesser who pauses does not start again from nothing.
        cache.set(key, (failures + 1, now), timeout=settings.LOGIN_LOCKOUT_SECONDS * 4)


def clear_failures(username: str, address: str) -> None:
    """A successful log-in: the user name starts afresh from this address (and in all)."""
    cache.delete_many(list(_failure_keys(username, address)))


def login_refusal(username: str, address: str) -> Refusal | None:
    """Why a log-in must be refused before its password is checked, or None. Counts the attempt."""
    seconds = _over_rate("login-rate:site", settings.LOGIN_ATTEMPTS_PER_SECOND, 1)
    if seconds:
        return Refusal(Outcome.BUSY, seconds)
    seconds = _over_rate(f"login-rate:address:{_digest(address)}", settings.LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE, 60)
    if seconds:
        return Refusal(Outcome.ADDRESS_LIMIT, seconds)
    seconds = wait_for_account(username, address)
    return Refusal(Outcome.DELAYED, seconds) if seconds else None


def signup_refusal(address: str) -> Refusal | None:
    """Why a sign-up must be refused before it hashes a password, or None. Counts the attempt."""
    seconds = _over_rate("signup-rate:site", settings.SIGNUPS_PER_MINUTE, 60)
    if seconds:
        return Refusal(Outcome.BUSY, seconds)
    seconds = _over_rate(f"signup-rate:address:{_digest(address)}", settings.SIGNUPS_PER_ADDRESS_PER_HOUR, 3600)
    return Refusal(Outcome.ADDRESS_LIMIT, seconds) if seconds else None


def password_reset_refusal(address: str, email: str) -> Refusal | None:
    """Why a password-reset request must be refused before any e-mail is sent, or None. Counts the attempt."""
    reset = AccessAttempt.Kind.PASSWORD_RESET
    seconds = _over_rate("reset-rate:site", settings.PASSWORD_RESETS_PER_MINUTE, 60)
    if seconds:
        return Refusal(Outcome.BUSY, seconds, reset)
    seconds = _over_rate(f"reset-rate:address:{_digest(address)}", settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR, 3600)
    if seconds:
        return Refusal(Outcome.ADDRESS_LIMIT, seconds, reset)
    seconds = _over_rate(f"reset-rate:email:{_digest(email.strip().lower())}", settings.PASSWORD_RESETS_PER_EMAIL_PER_HOUR, 3600)
    return Refusal(Outcome.DELAYED, seconds, AccessAttempt.Kind.PASSWORD_RESET) if seconds else None


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


class LoginThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses before any password is checked.

    It authenticates nobody itself and has no ``get_user``, so sessions and
    ``force_login`` keep using ModelBackend.
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None, **credentials):
        if request is None or username is None:
            return None  # not an HTTP log-in (management commands, tests' Client.login)
        address = client_address(request)
        refusal = login_refusal(username, address)
        if refusal is not None:
            setattr(request, REFUSAL_ATTRIBUTE, refusal)
            record_attempt(AccessAttempt.Kind.LOG_IN, refusal.outcome, username=username, address=address,
                           user_agent=_user_agent(request), wait_seconds=refusal.seconds)
            raise PermissionDenied  # authenticate() stops here: no other backend is tried
        return None


@receiver(user_login_failed, dispatch_uid="config.throttling.count_failure")
def count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    username = credentials.get("username")
    if request is None or username is None or getattr(request, REFUSAL_ATTRIBUTE, None):
        return
    address = client_address(request)
    record_failure(username, address)
    record_attempt(AccessAttempt.Kind.LOG_IN, Outcome.FAILED, username=username, address=address,
                   user_agent=_user_agent(request))


@receiver(user_logged_in, dispatch_uid="config.throttling.clear_on_success")
def clear_on_success(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is None or request.method != "POST":
        return  # force_login, or a session made by another path (a campaign's entry): no password was tried
    address = client_address(request)
    clear_failures(user.get_username(), address)
    record_attempt(AccessAttempt.Kind.LOG_IN, Outcome.SUCCEEDED, username=user.get_username(), address=address,
                   user=user, user_agent=_user_agent(request))


class LoginThrottleMiddleware:
    """A refused log-in or sign-up answers 429 with Retry-After and says why on its form.

    Sign-ups are checked here, before the sign-up view runs (it hashes the new password).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is not None and response.status_code == 200:
            response.status_code = 429
            response["Retry-After"] = str(refusal.seconds)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = getattr(request, "resolver_match", None)
        if request.method != "POST" or match is None:
            return None
        if match.view_name == "password_reset":
            return self._check_password_reset(request)
        if match.view_name != "signup":
            return None
        address = client_address(request)
        refusal = signup_refusal(address)
        if refusal is None:
            return None
        setattr(request, REFUSAL_ATTRIBUTE, refusal)
        record_attempt(AccessAttempt.Kind.SIGN_UP, refusal.outcome, username=request.POST.get("username", ""),
                       address=address, user_agent=_user_agent(request), wait_seconds=refusal.seconds)
        form = SignupForm(initial={"username": request.POST.get("username", "")})  # nothing checked or hashed
        return TemplateResponse(request, "registration/signup.html", {"form": form})

    def _check_password_reset(self, request: HttpRequest):
        """A refused request sends nothing: the form again, saying why (429)."""
        address = client_address(request)
        email = request.POST.get("email", "")
        refusal = password_reset_refusal(address, email)
        kind = AccessAttempt.Kind.PASSWORD_RESET
        if refusal is None:
            record_attempt(kind, Outcome.REQUESTED, username=email, address=address, user_agent=_user_agent(request))
            return None
        setattr(request, REFUSAL_ATTRIBUTE, refusal)
        record_attempt(kind, refusal.outcome, username=email, address=address, user_agent=_user_agent(request),
                       wait_seconds=refusal.seconds)
        form = PasswordResetForm(initial={"email": email})
        return TemplateResponse(request, "registration/password_reset_form.html", {"form": form})

    def process_template_response(self, request: HttpRequest, response):
        """The form shows why (the password was not checked), not 'wrong password'."""
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        form = (response.context_data or {}).get("form") if refusal is not None else None
        if form is not None and hasattr(form, "non_field_errors"):
            form.errors[NON_FIELD_ERRORS] = form.error_class([refusal.message], error_class="nonfield")
        return response
