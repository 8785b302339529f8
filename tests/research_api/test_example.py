"""The Python example of docs/research-api.md, run as it is written against a live server: the doc cannot rot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from research_api.services import grant_research_token
from tests.factories import UserFactory

DOC = Path(__file__).resolve().parents[2] / "docs" / "research-api.md"


def example_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/research-api.md should hold one Python example"
    return blocks[0]


@pytest.mark.django_db(transaction=True)
def test_the_documented_example_pulls_a_snapshot_and_its_figures(live_server, annotated_db, tasks_run_inline, tmp_path):
    from quality.services import recompute_quality

    recompute_quality("admin")
    researcher = UserFactory(username="data-team", is_staff=True)
    _, key = grant_research_token(researcher, "example", ["read", "export"])
    script = tmp_path / "pull_snapshot.py"
    script.write_text(example_code())
    env = {**os.environ, "EMOTIC_API_URL": f"{live_server.url}/api/research/v1/", "EMOTIC_API_TOKEN": key,
           "SNAPSHOT_NAME": "doc-example", "OUT_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    archive = tmp_path / "doc-example.tar.gz"
    assert archive.read_bytes()[:2] == b"\x1f\x8b"  # still gzip-compressed, as stored
    assert "doc-example/annotations.jsonl" in tarfile.open(archive).getnames()
    out = done.stdout
    assert f"saved {archive}" in out and "val: {'images': 1, 'people': 2" in out
    assert "snapshot agreement: {" in out and "scopes: ['all'," in out
    assert re.search(rf"person {annotated_db.val_person.pk}: kappa -?\d\.\d\d, union ", out), out


def test_the_example_stops_with_the_apis_reason_when_the_token_lacks_a_scope(live_server, tmp_path):
    researcher = UserFactory(username="reader", is_staff=True)
    _, key = grant_research_token(researcher, "read only", ["read"])
    script = tmp_path / "pull_snapshot.py"
    script.write_text(example_code())
    env = {**os.environ, "EMOTIC_API_URL": f"{live_server.url}/api/research/v1/", "EMOTIC_API_TOKEN": key, "OUT_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "POST snapshots/: 403 Authorization: this token lacks the 'export' scope this operation needs" in done.stderr
