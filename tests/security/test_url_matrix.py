"""Every URL of the project against every role: each gets exactly what it should.

The routes come from the resolver, so a new endpoint without an expectation
here fails ``test_every_route_has_an_expectation``. The admin is one family:
every registered model's standard pages follow one rule (checked on every
model), and the admin's own and custom pages are listed one by one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from annotator.models import ApiToken
from tests.security.conftest import ROLES, World
from tests.security.url_patterns import all_routes


@dataclass(frozen=True)
class Status:
    code: int

    def check(self, response) -> str | None:
        if response.status_code != self.code:
            return f"expected {self.code}, got {response.status_code} {response.get('Location', '')}".strip()
        return None


@dataclass(frozen=True)
class Redirect:
    to: str  # the path of the Location, query string left out
    prefix: bool = False  # True: the path only starts with ``to``
    status: int = 302  # 301: the page moved for good

    def check(self, response) -> str | None:
        location = response.get("Location", "")
        path = location.split("?", 1)[0]
        if response.status_code != self.status or not (path.startswith(self.to) if self.prefix else path == self.to):
            return f"expected a redirect to {self.to}, got {response.status_code} {location}".strip()
        return None


OK, CREATED = Status(200), Status(201)
UNAUTHORIZED, FORBIDDEN, NOT_FOUND = Status(401), Status(403), Status(404)
LOGIN, ADMIN_LOGIN, TO_ADMIN = Redirect("/accounts/login/"), Redirect("/admin/login/"), Redirect("/admin/")


def roles(anonymous, worker_a, worker_b, blocked, unqualified, staff, superuser) -> dict:
    return dict(zip(ROLES, (anonymous, worker_a, worker_b, blocked, unqualified, staff, superuser), strict=True))


def everyone(outcome) -> dict:
    return dict.fromkeys(ROLES, outcome)


def signed_in(anonymous, others) -> dict:
    return {**dict.fromkeys(ROLES, others), "anonymous": anonymous}


def worker_page(outcome, **others) -> dict:
    """A worker's page: the anonymous are sent to log in, staff to the admin (staff are never workers)."""
    return {**signed_in(LOGIN, outcome), "staff": TO_ADMIN, "superuser": TO_ADMIN, **others}


def worker_api(outcome, **others) -> dict:
    """The worker API: the anonymous must authenticate; a staff account is no worker (403)."""
    return {**signed_in(UNAUTHORIZED, outcome), "staff": FORBIDDEN, "superuser": FORBIDDEN, **others}


def admin_page(staff, superuser=OK) -> dict:
    """Anyone who is not staff is sent to the admin's log-in page."""
    return roles(ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, ADMIN_LOGIN, staff, superuser)


@dataclass(frozen=True)
class Endpoint:
    route: str
    method: str  # "get", "post" (form) or "json" (POST with a JSON body)
    url: Callable[[World], str]
    expected: dict
    body: dict = field(default_factory=dict)


ANSWER = {
    "submission_id": "6f1c2b4e-1f2a-4c3b-9d8e-0a1b2c3d4e5f", "categories": ["Happiness"],
    "valence": 5, "arousal": 5, "dominance": 5, "gender": "Female", "age": "Adult",
}
# The API asks a caller without credentials to authenticate (401 with WWW-Authenticate: Token).
RESEARCH = "/api/research/v1/"


@dataclass(frozen=True)
class ResearchEndpoint:
    route: str
    method: str
    url: Callable[[World], str]
    scope: str  # the scope it needs
    granted: Status  # what a token with the scope gets
    body: dict | Callable[[World], dict] = field(default_factory=dict)

    def body_for(self, world: World) -> dict:
        return self.body(world) if callable(self.body) else self.body


def research_get(suffix: str, name: str = "") -> ResearchEndpoint:
    url = (lambda w: f"{RESEARCH}{suffix}") if not name else (lambda w: f"{RESEARCH}{suffix.format(w.objects[name].pk)}")
    route = RESEARCH.lstrip("/") + (suffix if not name else suffix.replace("{}", "<int:pk>"))
    return ResearchEndpoint(route, "get", url, "read", OK)


