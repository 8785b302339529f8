"""The image's build context leaves out secrets, local state and history (.dockerignore).

Checked on a copy of the repository's files plus planted ones (.env, var/,
.git, .venv, caches), twice where the docker client is installed: once by
this file's reading of .dockerignore (the docker CLI's rules: Go's
``filepath.Match`` plus ``**``, a pattern that matches a folder matches
everything under it, ``!`` re-includes, the last match wins), and once by the
docker client itself: ``docker build`` (the classic builder) tars the context
and sends it to a stand-in daemon on loopback that keeps the tar's names. The
two must agree. Without a docker client the first check runs alone.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import subprocess
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLANTED = [
    ".env", ".env.production", "var/db.sqlite3", "var/media/images/a.jpg", ".git/HEAD", ".git/objects/ab/cdef",
    ".venv/bin/python", "staticfiles/admin/css/base.css", "config/__pycache__/settings.cpython-311.pyc",
    "annotator/services/__pycache__/assignment.cpython-311.pyc", ".pytest_cache/v/cache/lastfailed",
    "runs/bi/best.pt", "resnet18_places365.pth.tar", "catalog/stray.pyc", "db.sqlite3", "emotic.egg-info/PKG-INFO",
]
MUST_BE_SENT = [
    "Dockerfile", "requirements.txt", "requirements-training.txt", "manage.py", "config/wsgi.py",
    "config/settings/production.py", "deploy/gunicorn.conf.py", "deploy/healthcheck.py",
    "templates/home.html", "annotator/api.py", "training/core/model.py", ".env.example",
]


# --- .dockerignore as the docker CLI reads it (github.com/moby/patternmatcher) -----------------
def _regex(pattern: str) -> re.Pattern:
    out, i = "^", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        elif char in "[]":
            out += char  # character classes mean the same in Go's filepath.Match
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out + "$")


def read_dockerignore(text: str) -> list[tuple[re.Pattern, bool]]:
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        line = line[1:].strip() if exclusion else line
        cleaned = posixpath.normpath(line).lstrip("/")
        patterns.append((_regex(cleaned), exclusion))
    return patterns


def is_excluded(path: str, patterns: list[tuple[re.Pattern, bool]]) -> bool:
    """moby's MatchesOrParentMatches: a pattern matches the path or one of its parent folders; the last match wins."""
    parents = posixpath.dirname(path).split("/") if "/" in path else []
    matched = False
    for regex, exclusion in patterns:
        if exclusion != matched:
            continue
        hit = bool(regex.match(path)) or any(regex.match("/".join(parents[:n + 1])) for n in range(len(parents)))
        if hit:
            matched = not exclusion
    return matched


def test_the_reading_follows_dockers_rules():
    patterns = read_dockerignore("var\n**/__pycache__\n*.md\n!README.md\n/.env\ndocs/**/*.png\n")
    assert is_excluded("var/db.sqlite3", patterns) and is_excluded("var", patterns)
    assert not is_excluded("variables.py", patterns) and not is_excluded("config/var.py", patterns)
    assert is_excluded("a/b/__pycache__/x.pyc", patterns) and is_excluded("__pycache__/x.pyc", patterns)
    assert is_excluded("CHANGES.md", patterns) and not is_excluded("README.md", patterns)
    assert not is_excluded("docs/guide.md", patterns)  # * stops at /
    assert is_excluded(".env", patterns) and not is_excluded("deploy/.env.sample", patterns)
    assert is_excluded("docs/img/a.png", patterns) and is_excluded("docs/a.png", patterns)


# --- the context, on disk -----------------------------------------------------------------------
def context_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def make_context(tmp_path: Path) -> Path:
    """The repository's tracked files (empty copies), .dockerignore itself, and the planted files."""
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    context = tmp_path / "context"
    for name in [*filter(None, tracked.split("\0")), *PLANTED]:
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    for name in (".dockerignore", "Dockerfile"):
        shutil.copy(ROOT / name, context / name)
    return context


def sent_by_reading(context: Path) -> set[str]:
    patterns = read_dockerignore((context / ".dockerignore").read_text())
    return {name for name in context_files(context) if not is_excluded(name, patterns)}


class StandInDaemon:
    """Just enough of the Docker Engine API for ``docker build`` to send its context: the tar's file names are kept."""

    def __init__(self):
        self.names: list[str] | None = None
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, body: bytes, content_type: str = "text/plain"):
                self.send_response(status)
                self.send_header("Api-Version", "1.41")
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self._answer(200, b"OK")

            do_GET = do_HEAD

            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = bytearray()
                    while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if "/build" in self.path:
                    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as archive:
                        daemon.names = [m.name for m in archive.getmembers() if not m.isdir()]
                self._answer(200, b'{"error":"context captured","errorDetail":{"message":"context captured"}}\n',
                             "application/json")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sent_by_docker(context: Path, docker: str, tmp_path: Path) -> set[str]:
    daemon = StandInDaemon()
    try:
        environment = {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_BUILDKIT": "0",
                       "DOCKER_CONFIG": str(tmp_path / "docker-config")}
        result = subprocess.run([docker, "build", "-q", "."], cwd=context, env=environment, capture_output=True,
                                text=True, timeout=120)
    finally:
        daemon.stop()
    assert daemon.names is not None, f"docker build sent no context:\n{result.stdout}\n{result.stderr}"
    return set(daemon.names)


def test_the_build_context_leaves_out_secrets_state_and_history(tmp_path):
    context = make_context(tmp_path)
    sent = sent_by_reading(context)
    for planted in PLANTED:
        assert planted not in sent, f"{planted} would be copied into the image"
    assert not [name for name in sent if name.startswith((".git/", ".venv/", "var/")) or "__pycache__" in name]
    for needed in MUST_BE_SENT:
        assert needed in sent, f"{needed} is needed in the image and left out"
    tracked_code = {name for name in context_files(context) if name.endswith(".py") and not name.startswith(("tests/", "bench/"))}
    assert tracked_code <= sent  # every module of the app

    docker = shutil.which("docker")
    if docker:  # the docker client's own matching, on the same files
        assert sent_by_docker(context, docker, tmp_path) == sent
