"""Image licences: the ones sources report, read into one code each, with what each allows.

Search services and datasets name licences in many ways: Openverse by code and
version (``by-sa`` + ``4.0``), Wikimedia Commons by short name (``CC BY-SA
4.0``, ``Public domain``), Flickr by a numeric id whose name and URL its
``flickr.photos.licenses.getInfo`` lists (``Attribution License``,
``https://creativecommons.org/licenses/by/2.0/``), COCO by name and URL, a URL
list by whatever its author typed. ``parse_license`` reads all of these into a
``ParsedLicense``: a code from ``LICENSES``, the version when one is named, a
display name and the licence's URL. Anything it cannot read is an
``UnparseableLicense`` (the caller counts the item; it is never stored with its
licence guessed).

``POLICIES`` are the restrictions a crawl may ask for: licences that allow
redistribution (a dataset meant for release), commercial use, or commercial
use and modification. Django-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from emotic.errors import FieldError

UNKNOWN = "unknown"  # the source gave no licence (kept or refused by the crawl's setting)


@dataclass(frozen=True)
class License:
    code: str
    name: str  # how it is shown, before any version
    redistribution: bool  # copies may be shared (a released dataset)
    commercial: bool  # commercial use allowed
    modification: bool  # derivatives (crops, edits) allowed
    attribution: bool  # the creator must be credited
    url: str = ""  # where its terms are, when it has no versions


_CC = "https://creativecommons.org/licenses/{code}/{version}/"
LICENSES: dict[str, License] = {
    lic.code: lic
    for lic in (
        License("cc0", "CC0", True, True, True, False, "https://creativecommons.org/publicdomain/zero/1.0/"),
        License("pdm", "Public Domain Mark", True, True, True, False, "https://creativecommons.org/publicdomain/mark/1.0/"),
        License("public-domain", "Public domain", True, True, True, False),
        License("by", "CC BY", True, True, True, True),
        License("by-sa", "CC BY-SA", True, True, True, True),
        License("by-nd", "CC BY-ND", True, True, False, True),
        License("by-nc", "CC BY-NC", True, False, True, True),
        License("by-nc-sa", "CC BY-NC-SA", True, False, True, True),
        License("by-nc-nd", "CC BY-NC-ND", True, False, False, True),
        License("no-known-copyright", "No known copyright restrictions", True, True, True, False, "https://www.flickr.com/commons/usage/"),
        License("us-government", "United States Government Work", True, True, True, False, "https://www.usa.gov/government-works"),
        License("gfdl", "GNU Free Documentation License", True, True, True, True, "https://www.gnu.org/licenses/fdl.html"),
        License("all-rights-reserved", "All rights reserved", False, False, False, True),
        License("dataset-terms", "The dataset's own terms of use", False, False, False, True),
    )
}
CC_CODES = ("by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")

# What a crawl job may be restricted to (``CrawlJob.params["licenses"]``), besides a list of codes.
POLICIES: dict[str, str] = {
    "any": "any licence",
    "redistribution": "licences allowing redistribution (a dataset for public release)",
    "commercial": "licences allowing redistribution and commercial use",
    "commercial-modification": "licences allowing redistribution, commercial use and modification",
}


class UnparseableLicense(FieldError):
    """A licence given in a form ``parse_license`` does not read; ``field`` is ``license``."""

    def __init__(self, text: str, url: str = ""):
        shown = text if len(text) <= 120 else text[:117] + "..."
        super().__init__("license", f"{shown!r}{f' ({url})' if url else ''} is not a licence this platform reads")


@dataclass(frozen=True)
class ParsedLicense:
    code: str
    version: str = ""
    url: str = ""

    @property
    def license(self) -> License:
        return LICENSES[self.code]

    @property
    def name(self) -> str:
        return f"{self.license.name} {self.version}".strip()


def allowed_by(policy: str | list[str] | tuple[str, ...], code: str) -> bool:
    """Whether a licence code passes a policy (a ``POLICIES`` name or a list of codes)."""
    if isinstance(policy, (list, tuple)):
        return code in policy
    lic = LICENSES[code]
    if policy == "any":
        return True
    if policy == "redistribution":
        return lic.redistribution
    if policy == "commercial":
        return lic.redistribution and lic.commercial
    if policy == "commercial-modification":
        return lic.redistribution and lic.commercial and lic.modification
    raise FieldError("licenses", f"unknown licence policy {policy!r}")


def check_policy(policy: object) -> str | list[str]:
    """The policy as given, or a FieldError naming ``licenses`` and what it may be."""
    if isinstance(policy, str) and policy in POLICIES:
        return policy
    if isinstance(policy, (list, tuple)) and policy and all(isinstance(code, str) for code in policy):
        unknown = [code for code in policy if code not in LICENSES]
        if not unknown:
            return list(policy)
        raise FieldError("licenses", f"unknown licence code {unknown[0]!r} (known: {', '.join(LICENSES)})")
    raise FieldError("licenses", f"must be one of {', '.join(POLICIES)} or a list of licence codes, got {policy!r}")


def codes_allowed(policy: str | list[str]) -> list[str]:
    return [code for code in LICENSES if allowed_by(policy, code)]


def license_url(code: str, version: str = "") -> str:
    if code in CC_CODES:
        return _CC.format(code=code, version=version) if version else ""
    return LICENSES[code].url


# --- reading what sources say -------------------------------------------------------------
_CC_URL = re.compile(r"^/licenses/(?P<code>by(?:-nc)?(?:-nd|-sa)?)(?:/(?P<version>\d(?:\.\d)?))?", re.IGNORECASE)
_CC_SHORT = re.compile(
    r"^(?:cc[ -]?)?(?P<code>by(?:[ -]nc)?(?:[ -](?:sa|nd))?)(?:[ -](?P<version>\d(?:\.\d)?))?(?:[ -][a-z]{2,3}(?:[ -][a-z]{2})?)?$"
)
_WORDS = (("noncommercial", "nc"), ("non-commercial", "nc"), ("sharealike", "sa"), ("share-alike", "sa"), ("share alike", "sa"),
          ("noderivatives", "nd"), ("noderivs", "nd"), ("no derivatives", "nd"), ("no-derivs", "nd"))
_NAMED = (
    (re.compile(r"^(?:cc[ -]?0|cc[ -]zero|creative commons zero)(?:[ -]1\.0)?(?: universal)?$|\(cc0\)|^public domain dedication"), "cc0"),
    (re.compile(r"^(?:pdm|public domain mark)(?:[ -]1\.0)?$|^pd[ -]?mark"), "pdm"),
    (re.compile(r"^(?:public domain|pd)$|^pd[ -]"), "public-domain"),
    (re.compile(r"^no known copyright restrictions"), "no-known-copyright"),
    (re.compile(r"^(?:united states|u\.?s\.?) government work|^pd[ -]usgov"), "us-government"),
    (re.compile(r"^(?:gfdl|gnu free documentation licen[cs]e)(?:[ -]1\.[23])?"), "gfdl"),
    (re.compile(r"^all rights reserved$"), "all-rights-reserved"),
)


def _from_url(url: str) -> ParsedLicense | None:
    parts = urlsplit(url.strip())
    host, path = (parts.hostname or "").lower().removeprefix("www."), parts.path
    if host == "creativecommons.org":
        if path.startswith("/publicdomain/zero/"):
            return ParsedLicense("cc0", "1.0", LICENSES["cc0"].url)
        if path.startswith("/publicdomain/mark/"):
            return ParsedLicense("pdm", "1.0", LICENSES["pdm"].url)
        match = _CC_URL.match(path)
        if match:
            code, version = match["code"].lower(), match["version"] or ""
            return ParsedLicense(code, version, license_url(code, version) or url.strip())
    if host == "flickr.com" and path.startswith("/commons/usage"):
        return ParsedLicense("no-known-copyright", "", LICENSES["no-known-copyright"].url)
    if host == "usa.gov" and ("copyright" in path or "government-works" in path):
        return ParsedLicense("us-government", "", LICENSES["us-government"].url)
    if host == "gnu.org" and "fdl" in path:
        return ParsedLicense("gfdl", "", LICENSES["gfdl"].url)
    return None


def _from_text(text: str) -> ParsedLicense | None:
    lowered = " ".join(text.lower().replace("_", " ").split())
    if lowered in LICENSES:  # Openverse's codes (its version comes separately)
        return ParsedLicense(lowered)
    short = _CC_SHORT.match(lowered.removeprefix("creative commons ").removesuffix(" license").removesuffix(" licence"))
    if short:
        code = re.sub(r"[ -]", "-", short["code"])
        return ParsedLicense(code, short["version"] or "")
    for pattern, code in _NAMED:
        if pattern.search(lowered):
            return ParsedLicense(code)
    # Long names, "Attribution-NonCommercial-ShareAlike License" (Flickr, COCO): only when they say they are a
    # licence, since Commons' own "Attribution" licence is not CC BY.
    if lowered.startswith(("attribution", "creative commons attribution")) and re.search(r"licen[cs]e|creative commons", lowered):
        code = "by"
        for word, part in _WORDS:
            if word in lowered and f"-{part}" not in code:
                code += f"-{part}"
        code = {"by-sa-nc": "by-nc-sa", "by-nd-nc": "by-nc-nd"}.get(code, code)
        version = re.search(r"\b(\d\.\d)\b", lowered)
        if code in LICENSES:
            return ParsedLicense(code, version[1] if version else "")
    return None


def parse_license(text: str = "", url: str = "", version: str = "") -> ParsedLicense | None:
    """The licence a source reports, from its name, its URL or both; None when it gave neither.

    The URL wins where both are given and it names a known licence (its version
    is exact). Raises ``UnparseableLicense`` for anything else.
    """
    text, url, version = (text or "").strip(), (url or "").strip(), (version or "").strip()
    if not text and not url:
        return None
    parsed = _from_url(url) if url else None
    if parsed is None and text:
        # "Attribution License (http://creativecommons.org/licenses/by/2.0/)": COCO's name with its URL.
        inner = re.search(r"\((https?://[^)\s]+)\)", text)
        parsed = _from_url(inner[1]) if inner else None
        if parsed is None:
            parsed = _from_text(re.sub(r"\s*\(https?://[^)]*\)", "", text))
    if parsed is None:
        raise UnparseableLicense(text, url)
    if version and not parsed.version and parsed.code in CC_CODES:
        parsed = ParsedLicense(parsed.code, version)
    if not parsed.url:
        parsed = ParsedLicense(parsed.code, parsed.version, license_url(parsed.code, parsed.version) or url)
    return parsed


def attribution_line(title: str, creator: str, parsed: ParsedLicense | None, *, via: str = "") -> str:
    """A credit line in the form Creative Commons recommends: title, creator, licence (with its URL), where from."""
    parts = [f'"{title}"' if title else "This image"]
    if creator:
        parts.append(f"by {creator}")
    line = " ".join(parts)
    if parsed is not None:
        line += f", {parsed.name}" + (f" ({parsed.url})" if parsed.url else "")
    if via:
        line += f", via {via}"
    return line
