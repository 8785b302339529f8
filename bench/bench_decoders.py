"""Decoders and resizes for the baseline's arrays, side by side: what ``emotic/formats/images.py`` chose, and why.

    .venv/bin/python bench/bench_decoders.py                 # 300 of bench_export's 640 x 480 photos
    .venv/bin/python bench/bench_decoders.py --photos 1000

On the photos ``bench/bench_export.py`` makes (run it once first), one
process, CPU milliseconds per image for: decoding to an RGB array (Pillow,
OpenCV, simplejpeg; full size and 1/2 by DCT scaling), the context resize to
224 x 224 and the body crops to 128 x 128 (Pillow's antialiased bilinear,
OpenCV's area and bilinear, and ``resize_box``), with each resize's mean and
99th-percentile difference to Pillow's, the resize of earlier snapshots.
It prints figures only.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from emotic.formats.images import resize_box  # noqa: E402

CONTEXT, BODY = (224, 224), (128, 128)


def cpu_ms(items: list, work: Callable) -> tuple[float, list]:
    start = time.process_time()
    results = [work(item) for item in items]
    return 1000 * (time.process_time() - start) / len(items), results


def difference(results: list[np.ndarray], reference: list[np.ndarray]) -> str:
    gaps = np.concatenate([np.abs(a.astype(np.int16) - b.astype(np.int16)).ravel() for a, b in zip(results, reference)])
    return f"difference to Pillow's: mean {gaps.mean():.2f}, 99th percentile {np.percentile(gaps, 99):.0f} of 255"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--folder", default=str(REPO / "var" / "bench" / "photos-640-640-seed0"))
    args = parser.parse_args()
    folder = Path(args.folder)
    if not (folder / "people.json").exists():
        sys.exit(f"{folder} has no photos: run bench/bench_export.py --skip-metadata --photo-sides 640,640 first")
    listing = json.loads((folder / "people.json").read_text())[: args.photos]
    data = [(folder / entry["filename"]).read_bytes() for entry in listing]
    print(f"{len(data)} photos from {folder}, one process, CPU ms per image (OpenCV {cv2.__version__}, "
          f"simplejpeg {simplejpeg.__version__}, Pillow {Image.__version__})", flush=True)

    def pillow(blob: bytes, reduction: int = 1) -> np.ndarray:
        with Image.open(io.BytesIO(blob)) as picture:
            if reduction > 1:
                picture.draft("RGB", (picture.width // reduction, picture.height // reduction))
            return np.asarray(picture.convert("RGB"))

    decoders = {
        "Pillow, full size": pillow,
        "Pillow, 1/2 (draft)": lambda blob: pillow(blob, 2),
        "OpenCV imdecode + BGR to RGB": lambda blob: cv2.cvtColor(cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB),
        "OpenCV, 1/2 (IMREAD_REDUCED_COLOR_2)": lambda blob: cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_REDUCED_COLOR_2),
        "simplejpeg, full size": lambda blob: simplejpeg.decode_jpeg(blob, colorspace="RGB"),
    }  # fmt: skip
    for name, decode in decoders.items():
        print(f"  decode  {name:<40} {cpu_ms(data, decode)[0]:6.3f}", flush=True)

    pixels = [pillow(blob) for blob in data]
    whole = [(p, (0, 0, p.shape[1], p.shape[0])) for p in pixels]
    bodies = [(p, tuple(box)) for p, entry in zip(pixels, listing) for box in entry["boxes"]]
    per_image = len(bodies) / len(pixels)
    for label, size, items, scale in [("context", CONTEXT, whole, 1.0), ("bodies", BODY, bodies, per_image)]:
        _, reference = cpu_ms(items, lambda item: np.asarray(Image.fromarray(item[0]).resize(size, Image.Resampling.BILINEAR, box=item[1])))
        resizes = {
            "Pillow bilinear (antialiased)": lambda item: np.asarray(Image.fromarray(item[0]).resize(size, Image.Resampling.BILINEAR, box=item[1])),
            "OpenCV INTER_AREA on the crop": lambda item: cv2.resize(_crop(*item), size, interpolation=cv2.INTER_AREA),
            "OpenCV INTER_LINEAR on the crop": lambda item: cv2.resize(_crop(*item), size, interpolation=cv2.INTER_LINEAR),
            "resize_box (area by whole factor, bilinear)": lambda item: resize_box(item[0], item[1], size),
        }  # fmt: skip
        for name, resize in resizes.items():
            milliseconds, results = cpu_ms(items, resize)
            print(f"  {label:<7} {name:<44} {milliseconds * scale:6.3f}  {difference(results, reference)}", flush=True)


def _crop(pixels: np.ndarray, box: tuple) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in box)
    return pixels[y1:y2, x1:x2]


if __name__ == "__main__":
    main()
