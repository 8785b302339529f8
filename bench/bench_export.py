"""How fast the EMOTIC exporter is at EMOTIC's size; prints the figures (run by hand, never by CI).

Two parts:

- metadata: a synthetic database the size of EMOTIC (per split: images, people
  and annotators per person as the paper gives them) is bulk-inserted into its
  own PostgreSQL database, created here; then it times building the records
  (``collect_dataset``), the agreement figures and each metadata format
  (``Annotations.mat``, JSONL, COCO, manifest);
- arrays: photo-like JPEGs of real size (cached under ``var/bench/``) with
  their people are written as the baseline's npy arrays, with reduced JPEG
  decoding and with every JPEG decoded at full size, each run in a fresh
  child process so that its peak memory is its own; it reports images and
  people per second (wall clock, and per CPU second, steadier on a shared
  machine), the peak memory and how many images each scale decoded; with
  one writer process and with one per core (``--workers``), beside a plain
  cv2 loop of the baseline's work (``bench/baseline_cv2_arrays.py``, run by
  ``--baseline-python``; by default ``bench/peers.py`` makes a virtualenv with
  numpy and opencv-python-headless under ``var/bench/peers/cv2`` the first time).

    .venv/bin/python bench/bench_export.py                     # everything, EMOTIC's size
    .venv/bin/python bench/bench_export.py --scale 0.1 --array-images 100,400
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.databases import local_database_url, recreate_database, start_django  # noqa: E402

from emotic.records import AnnotatorAnswer, ImageRecord, PersonRecord  # noqa: E402
from emotic.taxonomy import AGES, CATEGORY_NAMES, GENDERS  # noqa: E402

# EMOTIC (Kosti et al., TPAMI 2019): images and people per split, annotators per person.
# The split image counts sum to 23,554; the paper's total of 23,571 counts 17 images more.
EMOTIC_SPLITS = {
    "train": {"images": 17_077, "people": 23_706, "annotators": (1, 1)},
    "val": {"images": 2_088, "people": 3_334, "annotators": (3, 5)},
    "test": {"images": 4_389, "people": 7_280, "annotators": (3, 5)},
}
# Skewed like EMOTIC's labels (Engagement on most people, Embarrassment on few); not its exact figures.
CATEGORY_PROBABILITY = np.array(
    [
        {"Engagement": 0.55, "Anticipation": 0.25, "Happiness": 0.22, "Confidence": 0.2, "Excitement": 0.15,
         "Pleasure": 0.13, "Peace": 0.12, "Affection": 0.08, "Disconnection": 0.08, "Esteem": 0.06,
         "Sympathy": 0.05, "Doubt/Confusion": 0.05}.get(name, 0.025)
        for name in CATEGORY_NAMES
    ]
)
DATABASES_OF_ORIGIN = ("mscoco", "ade20k", "emodb_small", "framesdb")
WORKERS = 300


@contextmanager
def timed(figures: dict, name: str):
    start = time.perf_counter()
    yield
    figures[name] = time.perf_counter() - start
    print(f"  {name:<36} {figures[name]:8.2f} s", flush=True)


# ---------------------------------------------------------------- synthetic people


def random_box(rng: np.random.Generator, width: int, height: int) -> tuple[int, int, int, int]:
    """A standing person's box: 20-100% of the image height, 30-80% as wide as tall."""
    box_height = max(2, int(height * rng.uniform(0.2, 1.0)))
    box_width = max(2, min(width, int(box_height * rng.uniform(0.3, 0.8))))
    x1 = int(rng.integers(0, width - box_width + 1))
    y1 = int(rng.integers(0, height - box_height + 1))
    return (x1, y1, x1 + box_width, y1 + box_height)


def random_categories(rng: np.random.Generator) -> list[str]:
    chosen = rng.random(len(CATEGORY_NAMES)) < CATEGORY_PROBABILITY
    if not chosen.any():
        chosen[int(rng.integers(len(CATEGORY_NAMES)))] = True
    return [name for name, on in zip(CATEGORY_NAMES, chosen) if on]


def random_size(rng: np.random.Generator, sides: tuple[int, int]) -> tuple[int, int]:
    """4:3 photos, landscape three times in four, long side between ``sides``."""
    long_side = int(rng.integers(sides[0], sides[1] + 1)) // 4 * 4
    short_side = long_side * 3 // 4
    return (long_side, short_side) if rng.random() < 0.75 else (short_side, long_side)


def people_per_image(rng: np.random.Generator, images: int, people: int) -> np.ndarray:
    """Every image gets one person; the remaining people land on random images."""
    counts = np.ones(images, dtype=np.int64)
    np.add.at(counts, rng.integers(0, images, people - images), 1)
    return counts


