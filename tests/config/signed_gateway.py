"""A loopback stand-in for the object store's public face that checks signatures as MinIO and S3 do.

moto's server does not check the signature of a presigned URL, so a URL signed
for the wrong host would still fetch there. ``SignedGateway`` sits in front of
it: it recomputes each GET's AWS Signature V4 (query-string form) from the
request as it arrived (method, path, query and the Host header), answers 403
``SignatureDoesNotMatch`` when it differs or the URL has expired, and
otherwise passes the request to moto. The signature code here is written from
the specification, not borrowed from botocore, so it checks botocore rather
than agreeing with it by construction.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def signature_problem(method: str, target: str, headers: dict[str, str], secrets: dict[str, str],
                      now: datetime | None = None) -> str | None:
    """Why this presigned request is refused (None when it is good). ``target`` is the request line's path and query."""
    parts = urlsplit(target)
    query = parse_qsl(parts.query, keep_blank_values=True)
    fields = dict(query)
    if fields.get("X-Amz-Algorithm") != ALGORITHM or "X-Amz-Signature" not in fields:
        return "not a Signature V4 presigned URL"
    access_key, date, region, service, terminator = fields["X-Amz-Credential"].split("/")
    if access_key not in secrets or terminator != "aws4_request":
        return "unknown access key"
    stamp = datetime.strptime(fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    if (now or datetime.now(timezone.utc)) > stamp + timedelta(seconds=int(fields["X-Amz-Expires"])):
        return "expired"
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    signed_headers = fields["X-Amz-SignedHeaders"].split(";")
    canonical_query = "&".join(
        f"{_encode(name)}={_encode(value)}" for name, value in sorted(query) if name != "X-Amz-Signature"
    )
    canonical_request = "\n".join([
        method,
        parts.path,
        canonical_query,
        "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed_headers),
        ";".join(signed_headers),
        "UNSIGNED-PAYLOAD",
    ])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, fields["X-Amz-Date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secrets[access_key]}".encode(), date), region), service), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["X-Amz-Signature"]):
        return f"signature does not match for host {lowered.get('host')!r}"
    return None


class SignedGateway:
    """``SignedGateway(upstream="http://127.0.0.1:PORT", secrets={"key": "secret"}).start()``; ``.url``, ``.seen``."""

    def __init__(self, upstream: str, secrets: dict[str, str]):
        self.upstream = urlsplit(upstream)
        self.secrets = secrets
        self.seen: list[tuple[str, str, int]] = []  # (host header, path, status)
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                gateway._handle(self)

            do_HEAD = do_GET

            def do_PUT(self):  # the public face is for reading only: writes go to the internal endpoint
                gateway._refuse(self, 405, "MethodNotAllowed")

            do_POST = do_DELETE = do_PUT

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SignedGateway:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _refuse(self, handler: BaseHTTPRequestHandler, status: int, code: str, why: str = "") -> None:
        body = f"<Error><Code>{code}</Code><Message>{why}</Message></Error>".encode()
        self.seen.append((handler.headers.get("Host", ""), handler.path.split("?")[0], status))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        problem = signature_problem(handler.command, handler.path, dict(handler.headers.items()), self.secrets)
        if problem:
            self._refuse(handler, 403, "SignatureDoesNotMatch", problem)
            return
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            connection.request(handler.command, handler.path, headers={"Host": handler.headers.get("Host", "")})
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        self.seen.append((handler.headers.get("Host", ""), handler.path.split("?")[0], answer.status))
        handler.send_response(answer.status)
        for name in ("Content-Type", "ETag", "Last-Modified"):
            if answer.getheader(name):
                handler.send_header(name, answer.getheader(name))
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