RESEARCH_ENDPOINTS = [
    research_get("images/"),
    research_get("people/"),
    research_get("answers/"),
    research_get("agreement/"),
    research_get("agreement/people/"),
    research_get("snapshots/"),
    research_get("snapshots/{}/", "snapshot"),
    research_get("snapshots/{}/archive/", "snapshot"),
    research_get("training-runs/"),
    research_get("training-runs/{}/", "run"),
    research_get("crawl-jobs/"),
    research_get("crawl-jobs/{}/", "crawljob"),
    ResearchEndpoint("api/research/v1/snapshots/", "json", lambda w: f"{RESEARCH}snapshots/", "export", CREATED,
                     {"name": "from-the-matrix", "formats": ["jsonl"]}),
    ResearchEndpoint("api/research/v1/training-runs/", "json", lambda w: f"{RESEARCH}training-runs/", "train", CREATED,
                     lambda w: {"snapshot": w.objects["snapshot"].pk, "mode": "body"}),
    ResearchEndpoint("api/research/v1/crawl-jobs/", "json", lambda w: f"{RESEARCH}crawl-jobs/", "crawl", CREATED,
                     lambda w: {"kind": "urls", "params": {"path": w.objects["url_list"]}}),
]
# Who calls the researcher API, and with what.
RESEARCH_ROLES = ("anonymous", "worker", "worker_token", "staff", "staff_without_scope", "staff_with_scope")


OTHERS_TASK = roles(UNAUTHORIZED, None, NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN)


def task_url(action: str) -> Callable[[World], str]:
    return lambda w: f"/api/tasks/{w.objects['task_a'].pk}/{action}/"


def obj(name: str, suffix: str, prefix: str) -> Callable[[World], str]:
    return lambda w: f"{prefix}{w.objects[name].pk}/{suffix}"


