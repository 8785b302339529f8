"""manifest.json: counts, taxonomy, agreement and a sha256 per file; the verifier finds every change."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from emotic.formats import FormatError
from emotic.formats.jsonl import write_jsonl
from emotic.formats.manifest import MANIFEST_NAME, count_records, read_manifest, verify_manifest, write_manifest
from emotic.formats.mat import write_annotations_mat
from emotic.taxonomy import CATEGORY_NAMES


@pytest.fixture
def snapshot(tmp_path, sample_images):
    folder = tmp_path / "snapshot"
    write_annotations_mat(folder / "Annotations" / "Annotations.mat", sample_images)
    write_jsonl(folder / "annotations.jsonl", sample_images)
    agreement = {"val": {"fleiss_kappa": np.float64(0.31), "vad_std": np.array([1.0, 1.5, 1.8])}, "test": float("nan")}
    write_manifest(folder, count_records(sample_images), agreement, {"label_rule": "union-mean", "split_seed": 7})
    return folder


def test_manifest_holds_counts_taxonomy_agreement_and_hashes(snapshot):
    manifest = json.loads((snapshot / MANIFEST_NAME).read_text("utf-8"))
    assert manifest["counts"] == {
        "train": {"images": 3, "people": 4, "answers": 4},
        "val": {"images": 2, "people": 3, "answers": 7},
        "test": {"images": 2, "people": 2, "answers": 4},
    }
    assert manifest["agreement"] == {"val": {"fleiss_kappa": 0.31, "vad_std": [1.0, 1.5, 1.8]}, "test": None}
    assert (manifest["label_rule"], manifest["split_seed"]) == ("union-mean", 7)
    assert [c["name"] for c in manifest["taxonomy"]["categories"]] == list(CATEGORY_NAMES)
    assert manifest["taxonomy"]["continuous"] == {"dimensions": ["valence", "arousal", "dominance"], "min": 1, "max": 10}
    assert sorted(manifest["files"]) == ["Annotations/Annotations.mat", "annotations.jsonl"]
    mat = (snapshot / "Annotations" / "Annotations.mat").read_bytes()
    assert manifest["files"]["Annotations/Annotations.mat"] == {"sha256": hashlib.sha256(mat).hexdigest(), "bytes": len(mat)}
    assert verify_manifest(snapshot) == []


def test_verifier_reports_changed_missing_and_unlisted_files(snapshot):
    with (snapshot / "annotations.jsonl").open("a", encoding="utf-8") as stream:
        stream.write("\n")
    (snapshot / "Annotations" / "Annotations.mat").unlink()
    (snapshot / "extra.txt").write_text("hello")
    problems = {p.path: p.reason for p in verify_manifest(snapshot)}
    assert set(problems) == {"annotations.jsonl", "Annotations/Annotations.mat", "extra.txt"}
    assert problems["annotations.jsonl"].startswith("sha256 is ")
    assert problems["Annotations/Annotations.mat"] == "missing"
    assert problems["extra.txt"] == "not listed in the manifest"


def test_verifier_refuses_paths_outside_the_snapshot(snapshot):
    manifest = read_manifest(snapshot)
    manifest["files"]["../outside.txt"] = {"sha256": "0" * 64, "bytes": 0}
    (snapshot / MANIFEST_NAME).write_text(json.dumps(manifest), "utf-8")
    assert [str(p) for p in verify_manifest(snapshot)] == ["../outside.txt: lies outside the snapshot folder"]


def test_an_unreadable_manifest_is_an_error(tmp_path):
    with pytest.raises(FormatError, match=r"manifest\.json: cannot read"):
        verify_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("[]", "utf-8")
    with pytest.raises(FormatError, match=r"manifest\.json: needs a 'files' object"):
        verify_manifest(tmp_path)
