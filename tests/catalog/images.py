"""Small photo-like test images: smooth random colour fields, distinct per seed.

A smooth field (a few random colours upsampled) has a stable perceptual hash
under resizing and re-encoding, and different seeds give distant hashes, which
is what dedup tests need; noise can be added to reach a given file size.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def photo(seed: int, size: tuple[int, int] = (320, 240), *, noise: float = 0.0) -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    image = Image.fromarray(coarse, "RGB").resize(size, Image.Resampling.BICUBIC)
    if noise:
        pixels = np.asarray(image, dtype=np.int16) + rng.normal(0, noise, size=(size[1], size[0], 3)).astype(np.int16)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    output = io.BytesIO()
    image.save(output, format=fmt, **options)
    return output.getvalue()


def jpeg(seed: int, size: tuple[int, int] = (320, 240), *, quality: int = 90, noise: float = 0.0, **options) -> bytes:
    return encode(photo(seed, size, noise=noise), "JPEG", quality=quality, **options)