SITE_ENDPOINTS = [
    Endpoint("", "get", lambda w: "/", everyone(OK)),
    Endpoint("healthz", "get", lambda w: "/healthz", everyone(OK)),
    Endpoint("accounts/login/", "get", lambda w: "/accounts/login/", everyone(OK)),
    Endpoint("accounts/logout/", "post", lambda w: "/accounts/logout/", everyone(Redirect("/"))),
    Endpoint("accounts/signup/", "get", lambda w: "/accounts/signup/", signed_in(OK, Redirect("/work/"))),
    Endpoint("work/instructions/", "get", lambda w: "/work/instructions/", signed_in(LOGIN, OK)),
    # Only the pictures of the examples in force are served this way.
    Endpoint("work/instructions/examples/<int:example_id>/picture/", "get",
             obj("example", "picture/", "/work/instructions/examples/"), signed_in(LOGIN, OK)),
    # Django's password reset: its pages are open to everyone (an unknown or used link says so, 200).
    Endpoint("accounts/password-reset/", "get", lambda w: "/accounts/password-reset/", everyone(OK)),
    Endpoint("accounts/password-reset/sent/", "get", lambda w: "/accounts/password-reset/sent/", everyone(OK)),
    Endpoint("accounts/reset/<uidb64>/<token>/", "get", lambda w: "/accounts/reset/MQ/set-password/", everyone(OK)),
    Endpoint("accounts/reset/done/", "get", lambda w: "/accounts/reset/done/", everyone(OK)),
    Endpoint("work/", "get", lambda w: "/work/", worker_page(OK)),
    Endpoint("work/annotate/", "get", lambda w: "/work/annotate/", worker_page(OK, blocked=Redirect("/work/"))),
    Endpoint("work/history/", "get", lambda w: "/work/history/", worker_page(OK)),
    Endpoint("work/api-tokens/", "get", lambda w: "/work/api-tokens/", worker_page(OK)),
    # Revoking another worker's token changes nothing (test_privacy checks the token survives).
    Endpoint("work/api-tokens/<int:token_id>/revoke/", "post", obj("token_b", "revoke/", "/work/api-tokens/"),
             worker_page(Redirect("/work/api-tokens/"))),
    Endpoint("work/account/", "get", lambda w: "/work/account/", worker_page(OK)),
    Endpoint("work/account/delete/", "get", lambda w: "/work/account/delete/", worker_page(OK)),
    Endpoint("api/tasks/next/", "get", lambda w: "/api/tasks/next/", worker_api(OK, blocked=FORBIDDEN)),
    Endpoint("api/tasks/<int:task_id>/submit/", "json", task_url("submit"), {**OTHERS_TASK, "worker_a": CREATED}, ANSWER),
    Endpoint("api/tasks/<int:task_id>/skip/", "json", task_url("skip"), {**OTHERS_TASK, "worker_a": OK}, {"reason": "unsure"}),
    Endpoint("api/tasks/<int:task_id>/report/", "json", task_url("report"), {**OTHERS_TASK, "worker_a": OK}, {"reason": "blurry"}),
    Endpoint("api/tasks/<int:task_id>/image/", "get", task_url("image"), {**OTHERS_TASK, "worker_a": OK}),
    Endpoint("api/me/", "get", lambda w: "/api/me/", worker_api(OK)),
    Endpoint("api/history/", "get", lambda w: "/api/history/", worker_api(OK)),
    Endpoint("api/schema/", "get", lambda w: "/api/schema/", everyone(OK)),
    Endpoint("api/docs/", "get", lambda w: "/api/docs/", everyone(OK)),
    # The researcher API opens to researcher tokens alone: a session (worker's or staff's) is asked for one.
    *[Endpoint(r.route, r.method, r.url, everyone(UNAUTHORIZED), r.body) for r in RESEARCH_ENDPOINTS],
    # Staff pages outside the admin site: staff without the model's view permission get 403.
    Endpoint("admin/exports/snapshots/<int:pk>/download/", "get", obj("snapshot", "download/", "/admin/exports/snapshots/"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/exports/snapshots/<int:pk>/status/", "get", obj("snapshot", "status/", "/admin/exports/snapshots/"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/training/runs/<int:pk>/status/", "get", obj("run", "status/", "/admin/training/runs/"), admin_page(FORBIDDEN)),
    Endpoint("admin/training/runs/<int:pk>/report/<str:name>", "get", obj("run", "report/report.json", "/admin/training/runs/"),
             admin_page(FORBIDDEN)),
    # A run's downloads: the view permission; this run has its report and no checkpoint (404, never another file).
    Endpoint("admin/training/runs/<int:pk>/download/report/", "get", obj("run", "download/report/", "/admin/training/runs/"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/training/runs/<int:pk>/download/checkpoint/", "get",
             obj("run", "download/checkpoint/", "/admin/training/runs/"), admin_page(FORBIDDEN, NOT_FOUND)),
    # Imports from the admin and the crawl jobs' live list: add, view and change permissions respectively.
    Endpoint("admin/scraper/crawljob/import/", "get", lambda w: "/admin/scraper/crawljob/import/", admin_page(FORBIDDEN)),
    Endpoint("admin/scraper/crawljob/progress/", "get", lambda w: "/admin/scraper/crawljob/progress/", admin_page(FORBIDDEN)),
    Endpoint("admin/scraper/crawljob/<path:object_id>/cancel/", "post", obj("crawljob", "cancel/", "/admin/scraper/crawljob/"),
             admin_page(FORBIDDEN, Redirect("/admin/scraper/crawljob/"))),
    Endpoint("admin/scraper/crawljob/<path:object_id>/resume/", "post", obj("crawljob", "resume/", "/admin/scraper/crawljob/"),
             admin_page(FORBIDDEN, Redirect("/admin/scraper/crawljob/"))),
    # A campaign's study link without the participant's id: a clear page (400) for everyone, and no account.
    Endpoint("c/<slug:slug>/", "get", lambda w: f"/c/{w.objects['campaign'].slug}/", everyone(Status(400))),
    # A participant's pages need the session the study link binds to the browser: no one here has one.
    Endpoint("c/<slug:slug>/consent/", "get", lambda w: f"/c/{w.objects['campaign'].slug}/consent/", everyone(FORBIDDEN)),
    Endpoint("c/<slug:slug>/done/", "get", lambda w: f"/c/{w.objects['campaign'].slug}/done/", everyone(FORBIDDEN)),
    # Prolific's webhooks: an unsigned request is refused, whoever sends it.
    Endpoint("hooks/prolific/", "post", lambda w: "/hooks/prolific/", everyone(FORBIDDEN), {"status": "APPROVED"}),
]


def campaign_page(suffix: str) -> Callable[[World], str]:
    return obj("campaign", suffix, "/admin/campaigns/campaign/")

ADMIN_SITE_ENDPOINTS = [
    Endpoint("admin/", "get", lambda w: "/admin/", admin_page(OK)),
    Endpoint("admin/login/", "get", lambda w: "/admin/login/",
             {**everyone(OK), "staff": Redirect("/admin/"), "superuser": Redirect("/admin/")}),
    Endpoint("admin/logout/", "post", lambda w: "/admin/logout/",
             {**everyone(Redirect("/admin/")), "staff": Redirect("/"), "superuser": Redirect("/")}),
    Endpoint("admin/password_change/", "get", lambda w: "/admin/password_change/", admin_page(OK)),
    Endpoint("admin/password_change/done/", "get", lambda w: "/admin/password_change/done/", admin_page(OK)),
    Endpoint("admin/autocomplete/", "get", lambda w: "/admin/autocomplete/", admin_page(FORBIDDEN, FORBIDDEN)),
    Endpoint("admin/jsi18n/", "get", lambda w: "/admin/jsi18n/", admin_page(OK)),
    Endpoint("admin/r/<path:content_type_id>/<path:object_id>/", "get",
             lambda w: f"/admin/r/{ContentType.objects.get_for_model(w.objects['image']).pk}/{w.objects['image'].pk}/",
             admin_page(NOT_FOUND, NOT_FOUND)),
    Endpoint(r"admin/^(?P<app_label>auth|access|catalog|scraper|annotator|quality|emotic_export|training|campaigns|research_api)/$", "get",
             lambda w: "/admin/annotator/", admin_page(NOT_FOUND)),
    Endpoint("admin/(?P<url>.*)$", "get", lambda w: "/admin/no-such-page/", admin_page(NOT_FOUND, NOT_FOUND)),
    Endpoint("admin/auth/user/<id>/password/", "get", obj("user", "password/", "/admin/auth/user/"), admin_page(FORBIDDEN)),
    # The quality review's own pages: each checks the model permission it needs.
    Endpoint("admin/catalog/image/<path:object_id>/review/", "get", obj("image", "review/", "/admin/catalog/image/"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/catalog/image/<path:object_id>/picture/", "get", obj("image", "picture/", "/admin/catalog/image/"),
             admin_page(FORBIDDEN)),
    # Control items from the review page: the image's view permission, then the gold item's add (or change).
    Endpoint("admin/catalog/image/<path:object_id>/review/person/<int:person_id>/control/", "get",
             lambda w: f"/admin/catalog/image/{w.objects['image'].pk}/review/person/{w.objects['person'].pk}/control/",
             admin_page(FORBIDDEN)),
    Endpoint("admin/catalog/image/<path:object_id>/review/boxes/control/", "get",
             obj("image", "review/boxes/control/", "/admin/catalog/image/"), admin_page(FORBIDDEN)),
    # The protocol's instruction examples, and the pictures of the answers offered there.
    Endpoint("admin/annotator/protocolversion/examples/", "get", lambda w: "/admin/annotator/protocolversion/examples/",
             admin_page(FORBIDDEN)),
    Endpoint("admin/annotator/protocolversion/answer/<int:annotation_id>/picture/", "get",
             obj("example_answer", "picture/", "/admin/annotator/protocolversion/answer/"), admin_page(FORBIDDEN)),
    Endpoint("admin/annotator/worker/<path:object_id>/trust/", "post", obj("worker", "trust/", "/admin/annotator/worker/"),
             admin_page(FORBIDDEN, Redirect("/admin/annotator/worker/", prefix=True)), {"action": "block", "reason": "copied answers"}),
    Endpoint("admin/annotator/worker/<path:object_id>/gold.png", "get", obj("worker", "gold.png", "/admin/annotator/worker/"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/quality/qualityreport/plot/<slug:name>.png", "get",
             lambda w: "/admin/quality/qualityreport/plot/person-kappa.png", admin_page(FORBIDDEN)),
    Endpoint("admin/quality/qualityreport/csv/<slug:name>.csv", "get",
             lambda w: "/admin/quality/qualityreport/csv/worker-accuracy.csv", admin_page(FORBIDDEN)),
    Endpoint("admin/quality/qualityreport/recompute/", "post", lambda w: "/admin/quality/qualityreport/recompute/",
             admin_page(FORBIDDEN, Redirect("/admin/quality/qualityreport/"))),
    # Admin pages whose model moved app: a permanent redirect for everyone, the new page checks permissions.
    Endpoint(r"^admin/(?P<old>annotator/image|scraper/source|annotator/qualityreport|annotator/personagreement)/(?P<rest>.*)$",
             "get", lambda w: "/admin/annotator/image/1/change/?x=1", everyone(Redirect("/admin/catalog/image/1/change/", status=301))),
    # A campaign's own pages: each checks the model permission it needs (acting needs change).
    Endpoint("admin/campaigns/campaign/<path:object_id>/act/", "post", campaign_page("act/"),
             admin_page(FORBIDDEN, Redirect("/admin/campaigns/campaign/", prefix=True)), {"action": "sync"}),
    Endpoint("admin/campaigns/campaign/<path:object_id>/reject/", "get", campaign_page("reject/"), admin_page(FORBIDDEN)),
    Endpoint("admin/campaigns/campaign/<path:object_id>/bonuses/", "get", campaign_page("bonuses/"), admin_page(FORBIDDEN)),
    Endpoint("admin/campaigns/campaign/<path:object_id>/ledger.csv", "get", campaign_page("ledger.csv"), admin_page(FORBIDDEN)),
    Endpoint("admin/campaigns/campaign/<path:object_id>/reconciliation/", "get", campaign_page("reconciliation/"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/campaigns/campaign/<path:object_id>/plot/<slug:name>.png", "get", campaign_page("plot/progress.png"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/campaigns/campaign/<path:object_id>/progress.json", "get", campaign_page("progress.json"),
             admin_page(FORBIDDEN)),
    Endpoint("admin/campaigns/campaign/<path:object_id>/release.json", "get", campaign_page("release.json"),
             admin_page(FORBIDDEN)),
    # The run page's cancel button; the world's run has finished, so it only says so.
    Endpoint("admin/training/trainingrun/<path:object_id>/cancel/", "post",
             obj("run", "cancel/", "/admin/training/trainingrun/"),
             admin_page(FORBIDDEN, Redirect("/admin/training/trainingrun/", prefix=True))),
]

# Every registered model's standard admin pages, by suffix of /admin/<app>/<model>/.
MODEL_ADMIN_PAGES = ("", "add/", "<path:object_id>/change/", "<path:object_id>/history/", "<path:object_id>/delete/",
                     "<path:object_id>/")
# Rows made only by services, never by hand: the admin offers no "add" page for them.
NO_ADD_PAGE = {
    "scraper.crawlitem", "quality.personagreement", "quality.qualityreport",
    "annotator.emotionannotation", "annotator.boxannotation",  # workers' answers: shown, never added or deleted
    "catalog.image", "annotator.person",  # made by ingest, intake and box settlement only
    "annotator.taskassignment",  # handed out and closed by the assignment service only
    "annotator.apitoken",  # made by a worker on their page, where alone its key is shown
    "access.accessattempt",  # the access log: written by the log-in and sign-up checks
    # A campaign's participants, sessions, ledger and webhook events: written by its services only.
    "campaigns.participant", "campaigns.participantsession", "campaigns.ledgerentry", "campaigns.webhookevent",
    "scraper.searchsourcestatus",  # a search source's health: written by the crawl (scraper/services/source_health.py)
    "annotator.golditem",  # made from an image's review page, prefilled from its accepted answers
}
NO_DELETE_PAGE = {
    "annotator.protocolversion",  # versions are the record of what was in force: never deleted
    "annotator.emotionannotation", "annotator.boxannotation", "annotator.taskassignment", "access.accessattempt",
    "campaigns.participant", "campaigns.participantsession", "campaigns.ledgerentry", "campaigns.webhookevent",
    "scraper.searchsourcestatus",
}
# Served by Django's static view only when DEBUG is on (the demo); checked in test_dev_media_is_debug_only.
DEBUG_ONLY_ROUTES = {"^media/(?P<path>.*)$"}


def model_admin_endpoints() -> list[Endpoint]:
    endpoints = []
    for model in admin.site._registry:
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"

        def with_object(suffix, base=base, model=model):
            def url(w: World) -> str:
                row = model._default_manager.order_by("pk").first()
                assert row is not None, f"the world fixture has no {model.__name__}: add one to tests/security/conftest.py"
                return f"{base}{row.pk}/{suffix}"
            return url

        endpoints += [
            Endpoint(f"admin{base[6:]}", "get", lambda w, base=base: base, admin_page(FORBIDDEN)),
            Endpoint(f"admin{base[6:]}add/", "get", lambda w, base=base: f"{base}add/",
                     admin_page(FORBIDDEN, FORBIDDEN if label in NO_ADD_PAGE else OK)),
            Endpoint(f"admin{base[6:]}<path:object_id>/change/", "get", with_object("change/"), admin_page(FORBIDDEN)),
            Endpoint(f"admin{base[6:]}<path:object_id>/history/", "get", with_object("history/"), admin_page(FORBIDDEN)),
            Endpoint(f"admin{base[6:]}<path:object_id>/delete/", "get", with_object("delete/"),
                     admin_page(FORBIDDEN, FORBIDDEN if label in NO_DELETE_PAGE else OK)),
            # Django's redirect from the old object URL to its change page (which then checks permissions).
            Endpoint(f"admin{base[6:]}<path:object_id>/", "get", with_object(""),
                     admin_page(Redirect(base, prefix=True), Redirect(base, prefix=True))),
        ]
    return endpoints


def all_endpoints() -> list[Endpoint]:
    return SITE_ENDPOINTS + ADMIN_SITE_ENDPOINTS + model_admin_endpoints()


def test_every_route_has_an_expectation():
    expected_routes = {endpoint.route for endpoint in all_endpoints()} | DEBUG_ONLY_ROUTES
    routes = {route.route for route in all_routes()}
    missing = sorted(routes - expected_routes)
    assert not missing, f"routes with no expectation in tests/security/test_url_matrix.py: {missing}"
    stale = sorted(expected_routes - routes - DEBUG_ONLY_ROUTES)
    assert not stale, f"expectations for routes that no longer exist: {stale}"


def test_the_matrix_covers_every_role_of_every_endpoint():
    for endpoint in all_endpoints():
        assert set(endpoint.expected) == set(ROLES), endpoint.route


def request(world: World, role: str, endpoint: Endpoint):
    client = world.client(role)
    url = endpoint.url(world)
    body = endpoint.body(world) if callable(endpoint.body) else endpoint.body
    if endpoint.method == "get":
        return client.get(url)
    if endpoint.method == "json":
        return client.post(url, body, content_type="application/json")
    return client.post(url, body)


def check_endpoint(world: World, endpoint: Endpoint) -> list[str]:
    # Worker A goes last: its requests may close the task the others were refused.
    order = [role for role in ROLES if role != "worker_a"] + ["worker_a"]
    problems = []
    for role in order:
        response = request(world, role, endpoint)
        problem = endpoint.expected[role].check(response)
        if problem:
            problems.append(f"{endpoint.method.upper()} {endpoint.url(world)} as {role}: {problem}")
    return problems


@pytest.mark.parametrize("endpoint", SITE_ENDPOINTS + ADMIN_SITE_ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_site_endpoint(world, endpoint):
    assert check_endpoint(world, endpoint) == []


def test_every_registered_model_admin_page(world):
    problems = [problem for endpoint in model_admin_endpoints() for problem in check_endpoint(world, endpoint)]
    assert problems == []


def urlconf_patterns(settings, debug: bool) -> list[str]:
    """The project's URL list as ``config/urls.py`` builds it with DEBUG on or off (a fresh copy of the module)."""
    settings.DEBUG = debug
    spec = importlib.util.spec_from_file_location("urls_probe", settings.BASE_DIR / "config" / "urls.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [str(pattern.pattern) for pattern in module.urlpatterns]


def test_dev_media_is_debug_only(settings):
    """``/media/`` is served by Django only in DEBUG (the demo); production serves files from storage."""
    assert DEBUG_ONLY_ROUTES <= set(urlconf_patterns(settings, debug=True))
    assert not DEBUG_ONLY_ROUTES & set(urlconf_patterns(settings, debug=False))


def test_another_workers_token_survives_every_revoke_attempt(world):
    token_b = world.objects["token_b"]
    for role in ("worker_a", "blocked", "unqualified", "staff", "superuser"):
        world.client(role).post(f"/work/api-tokens/{token_b.pk}/revoke/")
        assert ApiToken.objects.filter(pk=token_b.pk).exists(), f"{role} revoked worker B's token"
    world.client("worker_b").post(f"/work/api-tokens/{token_b.pk}/revoke/")
    assert not ApiToken.objects.filter(pk=token_b.pk).exists()



def research_client(world: World, role: str, scope: str) -> Client:
    """A client for one role of the researcher API's matrix."""
    keys = {"worker_token": world.objects["key_a"],
            "staff_without_scope": world.objects["research_key_write" if scope == "read" else "research_key_read"],
            "staff_with_scope": world.objects["research_key_all"]}
    if role in keys:
        return Client(HTTP_AUTHORIZATION=f"Token {keys[role]}")
    return world.client({"anonymous": "anonymous", "worker": "worker_a", "staff": "staff"}[role])


def research_expectations(endpoint: ResearchEndpoint) -> dict:
    return {**dict.fromkeys(RESEARCH_ROLES, UNAUTHORIZED), "staff_without_scope": FORBIDDEN,
            "staff_with_scope": endpoint.granted}


@pytest.mark.parametrize("endpoint", RESEARCH_ENDPOINTS, ids=lambda e: f"{e.method} {e.route}")
def test_research_endpoint(world, endpoint):
    """Anonymous, a worker (session or worker token), staff without a researcher token: 401; a researcher token
    without the scope the operation needs: 403 naming it; with it: the answer."""
    problems = []
    for role, expected in research_expectations(endpoint).items():
        client = research_client(world, role, endpoint.scope)
        url, body = endpoint.url(world), endpoint.body_for(world)
        response = client.get(url) if endpoint.method == "get" else client.post(url, body, content_type="application/json")
        problem = expected.check(response)
        if problem is None and expected in (UNAUTHORIZED, FORBIDDEN):
            detail = response.json()["detail"]
            if expected is FORBIDDEN and f"lacks the '{endpoint.scope}' scope" not in detail:
                problem = f"the 403 does not name the scope: {detail}"
            if expected is UNAUTHORIZED and response.get("WWW-Authenticate") != 'Token realm="research"':
                problem = f"no token challenge: {response.get('WWW-Authenticate')}"
        if problem:
            problems.append(f"{endpoint.method.upper()} {url} as {role}: {problem}")
    assert problems == []


def test_every_research_route_is_in_the_research_matrix():
    routes = {route.route for route in all_routes() if route.route.startswith("api/research/")}
    assert routes == {endpoint.route for endpoint in RESEARCH_ENDPOINTS}
