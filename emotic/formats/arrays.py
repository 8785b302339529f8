"""The preprocessed arrays of the common PyTorch EMOTIC baseline (Tandon's ``mat2py.py``).

Per split, one row per person that has combined labels:

- ``{split}_context_arr.npy``: (N, 224, 224, 3) uint8 RGB, the whole image resized
- ``{split}_body_arr.npy``: (N, 128, 128, 3) uint8 RGB, the body box crop resized
- ``{split}_cat_arr.npy``: (N, 26) float64 one-hot in taxonomy order (the baseline's ``np.zeros(26)``)
- ``{split}_cont_arr.npy``: (N, 3) float64 valence, arousal, dominance on the 1-10 scale
- ``{split}.csv``: the same rows, each list cell written as Python's ``str(list)``,
  which the baseline reads back with ``ast.literal_eval``; a folder or file name a
  spreadsheet would run as a formula (``=...``, ``-...``) gets a leading apostrophe
  (``emotic.csv_cells``), which ``read_baseline_arrays`` strips again

Like the baseline, people without categories or without VAD are left out (they
have nothing to learn from); the result says who. The labels are the combined
ones in every split (for train they equal the single annotation).

Speed and memory: each image is decoded once, JPEGs at the largest reduction
that keeps the image 224 and every written box 128 pixels a side (no detail
the arrays keep is lost), and resized by ``emotic.formats.images.resize_box``.
The labels and the CSV are written first, in order; then the pixel rows,
each straight into its place in the ``.npy`` files, which hold their full
size from the start. Who makes the pixel rows is the caller's choice (a
``PixelFill``): by default a pool of processes on this machine (one per
core); ``emotic_export.array_shards`` spreads them over Celery workers, which
hand their rows back as small ``.npy`` files that ``PixelRows.copy_rows``
puts in place. Nothing grows with the split, so memory stays the same however
many people it holds, and the files are the same byte for byte whatever the
number of processes or workers.
"""

from __future__ import annotations

import ast
import csv
import itertools
import math
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy_format

from emotic.csv_cells import csv_writer, unescape_cell
from emotic.formats.layout import array_names
from emotic.formats.common import FormatError, atomic_files, group_by_split
from emotic.formats.images import Box, ImageOpener, Picture, decode_rgb, largest_reduction
from emotic.records import ImageRecord, PersonRecord
from emotic.taxonomy import CATEGORY_INDEX, NUM_CATEGORIES, SPLITS

CONTEXT_SIZE = 224
BODY_SIZE = 128
CSV_COLUMNS = (
    "Index", "Folder", "Filename", "Image Size", "BBox",
    "Categorical_Labels", "Continuous_Labels", "Gender", "Age",
)


@dataclass(frozen=True)
class SplitArrays:
    """What one split's writer produced."""

    split: str
    rows: int
    paths: tuple[Path, ...]
    left_out: tuple[str, ...] = field(default=())  # "<image path> person <j>: <reason>"


def one_hot(categories: Iterable[str]) -> np.ndarray:
    row = np.zeros(NUM_CATEGORIES, dtype=np.float64)
    for name in categories:
        row[CATEGORY_INDEX[name]] = 1.0
    return row


def _why_left_out(person: PersonRecord) -> str | None:
    if not person.combined_categories:
        return "no combined categories"
    if person.combined_continuous is None:
        return "no combined valence/arousal/dominance"
    return None


def write_baseline_arrays(
    directory: Path | str, images: Iterable[ImageRecord], open_image: ImageOpener
) -> dict[str, SplitArrays]:
    """Write the arrays and CSV of every split."""
    grouped = group_by_split(images)
    return {split: write_split_arrays(directory, split, grouped[split], open_image) for split in SPLITS}


@dataclass(frozen=True)
class PixelTask:
    """One image's pixel rows: the picture, its kept people's boxes, and the split row of the first of them."""

    image: Picture
    boxes: tuple[Box, ...]
    first_row: int


