"""Framing stays strict (X-Frame-Options: DENY) except for a campaign whose marketplace frames its pages.

A campaign's ``frame_ancestors`` names the origins that may frame it. Its
own pages (/c/<slug>/...) answer with the site's Content-Security-Policy
whose ``frame-ancestors`` names them (everywhere else: ``'none'``), and
without X-Frame-Options (``allow_framing``);
the annotation pages a participant works on (/work/...) do the same while
the browser's session is bound to such a campaign (the study link stores its
origins in the session). Every other page keeps X-Frame-Options: DENY.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from campaigns.rules import CampaignInvalid, frame_origins

FRAME_SESSION_KEY = "campaign_frame_ancestors"
FRAMED_PREFIXES = ("/work/",)
CSP = "Content-Security-Policy"


def with_frame_ancestors(policy: str, origins: list[str]) -> str:
    """``policy`` with its frame-ancestors directive replaced by (or added as) one allowing ``origins``."""
    directives = [d.strip() for d in policy.split(";") if d.strip() and not d.strip().lower().startswith("frame-ancestors")]
    return "; ".join([*directives, "frame-ancestors " + " ".join(origins)])


def allow_framing(response: HttpResponse, frame_ancestors: str) -> HttpResponse:
    """Let the named origins (and only them) frame this response; nothing changes for an empty list."""
    try:
        origins = frame_origins(frame_ancestors or "")
    except CampaignInvalid:
        return response  # never loosen framing on a value that does not check
    if origins:
        response.xframe_options_exempt = True
        # The site's policy (CONTENT_SECURITY_POLICY, set by config.security_headers on responses without their own),
        # with only its frame-ancestors changed.
        policy = response.get(CSP) or getattr(settings, "CONTENT_SECURITY_POLICY", "")
        response[CSP] = with_frame_ancestors(policy, origins)
    return response


class CampaignFramingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(FRAMED_PREFIXES) and "text/html" in response.get("Content-Type", ""):
            session = getattr(request, "session", None)
            ancestors = session.get(FRAME_SESSION_KEY, "") if session is not None else ""
            if ancestors:
                allow_framing(response, ancestors)
        return response
