"""The two-CNN recogniser: a body ResNet-18, a context ResNet-18 and a fusion head.

Kosti et al. (TPAMI 2019): the body stream starts from ImageNet weights, the
context stream from Places365 weights; their 512-d pooled features are
concatenated and passed through Linear 256, BatchNorm, ReLU, Dropout 0.5 to 26
category outputs and 3 VAD outputs. Modes ``body`` and ``context`` (the papers'
B and I) keep one stream and feed its 512-d features to the same head.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18

from emotic.errors import FieldError
from emotic.taxonomy import NUM_CATEGORIES

FEATURE_DIM = 512
FUSION_DIM = 256
DROPOUT = 0.5
STREAMS_BY_MODE: dict[str, tuple[str, ...]] = {
    "body": ("body",),
    "context": ("context",),
    "body_context": ("body", "context"),
}


class PretrainedWeightsError(FieldError):
    """A weights file that cannot initialise a stream; ``field`` is the file, ``reason`` names the keys."""


def resnet18_trunk() -> nn.Module:
    """ResNet-18 up to global average pooling: images -> (N, 512)."""
    network = resnet18(weights=None)
    network.fc = nn.Identity()
    return network


class EmoticNet(nn.Module):
    def __init__(self, mode: str = "body_context"):
        super().__init__()
        if mode not in STREAMS_BY_MODE:
            raise FieldError("mode", f"must be one of {', '.join(STREAMS_BY_MODE)}, got {mode!r}")
        self.mode = mode
        self.streams = STREAMS_BY_MODE[mode]
        self.body = resnet18_trunk() if "body" in self.streams else None
        self.context = resnet18_trunk() if "context" in self.streams else None
        self.fusion = nn.Sequential(
            nn.Linear(FEATURE_DIM * len(self.streams), FUSION_DIM),
            nn.BatchNorm1d(FUSION_DIM),
            nn.ReLU(inplace=True),
            nn.Dropout(DROPOUT),
        )
        self.category_head = nn.Linear(FUSION_DIM, NUM_CATEGORIES)
        self.vad_head = nn.Linear(FUSION_DIM, 3)

    def forward(
        self, body: torch.Tensor | None = None, context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (category scores (N, 26), VAD on the network scale (N, 3))."""
        features = []
        for name, images, trunk in (("body", body, self.body), ("context", context, self.context)):
            if trunk is None:
                continue
            if images is None:
                raise FieldError(name, f"mode {self.mode!r} needs {name} images")
            features.append(trunk(images))
        fused = self.fusion(torch.cat(features, dim=1))
        return self.category_head(fused), self.vad_head(fused)


def build_model(
    mode: str, body_weights: str | Path | None = None, context_weights: str | Path | None = None
) -> EmoticNet:
    """The recogniser for ``mode``, its streams initialised from local weight files when given."""
    model = EmoticNet(mode)
    if body_weights is not None:
        if model.body is None:
            raise FieldError("body_weights", f"mode {mode!r} has no body stream")
        load_trunk_weights(model.body, body_weights, stream="body")
    if context_weights is not None:
        if model.context is None:
            raise FieldError("context_weights", f"mode {mode!r} has no context stream")
        load_trunk_weights(model.context, context_weights, stream="context")
    return model


def read_resnet18_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ResNet-18 classifier checkpoint in either published layout, without its fc layer.

    Accepted: a bare torchvision state_dict (ImageNet ``resnet18-*.pth``), or a
    dict holding it under ``state_dict`` with keys prefixed ``module.`` (the
    official ``resnet18_places365.pth.tar``, saved from DataParallel). The
    classifier (1000 or 365 classes) is dropped: the head here is our own.
    """
    path = Path(path)
    if not path.is_file():
        raise PretrainedWeightsError(path, "weights file not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise PretrainedWeightsError(path, f"not a readable PyTorch checkpoint ({error})") from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedWeightsError(path, "expected a state_dict of tensors (optionally under 'state_dict')")
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return {key: value for key, value in state.items() if not key.startswith("fc.")}


def load_trunk_weights(trunk: nn.Module, path: str | Path, stream: str) -> None:
    """Strictly load a ResNet-18 checkpoint into a trunk; any key or shape mismatch is an error."""
    state = read_resnet18_state_dict(path)
    expected = trunk.state_dict()
    # Checkpoints saved before PyTorch 0.4 (the Places365 release among them) lack
    # BatchNorm's num_batches_tracked; torch fills it in, so its absence is no mismatch.
    missing = sorted(key for key in set(expected) - set(state) if not key.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(
        f"{key} {tuple(state[key].shape)} in file vs {tuple(expected[key].shape)} in model"
        for key in set(state) & set(expected)
        if state[key].shape != expected[key].shape
    )
    if missing or unexpected or mismatched:
        problems = []
        labelled = (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched))
        for label, keys in labelled:
            if keys:
                shown = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
                problems.append(f"{label}: {shown}")
        raise PretrainedWeightsError(
            path, f"does not fit the ResNet-18 {stream} stream ({'; '.join(problems)})"
        )
    trunk.load_state_dict(state, strict=True)
