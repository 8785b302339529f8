"""A loopback HTTP server speaking Prolific's API as its documentation shows it, started by the campaigns' tests.

The project's real client (``campaigns.prolific.ProlificClient``, with
``requests``) talks to it over a real socket. Each route below cites the page
of https://docs.prolific.com/api-reference it follows; the request checks and
answer shapes are those pages', reduced to the fields the platform uses.

Besides the API, the server plays Prolific's own side for the tests:
participants starting, submitting a code, returning, timing out
(``take_place``, ``submit_code``, ``return_submission``, ``time_out``), and its
webhooks, signed as https://docs.prolific.com/api-reference/webhooks/verifying
says (``signed_event``, ``deliver``). Switches simulate trouble: ``down``
(every request answers 503), ``lose_next_pay_answer`` (the bonus is paid,
then the connection is closed before any answer), ``refuse_next_pay`` (503,
nothing paid), ``refuse_token``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# docs.prolific.com/api-reference/submissions/transition-submission: "rejection_category ... Required if action is
# 'REJECT'"; "message ... It must be at least 100 chars long."
REJECTION_CATEGORIES = {
    "TOO_QUICKLY", "TOO_SLOWLY", "FAILED_INSTRUCTIONS", "INCOMP_LONGITUDINAL", "FAILED_CHECK", "LOW_EFFORT",
    "MALINGERING", "NO_CODE", "BAD_CODE", "NO_DATA", "UNSUPP_DEVICE", "OTHER",
}
# docs.prolific.com/api-reference/studies/create-study (BaseStudyCompletionCodesItemsCodeType).
CODE_TYPES = {
    "COMPLETED", "FAILED_ATTENTION_CHECK", "FOLLOW_UP_STUDY", "GIVE_BONUS", "INCOMPATIBLE_DEVICE", "NO_CONSENT",
    "OTHER", "FIXED_SCREENOUT",
}
STUDY_REQUIRED = ("name", "description", "external_study_url", "prolific_id_option", "completion_codes",
                  "total_available_places", "estimated_completion_time", "reward")


def object_id() -> str:
    return secrets.token_hex(12)


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Reply(Exception):
    def __init__(self, status: int, body: dict | None = None):
        self.status, self.body = status, body


def error(status: int, title: str, detail) -> Reply:
    """Prolific's error body: {"error": {"status", "error_code", "title", "detail", "additional_information"}}."""
    return Reply(status, {"error": {"status": status, "error_code": status * 100, "title": title, "detail": detail,
                                    "additional_information": ""}})


