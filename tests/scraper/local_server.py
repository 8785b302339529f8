"""A real HTTP server on loopback for the scraper's tests and benchmark.

Routes map a path (query string included, or the bare path as a fallback) to
a ``Route`` or to a function of the request count that returns one, so a test
can serve a page that fails twice and then answers. ``apps`` map a bare path
to a function of the whole request (``Request``: method, path, query, headers,
form body) that answers it, for the search APIs whose answers depend on the
query (tests/scraper/search_apis.py). GET and POST are served. The server
records every request, when it arrived (``time.monotonic()``), and the most
requests it ever had in flight, and the client port of each request's
connection (``connections``: the same port twice is a connection kept alive).
A server given a certificate (``certificate=(cert, key)``) answers HTTPS.
"""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    trickle: float = 0.0  # seconds between 1-byte writes of the body
    send_length: bool = True


RouteSpec = Route | Callable[[int], Route]


@dataclass
class Request:
    method: str
    path: str  # with its query string
    headers: dict[str, str]
    body: bytes = b""

    @property
    def bare_path(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {name: values[-1] for name, values in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()}

    @property
    def form(self) -> dict[str, str]:
        return {name: values[-1] for name, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that hangs up early (a refused download) is normal here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalServer:
    def __init__(self, host: str = "127.0.0.1", certificate: tuple[str, str] | None = None):
        self.routes: dict[str, RouteSpec] = {}
        self.apps: dict[str, Callable[[Request], Route]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.calls: list[Request] = []  # every request in full, POST bodies included
        self.arrivals: list[tuple[str, float]] = []
        self.counts: dict[str, int] = {}
        self.connections: list[tuple[str, int]] = []  # (path, the client's port)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = _QuietServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self.scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def hits(self, path: str) -> int:
        with self._lock:
            return self.counts.get(path, 0)

    def ports(self, path: str) -> list[int]:
        """The client port of the connection each request for ``path`` came on."""
        with self._lock:
            return [port for requested, port in self.connections if requested == path]

    def arrival_times(self, path: str) -> list[float]:
        """When each request for ``path`` arrived, in ``time.monotonic()`` seconds."""
        with self._lock:
            return [at for requested, at in self.arrivals if requested == path]

    def _route_for(self, path: str) -> tuple[RouteSpec | None, int]:
        with self._lock:
            key = path if path in self.routes else path.split("?", 1)[0]
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.routes.get(key), self.counts[path]

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                self._answer("GET")

            def do_POST(self):  # noqa: N802 - http.server's name
                self._answer("POST")

            def _answer(self, method: str) -> None:
                arrived = time.monotonic()
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(method, self.path, dict(self.headers), self.rfile.read(length) if length else b"")
                with server._lock:
                    server.requests.append((self.path, dict(self.headers)))
                    server.calls.append(request)
                    server.arrivals.append((self.path, arrived))
                    server.connections.append((self.path, self.client_address[1]))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    app = server.apps.get(request.bare_path)
                    if app is not None:
                        with server._lock:
                            server.counts[self.path] = server.counts.get(self.path, 0) + 1
                        route = app(request)
                    else:
                        spec, count = server._route_for(self.path)
                        route = spec(count) if callable(spec) else spec
                    if route is None:
                        route = Route(b"not found", status=404, headers={"Content-Type": "text/plain"})
                    if route.delay:
                        time.sleep(route.delay)
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        for one in value.split("\n"):
                            self.send_header(name, one)
                    if route.send_length:
                        self.send_header("Content-Length", str(len(route.body)))
                    else:
                        self.send_header("Connection", "close")
                    self.end_headers()
                    if route.trickle:
                        for byte in route.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(route.trickle)
                    else:
                        self.wfile.write(route.body)
                    if not route.send_length:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.in_flight -= 1

        return Handler