# ---------------------------------------------------------------- metadata part


def fill_database(scale: float, seed: int) -> dict[str, int]:
    """Bulk-insert EMOTIC-sized images, people, workers and annotations; splits already placed."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from annotator.models import EmotionAnnotation, Person, Worker
    from catalog.models import Image as ImageRow
    from emotic.taxonomy import categories_to_mask
    from catalog.models import Source

    rng = np.random.default_rng(seed)
    now = timezone.now()
    counts = {"images": 0, "people": 0, "annotations": 0}
    with transaction.atomic():
        source = Source.objects.create(kind="bundled", name="bench_export synthetic")
        users = get_user_model().objects.bulk_create(
            get_user_model()(username=f"bench-worker-{k}", password="!") for k in range(WORKERS)
        )
        workers = Worker.objects.bulk_create(Worker(user=user, qualification="qualified") for user in users)
        for split, sizes in EMOTIC_SPLITS.items():
            n_images = max(1, round(sizes["images"] * scale))
            n_people = max(n_images, round(sizes["people"] * scale))
            images = []
            for _ in range(n_images):
                k = counts["images"] = counts["images"] + 1
                database = DATABASES_OF_ORIGIN[k % len(DATABASES_OF_ORIGIN)]
                width, height = random_size(rng, (500, 1024))
                images.append(
                    ImageRow(
                        source=source, storage_key=f"bench/{k:06d}.jpg", sha256=f"{k:064x}", phash="0" * 16,
                        width=width, height=height, format="JPEG", original_database=database,
                        folder=f"{database}/images", filename=f"{k:06d}.jpg", fetched_at=now, split=split,
                        boxes_confirmed=True,
                    )
                )
            images = ImageRow.objects.bulk_create(images, batch_size=5000)
            people = []
            for image, count in zip(images, people_per_image(rng, n_images, n_people)):
                for _ in range(count):
                    x1, y1, x2, y2 = random_box(rng, image.width, image.height)
                    people.append(
                        Person(image=image, x1=x1, y1=y1, x2=x2, y2=y2, image_width=image.width,
                               image_height=image.height, box_origin="imported")
                    )
            people = Person.objects.bulk_create(people, batch_size=5000)
            low, high = sizes["annotators"]
            annotations = []
            for person in people:
                for w in rng.choice(WORKERS, int(rng.integers(low, high + 1)), replace=False):
                    valence, arousal, dominance = (int(v) for v in rng.integers(1, 11, 3))
                    annotations.append(
                        EmotionAnnotation(
                            person=person, worker=workers[w],
                            categories_mask=categories_to_mask(random_categories(rng)),
                            valence=valence, arousal=arousal, dominance=dominance,
                            gender=GENDERS[int(rng.integers(2))], age=AGES[int(rng.integers(3))],
                            status="accepted", seconds_spent=20.0,
                        )
                    )
            EmotionAnnotation.objects.bulk_create(annotations, batch_size=5000)
            counts["people"] += len(people)
            counts["annotations"] += len(annotations)
    return counts


def bench_metadata(args: argparse.Namespace) -> dict[str, float]:
    figures: dict[str, float] = {}
    print(f"metadata: database {args.database}, scale {args.scale}", flush=True)
    with timed(figures, "create + migrate database (setup)"):
        start_django(recreate_database(local_database_url(args.database)))
    with timed(figures, "bulk insert (setup)"):
        counts = fill_database(args.scale, args.seed)
    print(f"  {counts['images']} images, {counts['people']} people, {counts['annotations']} annotations")

    from emotic.formats.coco import write_coco
    from emotic.formats.jsonl import write_jsonl
    from emotic.formats.manifest import count_records, write_manifest
    from emotic.formats.mat import write_annotations_mat
    from emotic_export.files import agreement_figures
    from emotic_export.services import ExportOptions, collect_dataset

    with timed(figures, "records: collect_dataset"):
        dataset = collect_dataset(ExportOptions(formats=("mat", "jsonl", "coco")))
    with timed(figures, "agreement figures"):
        agreement = agreement_figures(dataset.answers_by_split)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        folder = Path(folder)
        with timed(figures, "Annotations.mat"):
            write_annotations_mat(folder / "Annotations" / "Annotations.mat", dataset.images)
        with timed(figures, "annotations.jsonl"):
            write_jsonl(folder / "annotations.jsonl", dataset.images)
        with timed(figures, "coco.json"):
            write_coco(folder / "coco.json", dataset.images, description="bench")
        with timed(figures, "manifest.json (hashes the files)"):
            write_manifest(folder, count_records(dataset.images), agreement, {"name": "bench"})
        sizes = {p.name: p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    print("  file sizes: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sorted(sizes.items())))
    export = sum(v for k, v in figures.items() if "(setup)" not in k)
    print(f"  {'metadata export total':<36} {export:8.2f} s  (aim: under 30 s)", flush=True)
    figures["metadata export total"] = export
    return figures


# ---------------------------------------------------------------- arrays part


def photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Photo-like pixels: a smooth random colour field, a light gradient and sensor grain."""
    low = rng.integers(0, 256, (height // 48 + 2, width // 48 + 2, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(low).resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    gradient = np.linspace(-40, 40, width, dtype=np.float32).astype(np.int16)[None, :, None]
    grain = rng.integers(-10, 11, (height, width, 3), dtype=np.int16)
    return np.clip(field + gradient + grain, 0, 255).astype(np.uint8)


def make_photos(folder: Path, count: int, seed: int, sides: tuple[int, int]) -> list[dict]:
    """``count`` JPEGs (quality 90) with their people; reused when already made with the same settings."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / "people.json"
    if listing.exists():
        made = json.loads(listing.read_text())
        if len(made) >= count:
            return made[:count]
    rng = np.random.default_rng(seed)
    made = []
    start = time.perf_counter()
    for k in range(count):
        width, height = random_size(rng, sides)
        Image.fromarray(photo(rng, width, height)).save(folder / f"{k:05d}.jpg", quality=90)
        n_people = 1 + int(rng.random() < 0.3) + int(rng.random() < 0.15)
        made.append({"filename": f"{k:05d}.jpg", "width": width, "height": height,
                     "boxes": [random_box(rng, width, height) for _ in range(n_people)]})
    listing.write_text(json.dumps(made))
    print(f"  made {count} JPEGs in {time.perf_counter() - start:.1f} s under {folder}", flush=True)
    return made


def records_of(photos: list[dict]) -> list[ImageRecord]:
    rng = np.random.default_rng(0)
    records = []
    for entry in photos:
        people = []
        for box in entry["boxes"]:
            categories = tuple(random_categories(rng))
            vad = tuple(int(v) for v in rng.integers(1, 11, 3))
            people.append(PersonRecord(tuple(box), (AnnotatorAnswer(categories, *vad, "Male", "Adult"),),
                                       categories, tuple(float(v) for v in vad), "Male", "Adult"))
        records.append(ImageRecord(entry["filename"], "", entry["width"], entry["height"], "web", "train",
                                   tuple(people)))
    return records


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def arrays_child(args: argparse.Namespace) -> None:
    """Write the arrays of the first ``count`` photos; print one JSON line of figures."""
    from emotic.formats.arrays import BODY_SIZE, CONTEXT_SIZE, write_split_arrays
    from emotic.formats.images import folder_opener, largest_reduction

    listing = json.loads((Path(args.photos) / "people.json").read_text())[: args.child_arrays]
    records = records_of(listing)
    reductions = [
        1 if args.full_decode else largest_reduction(
            r.width, r.height, [p.body_bbox for p in r.people], min_image_side=CONTEXT_SIZE, min_box_side=BODY_SIZE
        )
        for r in records
    ]
    rss_before = status_kib("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    written = write_split_arrays(
        args.out, "train", records, folder_opener(args.photos), reduced_jpeg_decoding=not args.full_decode,
        workers=int(args.workers) or None,
    )
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps({
        "images": len(records), "people": written.rows, "seconds": seconds, "cpu_seconds": cpu_seconds,
        "rss_before_mib": rss_before / 1024, "peak_rss_mib": status_kib("VmHWM") / 1024,
        "pool_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "cpu_seconds_all": cpu_seconds + _children_cpu(),
        "decoded_at": {f"1/{r}": reductions.count(r) for r in sorted(set(reductions))},
    }))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _baseline(args: argparse.Namespace, folder: Path, count: int) -> dict | None:
    """The plain cv2 loop of ``baseline_cv2_arrays.py`` in its own virtual environment, if there is one."""
    if args.baseline_python == "auto":
        from bench.peers import peer_python

        args.baseline_python = str(peer_python("cv2"))
    if not args.baseline_python or not Path(args.baseline_python).exists():
        print(f"  (no baseline: {args.baseline_python or '--baseline-python'} not found)", flush=True)
        return None
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as out:
        command = [args.baseline_python, str(REPO / "bench" / "baseline_cv2_arrays.py"), str(folder), str(count), out]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return {"variant": "cv2 baseline", "workers": 1, **json.loads(done.stdout.strip().splitlines()[-1])}


def bench_arrays(args: argparse.Namespace) -> list[dict]:
    counts = sorted(int(c) for c in args.array_images.split(","))
    sides = tuple(int(s) for s in args.photo_sides.split(","))
    folder = REPO / "var" / "bench" / f"photos-{sides[0]}-{sides[1]}-seed{args.seed}"
    print(f"arrays: {', '.join(map(str, counts))} images, long side {sides[0]}-{sides[1]} px", flush=True)
    make_photos(folder, max(counts), args.seed, sides)
    results = []
    baseline_rate = None
    pool = [int(w) for w in args.workers.split(",")]
    variants = [("cv2 baseline", 1), *[("reduced", w) for w in pool], *([("full decode", 1)] if args.full_decode_run else [])]
    for count, round_number in itertools.product(counts, range(1, args.rounds + 1)):
        if args.rounds > 1:
            print(f"  round {round_number} of {args.rounds}", flush=True)
        for variant, workers in variants:
            if variant == "cv2 baseline":
                result = _baseline(args, folder, count)
                if result is None:
                    continue
                baseline_rate = result["people"] / result["seconds"]
            else:
                with tempfile.TemporaryDirectory(prefix="bench-arrays-") as out:
                    command = [sys.executable, __file__, "--child-arrays", str(count), "--photos", str(folder)]
                    command += ["--out", out, "--workers", str(workers)] + ["--full-decode"] * (variant == "full decode")
                    done = subprocess.run(command, capture_output=True, text=True, check=True)
                result = {"variant": variant, "workers": workers, **json.loads(done.stdout.strip().splitlines()[-1])}
            results.append(result)
            ratio = result["people"] / result["seconds"] / baseline_rate if baseline_rate else float("nan")
            print(
                f"  {variant:<12} workers {workers or os.cpu_count()} {result['images']:5d} images {result['people']:5d} people: "
                f"{result['seconds']:5.1f} s ({result['cpu_seconds']:5.1f} s CPU), "
                f"{result['images'] / result['seconds']:5.1f} images/s "
                f"({result['images'] / result['cpu_seconds']:5.1f} per CPU second), "
                f"{result['people'] / result['seconds']:5.1f} people/s, "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB"
                + (
                    f" (before writing {result['rss_before_mib']:.0f}; largest pool process {result['pool_peak_rss_mib']:.0f}), "
                    f"CPU of all processes {result['cpu_seconds_all']:.1f} s; "
                    f"decoded at {result['decoded_at']}"
                    if "decoded_at" in result else ""
                )
                + f"; {ratio:.2f}x the cv2 baseline's people/s",
                flush=True,
            )
    for count in counts:  # medians over the interleaved rounds
        rates = {}
        for result in results:
            if result["images"] == count:
                rates.setdefault((result["variant"], result["workers"]), []).append(result["people"] / result["seconds"])
        base = statistics.median(rates.get(("cv2 baseline", 1), [float("nan")]))
        print(f"  medians of {args.rounds} round(s), {count} images: " + "; ".join(
            f"{variant} x{workers or os.cpu_count()} {statistics.median(r):.1f} people/s ({statistics.median(r) / base:.2f}x)"
            for (variant, workers), r in rates.items()
        ), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of EMOTIC's size for the database")
    parser.add_argument("--database", default="bench_export", help="PostgreSQL database to (re)create")
    parser.add_argument("--array-images", default="500,2000", help="image counts for the arrays, comma-separated")
    parser.add_argument("--photo-sides", default="640,1024", help="smallest and largest long side of the JPEGs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-metadata", action="store_true")
    parser.add_argument("--skip-arrays", action="store_true")
    parser.add_argument("--child-arrays", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--photos", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--full-decode", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workers", default="1,0", help="array writer processes to time, comma-separated (0: one per core)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of every arrays variant (medians printed)")
    parser.add_argument("--full-decode-run", action="store_true", help="also time one process decoding every JPEG at full size")
    parser.add_argument(
        "--baseline-python", default="auto",
        help="a Python with numpy and opencv-python-headless for the cv2 baseline (bench/baseline_cv2_arrays.py); "
        "auto: bench/peers.py makes one under var/bench/peers/cv2; none: no baseline",
    )
    args = parser.parse_args()
    if args.child_arrays is not None:
        arrays_child(args)
        return
    print(f"bench_export on {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    if not args.skip_metadata:
        bench_metadata(args)
    if not args.skip_arrays:
        bench_arrays(args)


if __name__ == "__main__":
    main()
