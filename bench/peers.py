"""The peer tools the benchmarks compare against, each in a virtual environment of its own.

They are no dependencies of the project: ``peer_python`` makes the
environment under ``var/bench/peers/<name>`` the first time (``python -m venv``,
then ``pip install`` of the pinned packages from PyPI) and returns its
interpreter; later runs reuse it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = {
    # bench/baseline_cv2_arrays.py: the baseline's conversion (mat2py) as a plain cv2 loop
    "cv2": ["opencv-python-headless==5.1.0.95", "numpy==2.4.6"],
    # bench/bench_scraper.py --img2dataset: the downloader researchers use
    "img2dataset": ["img2dataset==1.47.0"],
}


def peer_python(name: str) -> Path:
    """The interpreter of peer ``name``'s environment, made and installed if it is not there yet."""
    folder = REPO / "var" / "bench" / "peers" / name
    python = folder / "bin" / "python"
    marker = folder / "installed.txt"
    wanted = "\n".join(PEERS[name])
    if not (python.exists() and marker.exists() and marker.read_text() == wanted):
        print(f"installing {', '.join(PEERS[name])} into {folder} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEERS[name]], check=True)
        marker.write_text(wanted)
    return python
