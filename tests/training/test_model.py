"""The recogniser's shapes per mode and strict loading of the published weight layouts."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18, resnet34

from training.core.model import EmoticNet, PretrainedWeightsError, build_model


@pytest.mark.parametrize(("mode", "head_inputs"), [("body", 512), ("context", 512), ("body_context", 1024)])
def test_outputs_have_26_categories_and_3_vad_in_every_mode(mode, head_inputs):
    model = EmoticNet(mode).eval()
    inputs = {"body": torch.randn(2, 3, 128, 128), "context": torch.randn(2, 3, 224, 224)}
    with torch.no_grad():
        scores, vad = model(**{stream: inputs[stream] for stream in model.streams})
    assert scores.shape == (2, 26)
    assert vad.shape == (2, 3)
    assert model.fusion[0].in_features == head_inputs
    assert [type(layer).__name__ for layer in model.fusion] == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert model.fusion[0].out_features == 256 and model.fusion[3].p == 0.5


def test_missing_stream_input_is_named():
    model = EmoticNet("body_context").eval()
    with pytest.raises(ValueError, match="context: mode 'body_context' needs context images"):
        model(body=torch.randn(2, 3, 128, 128))


def _trunk_equals(trunk: torch.nn.Module, reference: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(value, reference[key]) for key, value in trunk.state_dict().items()
               if not key.endswith("num_batches_tracked"))


def test_places365_layout_loads_into_context_stream(tmp_path):
    torch.manual_seed(1)
    places = resnet18(num_classes=365)
    # As published: under "state_dict", keys prefixed "module.", saved before BatchNorm counted batches.
    state = {f"module.{key}": value for key, value in places.state_dict().items()
             if not key.endswith("num_batches_tracked")}
    path = tmp_path / "resnet18_places365.pth.tar"
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 54.7}, path)

    model = build_model("body_context", context_weights=path)

    assert _trunk_equals(model.context, places.state_dict())
    assert not _trunk_equals(model.body, places.state_dict())


def test_imagenet_layout_loads_into_body_stream(tmp_path):
    torch.manual_seed(2)
    imagenet = resnet18()
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(imagenet.state_dict(), path)

    model = build_model("body", body_weights=path)

    assert _trunk_equals(model.body, imagenet.state_dict())


def test_other_architecture_is_refused_naming_file_and_keys(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(resnet34().state_dict(), path)
    with pytest.raises(PretrainedWeightsError) as caught:
        build_model("body", body_weights=path)
    message = str(caught.value)
    assert str(path) in message
    assert "unexpected keys: layer1.2." in message
    assert "body stream" in message


def test_missing_key_and_wrong_shape_are_listed(tmp_path):
    state = resnet18().state_dict()
    del state["layer4.1.bn2.weight"]
    state["conv1.weight"] = torch.zeros(64, 3, 5, 5)
    path = tmp_path / "damaged.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(PretrainedWeightsError) as caught:
        build_model("context", context_weights=path)
    message = str(caught.value)
    assert "missing keys: layer4.1.bn2.weight" in message
    assert "conv1.weight (64, 3, 5, 5) in file vs (64, 3, 7, 7) in model" in message


def test_unreadable_or_absent_weights_file_is_named(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="junk.pth: not a readable PyTorch checkpoint"):
        build_model("body", body_weights=junk)
    with pytest.raises(PretrainedWeightsError, match="absent.pth: weights file not found"):
        build_model("body", body_weights=tmp_path / "absent.pth")
