"""``python -m training`` end to end on a tiny snapshot, and its argument errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotic.taxonomy import CATEGORY_NAMES
from tests.training.conftest import write_snapshot
from training.core.cli import main

REPOSITORY = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--batch-size", "4", "--num-workers", "0", "--device", "cpu", "--seed", "1"]


def test_train_evaluate_predict(tmp_path, capsys):
    snapshot = tmp_path / "snapshot"
    write_snapshot(snapshot / "arrays", {"train": 4, "val": 4, "test": 4})  # where emotic_export puts them
    run = tmp_path / "run"

    assert main(["train", "--snapshot", str(snapshot), "--out", str(run), "--mode", "body_context", *TINY]) == 0
    trained = json.loads(capsys.readouterr().out.split("\n", 1)[1])  # after the epoch line
    assert trained["status"] == "completed" and trained["best_epoch"] == 1
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
    # Training into the same folder again is refused; --resume takes the run's own settings.
    assert main(["train", "--snapshot", str(snapshot), "--out", str(run), *TINY]) == 1
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "--snapshot", str(snapshot), "--out", str(run), "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_completed"] == 1

    report_dir = tmp_path / "report"
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--snapshot", str(snapshot),
                 "--out", str(report_dir), "--device", "cpu"]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert report["split"] == "test" and report["mode"] == "body_context" and report["metrics"]["samples"] == 4
    assert list(report["metrics"]["average_precision"]) == list(CATEGORY_NAMES)
    assert 0 <= report["metrics"]["mean_average_precision"] <= 1
    assert set(report["metrics"]["vad_mean_absolute_error"]) == {"valence", "arousal", "dominance"}
    for figure in report["plots"].values():
        assert (report_dir / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)).save(images / "street.jpg")
    Image.fromarray(rng.integers(0, 256, (120, 80, 3), dtype=np.uint8)).save(images / "park.png")
    (tmp_path / "boxes.csv").write_text("filename,x1,y1,x2,y2\nstreet.jpg,10,5,60,85\nstreet.jpg,70,0,150,90\n"
                                        "park.png,0,0,80,120\n")
    results_path = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "training", "predict", "--checkpoint", str(run / "best.pt"),
         "--images", str(images), "--boxes", str(tmp_path / "boxes.csv"), "--out", str(results_path),
         "--device", "cpu"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    results = json.loads(results_path.read_text())["results"]
    assert [(r["filename"], r["box"]) for r in results] == [
        ("street.jpg", [10, 5, 60, 85]), ("street.jpg", [70, 0, 150, 90]), ("park.png", [0, 0, 80, 120])]
    thresholds = report["metrics"]["thresholds"]  # of the test split here; the predictor uses validation's
    for result in results:
        assert list(result["scores"]) == list(CATEGORY_NAMES)
        assert all(1 <= value <= 10 for value in result["vad"].values())
        assert set(result["categories"]) <= set(CATEGORY_NAMES)
    assert thresholds.keys() == results[0]["scores"].keys()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--epochs", "0"], "argument --epochs: must be at least 1, got 0"),
        (["--batch-size", "four"], "argument --batch-size: invalid int value: 'four'"),
        (["--mode", "face"], "argument --mode: invalid choice: 'face'"),
        (["--vad-loss-weight", "1.5"], "argument --vad-loss-weight: must lie in [0, 1], got 1.5"),
        (["--mode", "body", "--context-weights", "places.pth.tar"],
         "argument --context-weights: mode 'body' has no context stream"),
    ],
)
def test_argument_errors_name_the_argument(tmp_path, capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--snapshot", str(tmp_path), "--out", str(tmp_path / "run"), *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_hyperparameters_file_with_an_unknown_name_is_refused(tmp_path, capsys):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"epochs": 3, "learning_rat": 0.1}))
    with pytest.raises(SystemExit):
        main(["train", "--snapshot", str(tmp_path), "--out", str(tmp_path / "run"),
              "--hyperparameters", str(settings)])
    assert "argument --learning-rat: unknown hyperparameter" in capsys.readouterr().err


def test_bad_files_exit_with_one_line_naming_them(tmp_path, capsys):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 4, "val": 2})
    (snapshot / "val_cont_arr.npy").unlink()
    assert main(["train", "--snapshot", str(snapshot), "--out", str(tmp_path / "run"), *TINY]) == 1
    assert f"error: {snapshot / 'val_cont_arr.npy'}: file not found" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tmp_path / "nothing.pt"), "--snapshot", str(snapshot),
                 "--out", str(tmp_path / "report")]) == 1
    assert "nothing.pt: checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "report").exists()