@dataclass
class FakeProlific:
    token: str = "test-token"
    secret: str = "webhook-secret"
    page_size: int = 20
    down: bool = False
    refuse_token: bool = False
    lose_next_pay_answer: bool = False
    refuse_next_pay: bool = False  # the next pay answers 503 without paying
    studies: dict = field(default_factory=dict)
    submissions: dict = field(default_factory=dict)
    bulk_bonuses: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)  # (method, path, json body)
    # Answers given once each, before the API, to requests they match: (method, path pattern, status, body,
    # delay in seconds, headers). For the client's timeouts and retries.
    scripts: list = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                parts = urlsplit(self.path)
                with fake._lock:
                    fake.calls.append((method, parts.path, body))
                script = fake._script_for(method, parts.path)
                if script is not None:
                    _, _, status, payload, delay, headers = script
                    time.sleep(delay)
                    data = json.dumps(payload).encode() if payload is not None else b""
                    try:
                        self.send_response(status)
                        for name, value in headers.items():
                            self.send_header(name, value)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                try:
                    if fake.down:
                        raise Reply(503, {"error": {"status": 503, "title": "Service Unavailable", "detail": "maintenance"}})
                    fake._check_token(self.headers.get("Authorization", ""))
                    with fake._lock:
                        status, payload = fake._route(method, parts.path, parse_qs(parts.query), body)
                except Reply as reply:
                    status, payload = reply.status, reply.body
                except _DropConnection:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # ------------------------------------------------------------------ server

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProlific:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, path, _ in self.calls if m == method and re.fullmatch(pattern, path))

    def script(self, method: str, pattern: str, status: int, body=None, *, delay: float = 0.0, headers=None) -> None:
        self.scripts.append((method, pattern, status, body, delay, headers or {}))

    def _script_for(self, method: str, path: str):
        with self._lock:
            for index, script in enumerate(self.scripts):
                if script[0] == method and re.fullmatch(script[1], path):
                    return self.scripts.pop(index)
        return None

    def _check_token(self, header: str) -> None:
        # docs.prolific.com/api-reference/introduction: "add Authorization header with the value Token <your token>".
        if self.refuse_token or header != f"Token {self.token}":
            raise error(401, "Unauthorized", "Invalid token.")

    def _route(self, method: str, path: str, query: dict, body):
        for pattern, handler_method, handler in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and handler_method == method:
                return handler(self, body or {}, query, *match.groups())
        raise error(404, "Not Found", f"No route {method} {path}")

    # ------------------------------------------------------------------ studies

    def create_study(self, body, query):
        """docs.prolific.com/api-reference/studies/create-study: 201 with the draft study (status UNPUBLISHED)."""
        missing = [name for name in STUDY_REQUIRED if body.get(name) in (None, "", [])]
        if missing:
            raise error(400, "Bad Request", {name: ["This field is required."] for name in missing})
        for code in body["completion_codes"]:
            if code.get("code_type") not in CODE_TYPES or not code.get("code"):
                raise error(400, "Bad Request", {"completion_codes": [f"Invalid code_type {code.get('code_type')!r}"]})
        study = {**body, "id": object_id(), "status": "UNPUBLISHED", "places_taken": 0, "date_created": now_iso(),
                 "currency_code": "GBP"}
        self.studies[study["id"]] = study
        return 201, study

    def get_study(self, body, query, study_id):
        """docs.prolific.com/api-reference/studies/get-study."""
        return 200, self._study(study_id)

    def _study(self, study_id):
        if study_id not in self.studies:
            raise error(404, "Not Found", "Study not found.")
        return self.studies[study_id]

    def transition_study(self, body, query, study_id):
        """POST /api/v1/studies/{id}/transition/ {"action": "PUBLISH"} (docs.prolific.com/documentation/core-concepts/
        reviewing-submissions-and-rewards), also PAUSE, START and STOP; the statuses are those of
        docs.prolific.com/api-reference/studies/the-study-object (UNPUBLISHED, ACTIVE, PAUSED, AWAITING REVIEW...)."""
        study = self._study(study_id)
        moves = {
            ("PUBLISH", "UNPUBLISHED"): "ACTIVE", ("PAUSE", "ACTIVE"): "PAUSED", ("START", "PAUSED"): "ACTIVE",
            ("STOP", "ACTIVE"): "AWAITING REVIEW", ("STOP", "PAUSED"): "AWAITING REVIEW",
        }
        new = moves.get((body.get("action"), study["status"]))
        if new is None:
            raise error(400, "Bad Request", f"Cannot {body.get('action')} a study that is {study['status']}.")
        study["status"] = new
        return 200, study

    # ------------------------------------------------------------------ submissions

    def _public(self, submission: dict) -> dict:
        """The submission object (docs.prolific.com/api-reference/submissions/get-submission)."""
        return {k: v for k, v in submission.items() if not k.startswith("_")}

    def list_submissions(self, body, query, study_id):
        """docs.prolific.com/api-reference/studies/get-study-submissions: {"results": [...], "_links", "meta"}."""
        self._study(study_id)
        rows = [self._public(s) for s in self.submissions.values() if s["study_id"] == study_id]
        page = int((query.get("page") or ["1"])[0])
        start = (page - 1) * self.page_size
        chunk = rows[start:start + self.page_size]
        base = f"{self.url}/api/v1/studies/{study_id}/submissions/"
        more = start + self.page_size < len(rows)
        return 200, {
            "results": chunk,
            "_links": {"self": {"href": f"{base}?page={page}", "title": "Current"},
                       "next": {"href": f"{base}?page={page + 1}" if more else None, "title": "Next"},
                       "previous": {"href": f"{base}?page={page - 1}" if page > 1 else None, "title": "Previous"},
                       "last": {"href": base, "title": "Last"}},
            "meta": {"count": len(rows)},
        }

    def _submission(self, submission_id):
        if submission_id not in self.submissions:
            raise error(404, "Not Found", "Submission not found.")
        return self.submissions[submission_id]

    def get_submission(self, body, query, submission_id):
        return 200, self._public(self._submission(submission_id))

    def transition_submission(self, body, query, submission_id):
        """docs.prolific.com/api-reference/submissions/transition-submission: APPROVE or REJECT (message of 100+
        characters and a rejection_category); "this endpoint is idempotent": a repeat is ignored."""
        submission = self._submission(submission_id)
        action = body.get("action")
        target = {"APPROVE": "APPROVED", "REJECT": "REJECTED"}.get(action)
        if target is None:
            raise error(400, "Bad Request", {"action": [f"{action!r} is not a valid choice."]})
        if action == "REJECT":
            problems = {}
            if len(body.get("message") or "") < 100:
                problems["message"] = ["Ensure this field has at least 100 characters."]
            if body.get("rejection_category") not in REJECTION_CATEGORIES:
                problems["rejection_category"] = [f"{body.get('rejection_category')!r} is not a valid choice."]
            if problems:
                raise error(400, "Bad Request", problems)
        if submission["status"] == target:
            return 200, self._public(submission)
        if submission["status"] != "AWAITING REVIEW":
            raise error(400, "Bad Request", f"Submission is {submission['status']}: it cannot be {target.lower()}.")
        submission["status"] = target
        return 200, self._public(submission)

    # ------------------------------------------------------------------ bonuses

    def set_up_bonuses(self, body, query):
        """docs.prolific.com/api-reference/bonuses/create-bonus-payments: "<submission_id>,<amount>" lines in the
        study's currency; 400 naming the ids that did not take part; 201 {id, study, amount, fees, vat, total_amount}."""
        study_id, rows = body.get("study_id"), []
        for line in (body.get("csv_bonuses") or "").strip().splitlines():
            submission_id, _, amount = line.partition(",")
            rows.append((submission_id.strip(), round(float(amount) * 100)))
        wrong = [s for s, _ in rows if s not in self.submissions or self.submissions[s]["study_id"] != study_id]
        if not rows or wrong:
            raise error(400, "Bad Request", f"Invalid ids: {', '.join(wrong) or 'none given'}")
        amount = sum(cents for _, cents in rows)
        bulk = {"id": object_id(), "study": study_id, "amount": amount, "fees": round(amount * 0.333),
                "vat": 0, "total_amount": amount + round(amount * 0.333), "_rows": rows}
        self.bulk_bonuses[bulk["id"]] = bulk
        return 201, {k: v for k, v in bulk.items() if not k.startswith("_")}

    def pay_bonuses(self, body, query, bulk_id):
        """docs.prolific.com/api-reference/bonuses/pay-bonus-payments: 202, and NOT idempotent: every call pays."""
        if bulk_id not in self.bulk_bonuses:
            raise error(404, "Not Found", "Bulk bonus payment not found.")
        if self.refuse_next_pay:
            self.refuse_next_pay = False
            raise error(503, "Service Unavailable", "Try again later.")
        for submission_id, cents in self.bulk_bonuses[bulk_id]["_rows"]:
            self.submissions[submission_id]["bonus_payments"].append(cents)
        if self.lose_next_pay_answer:
            self.lose_next_pay_answer = False
            raise _DropConnection()
        return 202, {}

    # ------------------------------------------------------------------ participant groups

    def create_group(self, body, query):
        """docs.prolific.com/api-reference/participant-groups/create-participant-group."""
        if not body.get("name") or not (body.get("workspace_id") or body.get("organisation_id")):
            raise error(400, "Bad Request", "name and a workspace_id or organisation_id are required")
        group = {"id": object_id(), "name": body["name"], "workspace_id": body.get("workspace_id"),
                 "description": body.get("description", ""), "participant_count": 0, "is_deleted": False}
        self.groups[group["id"]] = {"group": group, "members": {}}
        return 201, group

    def _members(self, group_id):
        if group_id not in self.groups:
            raise error(404, "Not Found", "Participant group not found.")
        members = self.groups[group_id]["members"]
        return 200, {"results": [{"participant_id": p, "datetime_created": at} for p, at in members.items()]}

    def add_members(self, body, query, group_id):
        """docs.prolific.com/api-reference/participant-groups/add-to-participant-group: members already in are ignored."""
        self._members(group_id)
        for participant_id in body.get("participant_ids") or []:
            self.groups[group_id]["members"].setdefault(participant_id, now_iso())
        return self._members(group_id)

    def remove_members(self, body, query, group_id):
        """docs.prolific.com/api-reference/participant-groups/remove-from-participant-group: non-members ignored."""
        self._members(group_id)
        for participant_id in body.get("participant_ids") or []:
            self.groups[group_id]["members"].pop(participant_id, None)
        return self._members(group_id)

    # ------------------------------------------------------------------ Prolific's own side

    def take_place(self, study_id: str, participant_id: str | None = None) -> tuple[str, str]:
        """A participant takes a place: a submission is made (ACTIVE). Returns (participant id, submission id)."""
        participant_id = participant_id or object_id()
        with self._lock:
            study = self._study(study_id)
            study["places_taken"] += 1
            submission = {"id": object_id(), "study_id": study_id, "participant_id": participant_id,
                          "participant": participant_id, "status": "ACTIVE", "started_at": now_iso(),
                          "completed_at": None, "entered_code": None, "bonus_payments": [], "return_requested": None}
            self.submissions[submission["id"]] = submission
        return participant_id, submission["id"]

    def study_url_for(self, study_id: str, participant_id: str, submission_id: str) -> str:
        """The external study URL with Prolific's placeholders filled in, as the participant's browser opens it."""
        url = self.studies[study_id]["external_study_url"]
        for name, value in (("PROLIFIC_PID", participant_id), ("STUDY_ID", study_id), ("SESSION_ID", submission_id)):
            url = url.replace("{{%" + name + "%}}", value)
        return url

    def submit_code(self, submission_id: str, code: str) -> str:
        """The participant lands on app.prolific.com/submissions/complete?cc=<code>: the code's type decides."""
        with self._lock:
            submission = self._submission(submission_id)
            study = self.studies[submission["study_id"]]
            codes = {c["code"]: c for c in study["completion_codes"]}
            submission["entered_code"] = code
            submission["completed_at"] = now_iso()
            actions = {a["action"] for a in codes.get(code, {}).get("actions", [])}
            if "FIXED_SCREEN_OUT_PAYMENT" in actions:
                submission["status"] = "SCREENED OUT"
            elif "AUTOMATICALLY_APPROVE" in actions:
                submission["status"] = "APPROVED"
            elif "REQUEST_RETURN" in actions:
                submission["status"] = "AWAITING REVIEW"
                submission["return_requested"] = now_iso()
            else:
                submission["status"] = "AWAITING REVIEW"
            return submission["status"]

    def return_submission(self, submission_id: str) -> None:
        with self._lock:
            self._submission(submission_id)["status"] = "RETURNED"

    def time_out(self, submission_id: str) -> None:
        with self._lock:
            self._submission(submission_id)["status"] = "TIMED-OUT"

    # ------------------------------------------------------------------ webhooks

    def signed_event(self, body: dict, *, event_id: str | None = None, sent_at: float | None = None,
                     signed_at: float | None = None, secret: str | None = None) -> tuple[bytes, dict]:
        """A delivery as Prolific sends it: the body, and headers X-Prolific-Request-Signature (base64 of
        HMAC-SHA256 over timestamp + body, docs.prolific.com/api-reference/webhooks/verifying),
        X-Prolific-Request-Timestamp, X-Event-ID (webhooks/idempotency-and-the-x-event-id-header) and X-Timestamp
        (webhooks/handling-event-order-with-x-timestamp)."""
        raw = json.dumps(body).encode()
        signed = str(int(signed_at if signed_at is not None else time.time()))
        digest = hmac.new((secret or self.secret).encode(), signed.encode() + raw, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Prolific-Request-Signature": base64.b64encode(digest).decode(),
            "X-Prolific-Request-Timestamp": signed,
            "X-Event-ID": event_id or secrets.token_hex(16),
            "X-Timestamp": str(sent_at if sent_at is not None else time.time()),
        }
        return raw, headers

    def submission_event(self, submission_id: str, status: str | None = None, **options) -> tuple[bytes, dict]:
        """submission.status.change (docs.prolific.com/api-reference/webhooks/receiving)."""
        submission = self.submissions[submission_id]
        return self.signed_event({
            "resource_id": submission_id, "event_type": "submission.status.change",
            "participant_id": submission["participant_id"], "status": status or submission["status"],
        }, **options)

    def study_event(self, study_id: str, **options) -> tuple[bytes, dict]:
        """study.status.change (docs.prolific.com/api-reference/webhooks/receiving)."""
        return self.signed_event({"resource_id": study_id, "event_type": "study.status.change", "metadata": {},
                                  "status": self.studies[study_id]["status"]}, **options)

    @staticmethod
    def deliver(url: str, delivery: tuple[bytes, dict]) -> int:
        """POST a delivery to a real URL (a live server), as Prolific does; returns the status."""
        raw, headers = delivery
        request = urllib.request.Request(url, data=raw, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as failure:
            return failure.code


class _DropConnection(Exception):
    """Close the connection without an answer (the work was done: the answer is what gets lost)."""


ROUTES = [
    (r"/api/v1/studies/", "POST", FakeProlific.create_study),
    (r"/api/v1/studies/([0-9a-f]{24})/", "GET", FakeProlific.get_study),
    (r"/api/v1/studies/([0-9a-f]{24})/transition/", "POST", FakeProlific.transition_study),
    (r"/api/v1/studies/([0-9a-f]{24})/submissions/", "GET", FakeProlific.list_submissions),
    (r"/api/v1/submissions/([0-9a-f]{24})/", "GET", FakeProlific.get_submission),
    (r"/api/v1/submissions/([0-9a-f]{24})/transition/", "POST", FakeProlific.transition_submission),
    (r"/api/v1/submissions/bonus-payments/", "POST", FakeProlific.set_up_bonuses),
    (r"/api/v1/bulk-bonus-payments/([0-9a-f]{24})/pay/", "POST", FakeProlific.pay_bonuses),
    (r"/api/v1/participant-groups/", "POST", FakeProlific.create_group),
    (r"/api/v1/participant-groups/([0-9a-f]{24})/participants/", "POST", FakeProlific.add_members),
    (r"/api/v1/participant-groups/([0-9a-f]{24})/participants/", "DELETE", FakeProlific.remove_members),
]
