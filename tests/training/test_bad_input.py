"""The issue's bad inputs, through the entry points a user calls: each gets a clear error and writes nothing.

Covered elsewhere and not repeated here: malformed arrays at ``open_split``
(test_data), foreign and damaged weight files at ``build_model`` (test_model),
undefined AP at the metric level (test_metrics) and in a trained model's report
(test_learning).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torchvision.models import mobilenet_v3_small

from emotic.taxonomy import CATEGORY_NAMES
from tests.training.conftest import write_snapshot
from training.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from training.core.cli import main
from training.core.data import SnapshotError
from training.core.devices import DeviceError
from training.core.evaluate import evaluate_checkpoint
from training.core.hyperparameters import Hyperparameters
from training.core.loop import train_model
from training.core.metrics import MetricError, average_precision_per_category, vad_mean_absolute_error
from training.core.model import EmoticNet, PretrainedWeightsError
from training.core.predict import load_predictor


def _best_checkpoint(path, mode: str = "body", model: EmoticNet | None = None):
    """A checkpoint in the layout train_model writes as best.pt, with untrained weights."""
    torch.manual_seed(0)
    model = model if model is not None else EmoticNet(mode)
    save_checkpoint(
        {"kind": "best", "model": model.state_dict(), "hyperparameters": Hyperparameters(mode=mode).to_dict(),
         "thresholds": [0.5] * 26, "category_names": list(CATEGORY_NAMES), "epoch": 1},
        path,
    )
    return path


def test_a_snapshot_without_a_validation_split_is_refused_before_anything_is_written(
    tmp_path, tiny_hyperparameters
):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "test": 4})
    with pytest.raises(SnapshotError, match=r"val_cat_arr\.npy: file not found"):
        train_model(snapshot, tmp_path / "run", tiny_hyperparameters)
    assert not (tmp_path / "run").exists()


def test_evaluating_on_a_split_the_snapshot_lacks_names_the_file_and_writes_no_report(tmp_path):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 4, "val": 4})
    checkpoint = _best_checkpoint(tmp_path / "best.pt")
    with pytest.raises(SnapshotError, match=r"test_cat_arr\.npy: file not found"):
        evaluate_checkpoint(checkpoint, snapshot, tmp_path / "report", split="test", device="cpu")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize(
    ("file", "array", "message"),
    [
        ("train_context_arr.npy", np.zeros((6, 224, 224), np.uint8),
         r"train_context_arr\.npy: shape must be \(6, 224, 224, 3\), got \(6, 224, 224\)"),
        ("train_body_arr.npy", np.zeros((5, 128, 128, 3), np.uint8),
         r"train_body_arr\.npy: shape must be \(6, 128, 128, 3\), got \(5, 128, 128, 3\)"),
        ("train_cat_arr.npy", np.zeros((6, 27), np.float32), r"train_cat_arr\.npy: shape must be \(6, 26\)"),
    ],
)
def test_wrong_array_shapes_stop_training_before_anything_is_written(
    tmp_path, tiny_hyperparameters, file, array, message
):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4})
    np.save(snapshot / file, array)
    with pytest.raises(SnapshotError, match=message):
        train_model(snapshot, tmp_path / "run", tiny_hyperparameters.replace(mode="body_context"))
    assert not (tmp_path / "run").exists()


def test_context_weights_of_another_architecture_stop_training_naming_the_file(tmp_path, tiny_hyperparameters):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4})
    # The Places365 release's layout, holding a MobileNet instead of a ResNet-18.
    weights = tmp_path / "mobilenet_places365.pth.tar"
    state = {f"module.{key}": value for key, value in mobilenet_v3_small(num_classes=365).state_dict().items()}
    torch.save({"arch": "mobilenet_v3_small", "state_dict": state}, weights)
    hyperparameters = tiny_hyperparameters.replace(mode="context", context_weights=str(weights))

    with pytest.raises(PretrainedWeightsError) as caught:
        train_model(snapshot, tmp_path / "run", hyperparameters)
    message = str(caught.value)
    assert str(weights) in message and "ResNet-18 context stream" in message
    assert "missing keys: bn1.bias" in message and "unexpected keys: classifier.0.bias" in message
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_whose_weights_belong_to_another_mode_is_refused(tmp_path):
    snapshot = write_snapshot(tmp_path / "snapshot", {"test": 4})
    # Saved as mode "body" but holding body_context weights (a 1024-input fusion layer, a context trunk).
    checkpoint = _best_checkpoint(tmp_path / "best.pt", mode="body", model=EmoticNet("body_context"))
    with pytest.raises(CheckpointError, match=r"best\.pt: weights do not fit mode 'body'"):
        evaluate_checkpoint(checkpoint, snapshot, tmp_path / "report", device="cpu")
    with pytest.raises(CheckpointError, match="weights do not fit mode 'body'"):
        load_predictor(checkpoint, device="cpu")
    assert not (tmp_path / "report").exists()


def test_a_category_without_positives_is_reported_as_null_not_zero(tmp_path, tiny_hyperparameters):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4, "test": 6})
    for split in ("val", "test"):  # Anger (column 1) never occurs outside training
        categories = np.load(snapshot / f"{split}_cat_arr.npy")
        categories[:, 1] = 0
        categories[:, 0] = 1  # every person keeps at least one category
        np.save(snapshot / f"{split}_cat_arr.npy", categories)
    trained = train_model(snapshot, tmp_path / "run", tiny_hyperparameters.replace(epochs=1))

    report = evaluate_checkpoint(trained.best_checkpoint, snapshot, tmp_path / "report", device="cpu")

    written = json.loads((tmp_path / "report" / "report.json").read_text())
    assert written["metrics"]["average_precision"]["Anger"] is None
    assert written["metrics"]["positives"]["Anger"] == 0
    assert written["metrics"]["thresholds"]["Anger"] is None
    defined = [ap for ap in written["metrics"]["average_precision"].values() if ap is not None]
    assert written["metrics"]["mean_average_precision"] == pytest.approx(np.mean(defined))
    assert len(defined) == int((np.load(snapshot / "test_cat_arr.npy").sum(axis=0) > 0).sum())
    assert report["metrics"] == written["metrics"]
    # The checkpoint never predicts a category validation had no positive for.
    assert math.isinf(load_checkpoint(trained.best_checkpoint)["thresholds"][1])


def test_a_split_without_any_positive_has_no_map_and_says_so(tmp_path, tiny_hyperparameters):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4, "test": 4})
    np.save(snapshot / "val_cat_arr.npy", np.zeros((4, 26), np.float32))
    with pytest.raises(SnapshotError, match=r"val_cat_arr\.npy: no category has a positive label"):
        train_model(snapshot, tmp_path / "run", tiny_hyperparameters)
    assert not (tmp_path / "run").exists()

    np.save(snapshot / "test_cat_arr.npy", np.zeros((4, 26), np.float32))
    with pytest.raises(MetricError, match="no category has a positive label, so mAP is undefined"):
        evaluate_checkpoint(_best_checkpoint(tmp_path / "best.pt"), snapshot, tmp_path / "report", device="cpu")
    assert not (tmp_path / "report").exists()


def test_a_diverged_model_gets_a_clear_error_not_a_scikit_learn_traceback(tmp_path):
    snapshot = write_snapshot(tmp_path / "snapshot", {"test": 4})
    model = EmoticNet("body")
    with torch.no_grad():
        model.category_head.bias[:] = math.nan  # as after a diverged step
    checkpoint = _best_checkpoint(tmp_path / "best.pt", model=model)
    with pytest.raises(MetricError, match="categories: predictions hold 104 NaN or infinite values"):
        evaluate_checkpoint(checkpoint, snapshot, tmp_path / "report", device="cpu")
    assert not (tmp_path / "report").exists()


def test_non_finite_predictions_are_named_not_passed_to_scikit_learn():
    scores = np.zeros((3, 26))
    scores[1, 4] = np.nan
    scores[2, 7] = np.inf
    with pytest.raises(MetricError, match="categories: predictions hold 2 NaN or infinite values"):
        average_precision_per_category(np.ones((3, 26)), scores)
    with pytest.raises(MetricError, match="vad: predictions hold 1 NaN"):
        vad_mean_absolute_error(np.full((2, 3), 5.0), np.array([[5.0, np.nan, 5.0], [5.0, 5.0, 5.0]]))


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without CUDA, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_a_cuda_request_without_cuda_is_refused_everywhere(tmp_path, tiny_hyperparameters, no_cuda, capsys):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4, "test": 4})
    checkpoint = _best_checkpoint(tmp_path / "best.pt")
    expected = "device: 'cuda' was asked for but no CUDA device is available"

    with pytest.raises(DeviceError, match=expected):
        train_model(snapshot, tmp_path / "run", tiny_hyperparameters.replace(device="cuda"))
    with pytest.raises(DeviceError, match=expected):
        evaluate_checkpoint(checkpoint, snapshot, tmp_path / "report", device="cuda")
    with pytest.raises(DeviceError, match=expected):
        load_predictor(checkpoint, device="cuda")
    assert main(["train", "--snapshot", str(snapshot), "--out", str(tmp_path / "run"), "--device", "cuda",
                 "--epochs", "1", "--num-workers", "0"]) == 1
    assert f"error: {expected}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "report").exists()


def test_a_checkpoint_write_that_fails_half_way_leaves_the_previous_checkpoint_whole(tmp_path):
    (tmp_path / "run").mkdir()
    path = _best_checkpoint(tmp_path / "run" / "last.pt")
    before = path.read_bytes()

    class Unsaveable:  # pickled after the tensors have been written, so the failure comes mid-file
        def __reduce__(self):
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        save_checkpoint({"model": EmoticNet("body").state_dict(), "hyperparameters": {}, "z": Unsaveable()}, path)
    assert path.read_bytes() == before
    assert load_checkpoint(path)["kind"] == "best"
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no partial file left beside it
