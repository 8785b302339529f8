"""The licence policy at the door: every discovered item's licence is read, and checked before anything is fetched.

A job may be restricted to licences (``params["licenses"]``: ``any``, the
default; ``redistribution``; ``commercial``; ``commercial-modification``; or a
list of codes from ``emotic.licenses.LICENSES``). Each item's licence, as its
source named it, is read into a code (``emotic.licenses.parse_license``):

- read and allowed: the item goes on, its licence stored as a code, a name and
  the licence's URL (the name the source gave is kept in ``extra``);
- read but not allowed: refused as ``license_not_allowed``;
- not given: ``unknown``, kept or refused as ``license_unknown`` by
  ``SCRAPER_UNKNOWN_LICENSE`` (or the job's ``params["unknown_license"]``);
- given but unreadable: refused as ``license_unparseable`` (never stored
  with a licence guessed, nor without one).

Refused items are counted on the job by reason, like every rejection.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.conf import settings

from emotic.errors import FieldError
from emotic.licenses import LICENSES, POLICIES, UNKNOWN, UnparseableLicense, allowed_by, check_policy, parse_license
from scraper.models import RejectReason
from scraper.sources.base import DiscoveredItem

UNKNOWN_CHOICES = ("keep", "refuse")


@dataclass(frozen=True)
class LicensePolicy:
    allowed: str | list[str]
    unknown: str  # keep or refuse

    @classmethod
    def for_params(cls, params: dict) -> LicensePolicy:
        """The job's policy; a ``FieldError`` names ``licenses`` or ``unknown_license`` when it is malformed."""
        allowed = check_policy(params.get("licenses") or "any")
        unknown = params.get("unknown_license") or settings.SCRAPER_UNKNOWN_LICENSE
        if unknown not in UNKNOWN_CHOICES:
            raise FieldError("unknown_license", f"must be keep or refuse, got {unknown!r}")
        return cls(allowed, unknown)

    def describe(self) -> str:
        allowed = POLICIES[self.allowed] if isinstance(self.allowed, str) else "only " + ", ".join(self.allowed)
        return f"{allowed}; unknown licences {'kept' if self.unknown == 'keep' else 'refused'}"

    def judge(self, item: DiscoveredItem) -> DiscoveredItem:
        """The item with its licence read (code, name, URL), or refused for it."""
        if item.rejection is not None:
            return item
        if item.license_code in LICENSES:  # the source knows it (a dataset's own terms)
            return self._allowed(item, item.license_code, item.license or LICENSES[item.license_code].name)
        try:
            parsed = parse_license(item.license, item.license_url)
        except UnparseableLicense as error:
            return replace(item, rejection=(RejectReason.LICENSE_UNPARSEABLE, f"license: {error.reason}"))
        if parsed is None:
            if self.unknown == "refuse":
                detail = "the source gives no licence, and unknown licences are refused (SCRAPER_UNKNOWN_LICENSE or the job)"
                return replace(item, license_code=UNKNOWN, rejection=(RejectReason.LICENSE_UNKNOWN, detail))
            return replace(item, license_code=UNKNOWN)
        as_given = item.license if item.license and item.license != parsed.name else ""
        extra = {**item.extra, "license_as_given": as_given} if as_given else item.extra
        item = replace(item, license_url=item.license_url or parsed.url, extra=extra)
        return self._allowed(item, parsed.code, parsed.name)

    def _allowed(self, item: DiscoveredItem, code: str, name: str) -> DiscoveredItem:
        item = replace(item, license_code=code, license=name[:300])
        if not allowed_by(self.allowed, code):
            return replace(item, rejection=(RejectReason.LICENSE_NOT_ALLOWED, f"license: {name} is not allowed here ({self.describe()})"))
        return item