# Writes every task's rows into the files and calls ``done(rows)`` as rows land; the default is ``local_pixels``.
PixelFill = Callable[[str, Sequence[PixelTask], "PixelRows", Callable[[int], None]], None]


def write_split_arrays(
    directory: Path | str,
    split: str,
    images: Iterable[ImageRecord],
    open_image: ImageOpener,
    progress: Callable[[int, int], None] | None = None,
    *,
    reduced_jpeg_decoding: bool = True,
    workers: int | None = 1,
    fill: PixelFill | None = None,
) -> SplitArrays:
    """Write one split, streamed into the files, then move them into place together.

    Only a few images are held in memory at a time, so a split of any size fits.
    ``progress(done, total)`` is called as pixel rows are written. With
    ``reduced_jpeg_decoding=False`` every JPEG is decoded at full size.
    ``fill`` makes the pixel rows; by default ``workers`` processes on this
    machine (``None``: one per core). Rows are in the images' order whatever
    makes them, and the files are the same byte for byte.
    """
    images = list(images)
    for i, image in enumerate(images):
        if image.split != split:
            raise FormatError(f"{split}[{i}]", f"image {image.relative_path} belongs to split {image.split!r}")
    kept: list[tuple[ImageRecord, list[PersonRecord]]] = []
    left_out = []
    for image in images:
        people = []
        for j, person in enumerate(image.people):
            reason = _why_left_out(person)
            if reason:
                left_out.append(f"{image.relative_path} person {j}: {reason}")
            else:
                people.append(person)
        if people:
            kept.append((image, people))
    directory = Path(directory)
    targets = [directory / name for name in array_names(split).values()]
    total = sum(len(people) for _, people in kept)
    first_rows = itertools.accumulate((len(people) for _, people in kept), initial=0)
    tasks = [PixelTask(image, tuple(p.body_bbox for p in people), first) for (image, people), first in zip(kept, first_rows)]
    fill = fill or local_pixels(open_image, workers=workers, reduced=reduced_jpeg_decoding)
    with atomic_files(*targets) as (context_path, body_path, cat_path, cont_path, csv_path), ExitStack() as files:
        cat = files.enter_context(NpyRowWriter(cat_path, np.float64, (NUM_CATEGORIES,), total))
        cont = files.enter_context(NpyRowWriter(cont_path, np.float64, (3,), total))
        writer = csv_writer(files.enter_context(csv_path.open("w", newline="", encoding="utf-8")), dialect="excel")
        writer.writerow(CSV_COLUMNS)
        row = 0
        for image, people in kept:
            for person in people:
                cat.write(one_hot(person.combined_categories))
                cont.write(np.asarray(person.combined_continuous, dtype=np.float64))
                writer.writerow(_csv_row(row, image, person))
                row += 1
        pixels = files.enter_context(PixelRows(context_path, body_path, total))
        written = [0]

        def done(rows: int) -> None:
            written[0] += rows
            if progress:
                progress(written[0], total)

        fill(split, tasks, pixels, done)
        if written[0] != total:
            raise FormatError("rows", f"{written[0]} pixel rows written of {total}")
    return SplitArrays(split, total, tuple(targets), tuple(left_out))


