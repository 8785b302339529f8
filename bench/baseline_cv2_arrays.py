"""The baseline's conversion as its published description gives it, a plain cv2 loop: the reference timing.

    /work/venvs/bench-cv2/bin/python bench/baseline_cv2_arrays.py PHOTOS_FOLDER COUNT OUT_FOLDER [--one-thread]

Tandon-A/emotic's ``mat2py.py`` turns each annotated person into a row: it
reads the image with ``cv2.imread``, converts BGR to RGB, resizes the whole
image to 224 x 224 and the body box crop to 128 x 128 (``cv2.resize``,
bilinear, with OpenCV's default threads, as mat2py leaves them), collects the
rows in lists and saves them with ``np.save``. This
script does that work, and only that, on the photos ``bench_export.py`` makes
(``people.json`` lists each photo's size and boxes). It imports nothing of the
project, so it runs in a virtual environment holding only numpy and OpenCV;
it prints one JSON line of figures.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    folder, count, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    listing = json.loads((folder / "people.json").read_text())[:count]
    if "--one-thread" in sys.argv:  # mat2py leaves OpenCV's threads as they are; this pins them for comparison
        cv2.setNumThreads(1)
    start, cpu_start = time.perf_counter(), time.process_time()
    context_rows, body_rows, people = [], [], 0
    for entry in listing:
        for x1, y1, x2, y2 in entry["boxes"]:
            image = cv2.cvtColor(cv2.imread(str(folder / entry["filename"])), cv2.COLOR_BGR2RGB)
            context_rows.append(cv2.resize(image, (224, 224)))
            body_rows.append(cv2.resize(image[y1:y2, x1:x2].copy(), (128, 128)))
            people += 1
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "train_context_arr.npy", np.array(context_rows))
    np.save(out / "train_body_arr.npy", np.array(body_rows))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"images": len(listing), "people": people, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mib": peak_mib}))


if __name__ == "__main__":
    main()
