"""Headers every response carries: a Content-Security-Policy and a Permissions-Policy.

The pages load scripts only from the site itself (no inline script, no
``eval``): a script injected into a page cannot run. Styles may also be
inline, because Django's admin and Swagger UI ship ``<style>`` blocks (and
an injected style cannot run code). Images may come from the storage
server when workers' images are redirected there. The policies are
settings (``CONTENT_SECURITY_POLICY``, ``PERMISSIONS_POLICY``); a view that
sets its own header keeps it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

# Browser features no page of the platform uses: a page (or a script in one) may not ask for them.
DEFAULT_PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen", "geolocation",
        "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking", "browsing-topics",
    )
)


def default_content_security_policy(image_sources: list[str]) -> str:
    """The site's own scripts only; images also from ``image_sources`` (the storage server's origin)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:", *image_sources],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def storage_image_sources(backend: str, endpoint_url: str, redirect_to_storage: bool) -> list[str]:
    """Where the browser fetches workers' images from when they are redirected to signed storage URLs."""
    if backend != "s3" or not redirect_to_storage:
        return []
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        return [f"{parts.scheme}://{parts.netloc}"] if parts.scheme and parts.netloc else []
    return ["https://*.amazonaws.com"]


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY:
            response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if settings.PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
