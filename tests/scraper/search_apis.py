"""Loopback stand-ins for the search APIs, answering the requests each documents with the answers it documents.

Each class registers an app on the tests' ``LocalServer`` (``web.apps``) and
answers from a small catalogue of photos the same server serves as JPEGs. The
shapes (field names, pagination, licence values, error bodies, headers) follow
the published documentation, cited in each class; the project's real adapters
(``scraper/sources/openverse.py``, ``wikimedia.py``, ``flickr.py``) and its
real ``PoliteFetcher`` call them over HTTP. ``hook`` lets a test answer a
request its own way (a 429, a captcha, a changed layout) before the
documented behaviour.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from tests.catalog.images import jpeg
from tests.scraper.local_server import LocalServer, Request, Route

JSON = {"Content-Type": "application/json"}


def json_route(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Route:
    return Route(json.dumps(body).encode(), status=status, headers={**JSON, **(headers or {})})


@dataclass
class Photo:
    key: str
    title: str
    creator: str
    license: str  # an Openverse-style code: by, by-sa, by-nc, cc0, pdm, ...
    version: str = "2.0"
    seed: int = 0
    image_url: str | None = None  # None: served by the test server under /img/<key>.jpg; "": the result has none

    def url(self, web: LocalServer) -> str:
        return web.url(f"/img/{self.key}.jpg") if self.image_url is None else self.image_url


def photos(prefix: str, count: int, *, license: str = "by", version: str = "2.0", seed: int = 0) -> list[Photo]:  # noqa: A002
    return [Photo(f"{prefix}-{i}", f"{prefix} photo {i}", f"Creator {i}", license, version, seed + i) for i in range(count)]


def serve_images(web: LocalServer, catalogue: list[Photo]) -> None:
    for photo in catalogue:
        if photo.image_url is None and photo.seed:
            web.routes[f"/img/{photo.key}.jpg"] = Route(jpeg(photo.seed), headers={"Content-Type": "image/jpeg"})


Hook = Callable[[Request], Route | None]


class FakeOpenverse:
    """Openverse's API, as documented.

    - ``GET /v1/images/``: https://api.openverse.org/v1/#tag/images/operation/images_search
      (query ``q``, ``page`` from 1, ``page_size``, ``license`` codes, ``license_type`` of
      ``commercial``/``modification``); the answer ``{"result_count", "page_count", "page_size",
      "page", "results"}``, ``page_count`` at most 20 (the API's pagination depth); each result's
      fields as the API's media serializer lists them (id, title, indexed_on, foreign_landing_url,
      url, creator, creator_url, license, license_version, license_url, provider, source, category,
      filesize, filetype, tags, attribution, fields_matched, mature, height, width, thumbnail,
      detail_url, related_url).
    - Anonymous requests: at most 20 a page, more is a 401 whose ``detail`` is the validator's
      message; a page past 20 is a 400 with ``{"detail": {"page": [...]}}``; a throttled request is
      a 429 with ``Retry-After`` and ``{"detail": "Request was throttled. Expected available in N
      seconds."}``: https://docs.openverse.org/api/reference/authentication_and_throttling.html
    - ``POST /v1/auth_tokens/token/`` (form: grant_type=client_credentials, client_id,
      client_secret) answers ``{"access_token", "scope", "expires_in", "token_type": "Bearer"}``,
      wrong credentials a 401 ``{"error": "invalid_client"}`` (RFC 6749 5.2):
      https://api.openverse.org/v1/#tag/auth/operation/token
    """

    LICENSE_GROUPS = {"commercial": lambda code: "nc" not in code, "modification": lambda code: "nd" not in code}

    def __init__(self, web: LocalServer, catalogue: dict[str, list[Photo]], *, client: tuple[str, str] | None = None):
        self.web, self.catalogue, self.client = web, catalogue, client
        self.valid_tokens: set[str] = set()
        self.issued = 0
        self.hook: Hook | None = None
        web.apps["/v1/images/"] = self.images
        web.apps["/v1/auth_tokens/token/"] = self.token
        serve_images(web, [p for ps in catalogue.values() for p in ps])

    def result(self, photo: Photo) -> dict:
        code = photo.license
        name = ("CC0" if code == "cc0" else "Public Domain Mark" if code == "pdm" else f"CC {code.upper()}") + f" {photo.version}"
        license_url = (
            "https://creativecommons.org/publicdomain/zero/1.0/" if code == "cc0"
            else "https://creativecommons.org/publicdomain/mark/1.0/" if code == "pdm"
            else f"https://creativecommons.org/licenses/{code}/{photo.version}/"
        )  # fmt: skip
        marked = "is marked with" if code in ("cc0", "pdm") else "is licensed under"
        identifier = str(uuid.uuid5(uuid.NAMESPACE_URL, photo.key))
        api = self.web.url("/v1/images")
        return {
            "id": identifier,
            "title": photo.title,
            "indexed_on": "2021-04-13T12:00:00Z",
            "foreign_landing_url": f"https://www.flickr.com/photos/someone/{photo.key}/",
            "url": photo.url(self.web),
            "creator": photo.creator,
            "creator_url": "https://www.flickr.com/photos/someone",
            "license": code,
            "license_version": photo.version,
            "license_url": license_url,
            "provider": "flickr",
            "source": "flickr",
            "category": "photograph",
            "filesize": None,
            "filetype": "jpg",
            "tags": [{"name": "people", "accuracy": None}],
            "attribution": f'"{photo.title}" by {photo.creator} {marked} {name}. To view a copy of this license, visit {license_url}.',
            "fields_matched": ["title"],
            "mature": False,
            "height": 240,
            "width": 320,
            "thumbnail": f"{api}/{identifier}/thumb/",
            "detail_url": f"{api}/{identifier}/",
            "related_url": f"{api}/{identifier}/related/",
            "unstable__sensitivity": [],
        }

    def token(self, request: Request) -> Route:
        form = request.form
        if self.client is None or form.get("grant_type") != "client_credentials" or (form.get("client_id"), form.get("client_secret")) != self.client:
            return json_route({"error": "invalid_client"}, 401)
        self.issued += 1
        token = f"token-{self.issued}"
        self.valid_tokens.add(token)
        return json_route({"access_token": token, "scope": "read write groups", "expires_in": 36000, "token_type": "Bearer"})

    def images(self, request: Request) -> Route:
        if self.hook is not None and (answer := self.hook(request)) is not None:
            return answer
        query = request.query
        authorization = request.headers.get("Authorization", "")
        authenticated = authorization.removeprefix("Bearer ") in self.valid_tokens
        if authorization and not authenticated:
            return json_route({"detail": "Authentication credentials were not provided."}, 401)
        page, page_size = int(query.get("page", 1)), int(query.get("page_size", 20))
        if page_size > 20 and not authenticated:
            return json_route({"detail": "Ensure this value is less than or equal to 20."}, 401)
        if page > 20:
            return json_route({"detail": {"page": ["Ensure this value is less than or equal to 20."]}}, 400)
        matches = list(self.catalogue.get(query.get("q", ""), []))
        if query.get("license"):
            matches = [p for p in matches if p.license in query["license"].split(",")]
        for group in filter(None, query.get("license_type", "").split(",")):
            matches = [p for p in matches if self.LICENSE_GROUPS[group](p.license)]
        start = (page - 1) * page_size
        return json_route(
            {
                "result_count": len(matches),
                "page_count": min(20, math.ceil(len(matches) / page_size)),
                "page_size": page_size,
                "page": page,
                "results": [self.result(p) for p in matches[start : start + page_size]],
            }
        )


class FakeCommons:
    """Wikimedia Commons' MediaWiki Action API, as documented.

    - ``action=query&generator=search&gsrnamespace=6&gsrsearch=…&gsrlimit=…`` with
      ``prop=imageinfo&iiprop=url|size|mime|extmetadata``: https://www.mediawiki.org/wiki/API:Search
      and https://www.mediawiki.org/wiki/API:Imageinfo. The answer (``format=json``, the default
      format version) keeps pages in an object keyed by page id, each with its search rank in
      ``index``; a query with no result answers ``{"batchcomplete": ""}`` alone.
    - More results: ``"continue": {"gsroffset": N, "continue": "gsroffset||"}``, sent back as is:
      https://www.mediawiki.org/wiki/API:Continue
    - ``extmetadata`` values ``{"value", "source", "hidden"}`` with ``LicenseShortName``,
      ``LicenseUrl``, ``UsageTerms``, ``Artist`` (HTML), ``Credit``, ``ObjectName``:
      https://commons.wikimedia.org/wiki/Commons:Machine-readable_data
    - ``maxlag``: a lagged cluster answers HTTP 200 with ``{"error": {"code": "maxlag", "info":
      "Waiting for $host: $lag seconds lagged", "host", "lag", "*"}}`` and the headers
      ``Retry-After`` and ``X-Database-Lag``: https://www.mediawiki.org/wiki/Manual:Maxlag_parameter
    - A client without a descriptive User-Agent is refused with an error page saying "Scripts
      should use an informative User-Agent string with contact information, or they may be blocked
      without notice.": https://foundation.wikimedia.org/wiki/Policy:Wikimedia_Foundation_User-Agent_Policy
    """

    PATH = "/w/api.php"

    def __init__(self, web: LocalServer, catalogue: dict[str, list[Photo]], *, contact: str = "tests@example.org"):
        self.web, self.catalogue, self.contact = web, catalogue, contact
        self.hook: Hook | None = None
        self.lagged = 0  # answer this many requests with a maxlag error first
        web.apps[self.PATH] = self.api
        serve_images(web, [p for ps in catalogue.values() for p in ps])

    def page(self, photo: Photo, index: int, pageid: int) -> dict:
        licence = {"cc0": "CC0", "pdm": "Public domain"}.get(photo.license, f"CC {photo.license.upper()} {photo.version}")
        url = {"cc0": "https://creativecommons.org/publicdomain/zero/1.0/deed.en", "pdm": ""}.get(
            photo.license, f"https://creativecommons.org/licenses/{photo.license}/{photo.version}"
        )
        meta = {
            "ObjectName": {"value": photo.title, "source": "mediawiki-metadata", "hidden": ""},
            "Credit": {"value": '<span class="int-own-work" lang="en">Own work</span>', "source": "commons-desc-page", "hidden": ""},
            "Artist": {"value": f'<a href="//commons.wikimedia.org/wiki/User:{photo.creator}" title="User:x">{photo.creator}</a>', "source": "commons-desc-page"},
            "LicenseShortName": {"value": licence, "source": "commons-desc-page", "hidden": ""},
            "UsageTerms": {"value": f"Creative Commons {licence}", "source": "commons-desc-page", "hidden": ""},
            "AttributionRequired": {"value": "false" if photo.license in ("cc0", "pdm") else "true", "source": "commons-desc-page", "hidden": ""},
        }
        if url:
            meta["LicenseUrl"] = {"value": url, "source": "commons-desc-page", "hidden": ""}
        if photo.license == "":
            meta = {k: v for k, v in meta.items() if k not in ("LicenseShortName", "LicenseUrl", "UsageTerms")}
        title = f"File:{photo.title.replace(' ', '_')}.jpg"
        return {
            "pageid": pageid,
            "ns": 6,
            "title": title,
            "index": index,
            "imagerepository": "local",
            "imageinfo": [
                {
                    "size": 12345,
                    "width": 320,
                    "height": 240,
                    "url": photo.url(self.web),
                    "descriptionurl": f"https://commons.wikimedia.org/wiki/{title}",
                    "descriptionshorturl": f"https://commons.wikimedia.org/w/index.php?curid={pageid}",
                    "mime": "image/jpeg",
                    "extmetadata": meta,
                }
            ],
        }

    def api(self, request: Request) -> Route:
        if self.hook is not None and (answer := self.hook(request)) is not None:
            return answer
        if self.contact not in request.headers.get("User-Agent", ""):
            return Route(
                b"<!DOCTYPE html><html><body><p>Scripts should use an informative User-Agent string with contact information, "
                b"or they may be blocked without notice.</p></body></html>",
                status=403,
                headers={"Content-Type": "text/html; charset=utf-8"},
            )
        if self.lagged:
            self.lagged -= 1
            error = {
                "code": "maxlag",
                "info": "Waiting for 10.64.48.35: 7 seconds lagged.",
                "host": "10.64.48.35",
                "lag": 7,
                "type": "db",
                "*": "See https://commons.wikimedia.org/w/api.php for API usage.",
            }
            return json_route({"error": error, "servedby": "mw2291"}, headers={"Retry-After": "0", "X-Database-Lag": "7"})
        query = request.query
        assert query.get("maxlag"), "every request carries maxlag"
        assert (query.get("generator"), query.get("gsrnamespace"), query.get("prop")) == ("search", "6", "imageinfo")
        text = query.get("gsrsearch", "").removesuffix(" filetype:bitmap")
        matches = self.catalogue.get(text, [])
        offset, limit = int(query.get("gsroffset", 0)), int(query.get("gsrlimit", 10))
        chosen = matches[offset : offset + limit]
        if not chosen:
            return json_route({"batchcomplete": ""})
        body: dict = {"batchcomplete": ""}
        if offset + limit < len(matches):
            body["continue"] = {"gsroffset": offset + limit, "continue": "gsroffset||"}
        # Pages keyed by page id (not in rank order): the client orders them by "index".
        pages = {str(9000 + offset + i): self.page(p, offset + i + 1, 9000 + offset + i) for i, p in reversed(list(enumerate(chosen)))}
        body["query"] = {"pages": pages}
        return json_route(body)


class FakeFlickr:
    """Flickr's REST API in JSON, as documented.

    - ``format=json&nojsoncallback=1``: ``{"stat": "ok", ...}``, or ``{"stat": "fail", "code": N,
      "message": "..."}`` with HTTP 200: https://www.flickr.com/services/api/response.json.html
    - ``flickr.photos.licenses.getInfo``: ``{"licenses": {"license": [{"id", "name", "url"}]}}``
      with ids 0 to 10 (0 All Rights Reserved, 1 Attribution-NonCommercial-ShareAlike License ...
      9 Public Domain Dedication (CC0), 10 Public Domain Mark):
      https://www.flickr.com/services/api/flickr.photos.licenses.getInfo.html
    - ``flickr.photos.search``: ``text``, ``license`` (comma-separated ids), ``extras`` (license,
      owner_name, url_o ...), ``per_page`` (at most 500), ``page`` from 1; the answer ``{"photos":
      {"page", "pages", "perpage", "total", "photo": [...]}}``, at most the first 4,000 results of a
      search; error 100 "Invalid API Key" ("The API key passed was not valid or has expired"):
      https://www.flickr.com/services/api/flickr.photos.search.html
    """

    PATH = "/services/rest/"
    LICENSES = [
        (0, "All Rights Reserved", ""),
        (1, "Attribution-NonCommercial-ShareAlike License", "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
        (2, "Attribution-NonCommercial License", "https://creativecommons.org/licenses/by-nc/2.0/"),
        (3, "Attribution-NonCommercial-NoDerivs License", "https://creativecommons.org/licenses/by-nc-nd/2.0/"),
        (4, "Attribution License", "https://creativecommons.org/licenses/by/2.0/"),
        (5, "Attribution-ShareAlike License", "https://creativecommons.org/licenses/by-sa/2.0/"),
        (6, "Attribution-NoDerivs License", "https://creativecommons.org/licenses/by-nd/2.0/"),
        (7, "No known copyright restrictions", "https://www.flickr.com/commons/usage/"),
        (8, "United States Government Work", "http://www.usa.gov/copyright.shtml"),
        (9, "Public Domain Dedication (CC0)", "https://creativecommons.org/publicdomain/zero/1.0/"),
        (10, "Public Domain Mark", "https://creativecommons.org/publicdomain/mark/1.0/"),
    ]
    IDS = {"all-rights-reserved": 0, "by-nc-sa": 1, "by-nc": 2, "by-nc-nd": 3, "by": 4, "by-sa": 5, "by-nd": 6, "cc0": 9, "pdm": 10}

    def __init__(self, web: LocalServer, catalogue: dict[str, list[Photo]], *, api_key: str = "test-key"):
        self.web, self.catalogue, self.api_key = web, catalogue, api_key
        self.expired = False
        self.hook: Hook | None = None
        web.apps[self.PATH] = self.api
        serve_images(web, [p for ps in catalogue.values() for p in ps])

    def photo(self, photo: Photo, index: int) -> dict:
        entry = {
            "id": str(53_000_000_000 + index),
            "owner": "12037949754@N01",
            "secret": "a123456",
            "server": "65535",
            "farm": 66,
            "title": photo.title,
            "ispublic": 1,
            "isfriend": 0,
            "isfamily": 0,
            "license": str(self.IDS.get(photo.license, 0)),
            "ownername": photo.creator,
        }
        url = photo.url(self.web)
        if url:  # url_o is absent when the owner does not share the original and no other size was asked
            entry.update({"url_o": url, "height_o": 240, "width_o": 320})
        return entry

    def api(self, request: Request) -> Route:
        if self.hook is not None and (answer := self.hook(request)) is not None:
            return answer
        query = request.query
        assert (query.get("format"), query.get("nojsoncallback")) == ("json", "1")
        if query.get("api_key") != self.api_key or self.expired:
            message = "Invalid API Key (Key has expired)" if self.expired else "Invalid API Key (Key has invalid format)"
            return json_route({"stat": "fail", "code": 100, "message": message})
        if query.get("method") == "flickr.photos.licenses.getInfo":
            return json_route({"licenses": {"license": [{"id": i, "name": n, "url": u} for i, n, u in self.LICENSES]}, "stat": "ok"})
        if query.get("method") != "flickr.photos.search":
            return json_route({"stat": "fail", "code": 112, "message": f"Method \"{query.get('method')}\" not found"})
        matches = list(self.catalogue.get(query.get("text", ""), []))
        if query.get("license"):
            allowed = {int(i) for i in query["license"].split(",")}
            matches = [p for p in matches if self.IDS.get(p.license, 0) in allowed]
        page, per_page = int(query.get("page", 1)), min(500, int(query.get("per_page", 100)))
        total = len(matches)
        reachable = matches[:4000]
        start = (page - 1) * per_page
        chosen = reachable[start : start + per_page]
        photos = {
            "page": page,
            "pages": math.ceil(total / per_page) if total else 0,
            "perpage": per_page,
            "total": total,
            "photo": [self.photo(p, start + i) for i, p in enumerate(chosen)],
        }
        return json_route({"photos": photos, "stat": "ok"})