def image_pixels(image: Picture, boxes: Sequence[Box], open_image: ImageOpener, reduced: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """One image's context picture (224 x 224) and the body crops under ``boxes`` (128 x 128), as uint8 RGB."""
    max_reduction = 1
    if reduced:
        max_reduction = largest_reduction(image.width, image.height, boxes, min_image_side=CONTEXT_SIZE, min_box_side=BODY_SIZE)
    decoded = decode_rgb(image, open_image, max_reduction=max_reduction)
    whole = decoded.resized((0, 0, image.width, image.height), (CONTEXT_SIZE, CONTEXT_SIZE))
    return whole, [decoded.resized(box, (BODY_SIZE, BODY_SIZE)) for box in boxes]


class PixelRows:
    """The context and body ``.npy`` files at their full size, each row written into its own place.

    Positional writes (``os.pwrite``) on descriptors a forked process
    inherits let every pool process write its images' rows, in any order,
    without passing pixels back; each row goes to disk as it is made.
    """

    ROW_SHAPES = ((CONTEXT_SIZE, CONTEXT_SIZE, 3), (BODY_SIZE, BODY_SIZE, 3))
    COPY_CHUNK = 4 * 2**20

    def __init__(self, context_path: Path, body_path: Path, rows: int) -> None:
        self.rows = rows
        self._files = list(zip((context_path, body_path), self.ROW_SHAPES))
        self._places: list[tuple[int, int, tuple[int, ...]]] = []  # descriptor, header length, row shape

    def __enter__(self) -> PixelRows:
        for path, row_shape in self._files:
            with path.open("wb") as file:
                header_length = write_npy_header(file, np.uint8, (self.rows, *row_shape))
                file.truncate(header_length + self.rows * math.prod(row_shape))
            self._places.append((os.open(path, os.O_WRONLY), header_length, row_shape))
        return self

    def put(self, row: int, context: np.ndarray, body: np.ndarray) -> None:
        if not 0 <= row < self.rows:
            raise FormatError("rows", f"row {row} is outside the {self.rows} rows announced")
        for (descriptor, header_length, row_shape), pixels in zip(self._places, (context, body)):
            if pixels.shape != row_shape or pixels.dtype != np.uint8:
                raise FormatError("pixels", f"row {row} is {pixels.shape} {pixels.dtype}, expected {row_shape} uint8")
            data = np.ascontiguousarray(pixels).data
            if os.pwrite(descriptor, data, header_length + row * data.nbytes) != data.nbytes:
                raise OSError(f"short write of row {row}")

    def copy_rows(self, first_row: int, context: BinaryIO, body: BinaryIO, name: str = "part") -> int:
        """Put the rows of another pair of these files (made elsewhere, read as streams) from ``first_row`` on.

        Each stream's header is checked, then its rows are copied a few MiB at a
        time, so a part of any size costs no memory. Returns the number of rows.
        """
        counts = set()
        for (descriptor, header_length, row_shape), stream, kind in zip(self._places, (context, body), ("context", "body")):
            rows = _part_rows(stream, row_shape, f"{name} {kind}")
            counts.add(rows)
            if first_row < 0 or first_row + rows > self.rows or len(counts) > 1:
                raise FormatError(f"{name} {kind}", f"rows {first_row}-{first_row + rows} do not fit the {self.rows} rows announced "
                                  "or differ between the context and body parts")
            offset, end = header_length + first_row * math.prod(row_shape), header_length + (first_row + rows) * math.prod(row_shape)
            while offset < end:
                chunk = stream.read(min(self.COPY_CHUNK, end - offset))
                if not chunk:
                    raise FormatError(f"{name} {kind}", f"ends {end - offset} bytes short of its {rows} rows")
                if os.pwrite(descriptor, chunk, offset) != len(chunk):
                    raise OSError(f"short write at byte {offset}")
                offset += len(chunk)
        return counts.pop()

    def __exit__(self, *exc) -> None:
        for descriptor, _, _ in self._places:
            os.close(descriptor)


def _part_rows(stream: BinaryIO, row_shape: tuple[int, ...], name: str) -> int:
    """The rows of a ``.npy`` stream of uint8 rows of ``row_shape``, read from its header (the stream is left at its data)."""
    try:
        version = npy_format.read_magic(stream)
        reader = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran_order, dtype = reader(stream)
    except ValueError as error:
        raise FormatError(name, f"not a .npy file ({error})") from None
    if fortran_order or dtype != np.uint8 or tuple(shape[1:]) != row_shape:
        raise FormatError(name, f"expected (N, {', '.join(map(str, row_shape))}) uint8 rows, got {shape} {dtype}")
    return shape[0]


def local_pixels(open_image: ImageOpener, *, workers: int | None = 1, reduced: bool = True) -> PixelFill:
    """Pixel rows made on this machine: here, or by ``workers`` forked processes (``None``: one per core)."""

    def fill(split: str, tasks: Sequence[PixelTask], pixels: PixelRows, done: Callable[[int], None]) -> None:
        work = _PixelWork(list(tasks), pixels, open_image, reduced)
        with _Pool(work, workers) as pool:
            for rows in pool:
                done(rows)

    return fill


@dataclass(frozen=True)
class _PixelWork:
    """Everything a process needs to write one task's pixel rows."""

    tasks: list[PixelTask]
    pixels: PixelRows
    open_image: ImageOpener
    reduced: bool

    def write(self, index: int) -> int:
        task = self.tasks[index]
        whole, bodies = image_pixels(task.image, task.boxes, self.open_image, self.reduced)
        for offset, body in enumerate(bodies):
            self.pixels.put(task.first_row + offset, whole, body)
        return len(bodies)


# What a pool's processes work on: set before they are forked, so nothing of it is pickled.
_pool_work: _PixelWork | None = None


def _pool_write(indexes: range) -> int:
    return sum(_pool_work.write(index) for index in indexes)


class _Pool:
    """Writes every task's rows, here or in a pool of forked processes; yields rows written as they land.

    The pool works a few batches of images ahead of the one this process is
    waiting for, so only a bounded number of indexes wait at any time. Forking
    lets it use the tasks and the opener as they are (a lambda, an open
    storage) without pickling them; where fork is not available, or this is
    itself a daemon process (a Celery worker's), it runs here.
    """

    BATCH = 8  # images a pool process takes at a time
    AHEAD = 8  # batches per process queued ahead: only their indexes wait, the pixels are in the files

    def __init__(self, work: _PixelWork, workers: int | None):
        self.work = work
        workers = (os.cpu_count() or 1) if workers is None else workers
        forkable = "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
        self.workers = min(workers, math.ceil(len(work.tasks) / self.BATCH)) if forkable else 1
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Pool:
        global _pool_work
        if self.workers > 1:
            _pool_work = self.work
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        return self

    def __iter__(self):
        count = len(self.work.tasks)
        if self.pool is None:
            for index in range(count):
                yield self.work.write(index)
            return
        batches = iter(range(start, min(start + self.BATCH, count)) for start in range(0, count, self.BATCH))
        waiting: deque = deque(self.pool.submit(_pool_write, batch) for batch in itertools.islice(batches, self.workers * self.AHEAD))
        while waiting:
            rows = waiting.popleft().result()
            for following in itertools.islice(batches, 1):
                waiting.append(self.pool.submit(_pool_write, following))
            yield rows

    def __exit__(self, *exc) -> None:
        global _pool_work
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            _pool_work = None


def write_npy_header(file: BinaryIO, dtype: type | np.dtype, shape: tuple[int, ...]) -> int:
    """The ``.npy`` header of a C-ordered array of ``shape`` at the file's start; returns its length."""
    header = {"descr": npy_format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    npy_format.write_array_header_1_0(file, header)
    return file.tell()


class NpyRowWriter:
    """A ``.npy`` file of ``rows`` rows written one after another, never held in memory.

    Plain sequential writes keep the process's memory flat; rows written into
    a memory map stay resident as dirty pages until the map is closed.
    """

    def __init__(self, path: Path, dtype: type, row_shape: tuple[int, ...], rows: int) -> None:
        self.path, self.dtype, self.row_shape, self.rows = path, np.dtype(dtype), row_shape, rows
        self.written = 0
        self._file: BinaryIO | None = None

    def __enter__(self) -> NpyRowWriter:
        self._file = self.path.open("wb")
        write_npy_header(self._file, self.dtype, (self.rows, *self.row_shape))
        return self

    def write(self, row: np.ndarray) -> None:
        if row.shape != self.row_shape or row.dtype != self.dtype:
            raise FormatError(
                self.path.name, f"row {self.written} is {row.shape} {row.dtype}, "
                f"expected {self.row_shape} {self.dtype}"
            )
        if self.written == self.rows:
            raise FormatError(self.path.name, f"more than the {self.rows} rows announced in its header")
        self._file.write(np.ascontiguousarray(row).tobytes())
        self.written += 1

    def __exit__(self, kind, error, traceback) -> None:
        self._file.close()
        if kind is None and self.written != self.rows:
            raise FormatError(self.path.name, f"{self.written} rows written but its header announces {self.rows}")


def _csv_row(index: int, image: ImageRecord, person: PersonRecord) -> list:
    return [
        index,
        image.folder,
        image.filename,
        [image.width, image.height],  # the baseline's im_size: n_col, then n_row
        list(person.body_bbox),
        list(person.combined_categories),
        list(person.combined_continuous),
        person.combined_gender,
        person.combined_age,
    ]


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class BaselineArrays:
    """One split read back; arrays are memory-mapped read-only unless ``mmap=False``."""

    context: np.ndarray
    body: np.ndarray
    categories: np.ndarray
    continuous: np.ndarray
    rows: list[dict]


_EXPECTED = {
    "context": (np.uint8, (CONTEXT_SIZE, CONTEXT_SIZE, 3)),
    "body": (np.uint8, (BODY_SIZE, BODY_SIZE, 3)),
    "categories": (np.float64, (NUM_CATEGORIES,)),
    "continuous": (np.float64, (3,)),
}
_LIST_COLUMNS = ("Image Size", "BBox", "Categorical_Labels", "Continuous_Labels")


def read_baseline_arrays(directory: Path | str, split: str, mmap: bool = True) -> BaselineArrays:
    """Load one split and check every file has the baseline's shape, dtype and row count."""
    directory = Path(directory)
    names = array_names(split)
    arrays = {}
    for key, (dtype, row_shape) in _EXPECTED.items():
        try:
            array = np.load(directory / names[key], mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise FormatError(names[key], f"cannot load ({error})") from None
        if array.dtype != dtype or array.shape[1:] != row_shape:
            raise FormatError(
                names[key], f"expected (N, {', '.join(map(str, row_shape))}) {np.dtype(dtype).name}, "
                f"got {array.shape} {array.dtype}"
            )
        arrays[key] = array
    rows = _read_csv(directory / names["csv"])
    for key, array in arrays.items():
        if len(array) != len(rows):
            raise FormatError(names[key], f"{len(array)} rows but {names['csv']} has {len(rows)}")
    return BaselineArrays(arrays["context"], arrays["body"], arrays["categories"], arrays["continuous"], rows)


def _read_csv(path: Path) -> list[dict]:
    try:
        with path.open(newline="", encoding="utf-8") as csv_file:
            lines = list(csv.reader(csv_file, dialect="excel"))
    except OSError as error:
        raise FormatError(path.name, f"cannot read ({error})") from None
    if not lines or tuple(lines[0]) != CSV_COLUMNS:
        raise FormatError(path.name, f"header must be {', '.join(CSV_COLUMNS)}")
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(CSV_COLUMNS):
            raise FormatError(f"{path.name} line {number}", f"expected {len(CSV_COLUMNS)} cells, got {len(cells)}")
        row: dict = dict(zip(CSV_COLUMNS, (unescape_cell(cell) for cell in cells)))
        for column in ("Index", *_LIST_COLUMNS):
            try:
                row[column] = int(row[column]) if column == "Index" else ast.literal_eval(row[column])
            except (ValueError, SyntaxError):
                raise FormatError(f"{path.name} line {number}", f"{column} {row[column]!r} is not readable") from None
            if column != "Index" and not isinstance(row[column], list):
                raise FormatError(f"{path.name} line {number}", f"{column} must be a list, got {row[column]!r}")
        rows.append(row)
    return rows
