"""Where the work runs: CUDA when there is one, with mixed precision only there."""

from __future__ import annotations

import contextlib

import torch

from emotic.errors import FieldError


class DeviceError(FieldError):
    """The asked-for device is unknown or absent."""


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device", "'cuda' was asked for but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise DeviceError("device", f"must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def uses_mixed_precision(device: torch.device, requested: bool) -> bool:
    """Half precision on CUDA only: on CPU it is slower and changes results."""
    return requested and device.type == "cuda"


def autocast_context(device: torch.device, requested: bool):
    if uses_mixed_precision(device, requested):
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
