"""Writing an original under its content address: once, whole, whoever races for it."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from django.core.files.storage import default_storage

from catalog.files import open_stored, store_new

KEY = "images/ab/abcdef.jpg"


def test_the_first_write_stores_the_bytes_and_later_ones_leave_them(media_in_tmp):
    assert store_new(KEY, b"first") is True
    assert store_new(KEY, b"second") is False
    with open_stored(KEY) as stored:
        assert stored.read() == b"first"
    path = Path(default_storage.path(KEY))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by the web server, as Storage.save leaves it
    assert [p.name for p in path.parent.iterdir()] == ["abcdef.jpg"]  # no temporary file left behind


def test_of_many_writers_racing_for_one_key_exactly_one_wins(media_in_tmp):
    content = b"x" * 300_000
    start, results = threading.Barrier(8), []

    def write():
        start.wait()
        results.append(store_new(KEY, content))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert Path(default_storage.path(KEY)).read_bytes() == content
    assert len(list(Path(default_storage.path(KEY)).parent.iterdir())) == 1


def test_a_failed_write_leaves_nothing_under_the_key(media_in_tmp, monkeypatch):
    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("catalog.files.os.link", full_disk)
    try:
        store_new(KEY, b"bytes")
    except OSError as error:
        assert error.errno == 28
    else:
        raise AssertionError("the failure was swallowed")
    folder = Path(default_storage.path(KEY)).parent
    assert list(folder.iterdir()) == []  # neither a half file under the key nor the temporary one


def test_on_s3_the_bytes_go_through_the_storage_once(s3_storage):
    client, bucket = s3_storage
    assert store_new(KEY, b"first") is True
    assert store_new(KEY, b"second") is False
    assert client.get_object(Bucket=bucket, Key=KEY)["Body"].read() == b"first"
