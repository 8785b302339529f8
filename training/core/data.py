"""Reading a snapshot's preprocessed arrays and turning them into model inputs.

The arrays are those of the common PyTorch baseline (Tandon-A/emotic), written by
``emotic.formats.arrays`` into a snapshot's ``arrays/`` folder; per split:
``{split}_context_arr.npy`` (N,224,224,3 uint8 RGB, the whole image resized),
``{split}_body_arr.npy`` (N,128,128,3 uint8, the box crop resized),
``{split}_cat_arr.npy`` (N,26 one-hot in ``emotic.taxonomy.CATEGORY_NAMES`` order)
and ``{split}_cont_arr.npy`` (N,3 valence, arousal, dominance on 1-10). They are
memory-mapped, so a snapshot larger than memory trains without loading it whole.
A folder that holds only ``Annotations/Annotations.mat`` and the images (the
official EMOTIC download) gets its arrays written once, by the same writer, the
first time a split is opened (``build_arrays_from_mat``).

VAD scaling, the baseline's: targets are divided by ``VAD_SCALE`` (10) on the way
in, so the network predicts values near 0.1-1; losses multiply both sides back by
10 so margins are in VAD points; metrics and predictions are multiplied by 10 and
clipped to 1-10 by ``vad_to_scale``.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from emotic.errors import FieldError
from emotic.formats import layout
from emotic.formats.arrays import BODY_SIZE, CONTEXT_SIZE, write_split_arrays
from emotic.formats.layout import array_names
from emotic.formats.common import FormatError
from emotic.formats.images import folder_opener, resize_box
from emotic.formats.mat import read_annotations_mat
from emotic.taxonomy import NUM_CATEGORIES, VAD_MAX, VAD_MIN
from training.core.distributed import SINGLE_PROCESS, GlobalBatchShards, ProcessGroup
from training.core.hyperparameters import Hyperparameters

ARRAYS_SUBFOLDER = layout.ARRAYS_DIR  # where an exported snapshot keeps them
MAT_PATH = Path(layout.ANNOTATIONS_MAT)  # EMOTIC's layout, and our snapshots'
IMAGES_SUBFOLDER = layout.IMAGES_DIR  # the images beside Annotations/: emotic/<folder>/<filename>
VAD_SCALE = 10.0

logger = logging.getLogger(__name__)

# Per-channel RGB mean and std (0-1 scale) of EMOTIC context images and body crops,
# the values the common PyTorch baseline normalises with: Tandon-A/emotic, main.py
# (context_mean, context_std, body_mean, body_std). "imagenet" gives torchvision's
# ImageNet statistics instead.
NORMALISATION_STATS: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "emotic": {
        "context": ((0.4690646, 0.4407227, 0.40508908), (0.2514227, 0.24312855, 0.24266963)),
        "body": ((0.43832874, 0.3964344, 0.3706214), (0.24784276, 0.23621225, 0.2323653)),
    },
    "imagenet": {
        "context": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        "body": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    },
}

IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "context": (CONTEXT_SIZE, CONTEXT_SIZE, 3),
    "body": (BODY_SIZE, BODY_SIZE, 3),
}


class SnapshotError(FieldError):
    """A snapshot file is missing or malformed; ``field`` is the file."""


@dataclass(frozen=True)
class SplitFiles:
    """The validated array files of one split."""

    split: str
    context: Path
    body: Path
    categories: Path
    vad: Path
    size: int

    def image_path(self, stream: str) -> Path:
        return {"context": self.context, "body": self.body}[stream]


def arrays_dir(snapshot_dir: str | Path) -> Path:
    """The folder holding the arrays: a snapshot's ``arrays/``, or the given folder itself."""
    root = Path(snapshot_dir)
    if not root.is_dir():
        raise SnapshotError("snapshot", f"{root} is not a directory")
    nested = root / ARRAYS_SUBFOLDER
    return nested if nested.is_dir() else root


def build_arrays_from_mat(snapshot_dir: str | Path, split: str) -> Path:
    """Write one split's arrays from ``Annotations/Annotations.mat`` and the images beside it.

    For a folder laid out as EMOTIC ships (and as our snapshots are):
    ``Annotations/Annotations.mat`` and ``emotic/<folder>/<filename>``. The
    arrays go to ``<snapshot>/arrays/`` once, with the exporter's own writer
    (the baseline's preprocessing), and every later run reads them from there.
    Returns the arrays folder.
    """
    root = Path(snapshot_dir)
    mat = root / MAT_PATH
    images = root / IMAGES_SUBFOLDER
    if not images.is_dir():
        raise SnapshotError(images, f"{mat} is here but not the images folder beside it (emotic/<folder>/<filename>)")
    try:
        records = read_annotations_mat(mat)[split]
        target = root / ARRAYS_SUBFOLDER
        target.mkdir(exist_ok=True)
        written = write_split_arrays(target, split, records, folder_opener(images))
    except FormatError as error:
        raise SnapshotError(mat, str(error)) from None
    except OSError as error:
        raise SnapshotError(root / ARRAYS_SUBFOLDER, f"cannot write the {split} arrays ({error})") from None
    logger.info("%s: wrote the %s arrays (%d people) from %s", target, split, written.rows, mat)
    return target


def open_split(snapshot_dir: str | Path, split: str, streams: tuple[str, ...] = ("body", "context")) -> SplitFiles:
    """Check one split's arrays (presence, shapes, dtypes, label ranges) and return their paths.

    Only the image arrays of ``streams`` must exist; the labels are read whole
    (they are small) so a bad value fails here, not in the middle of an epoch.
    """
    root = arrays_dir(snapshot_dir)
    names = array_names(split)
    if not (root / names["categories"]).exists() and (Path(snapshot_dir) / MAT_PATH).is_file():
        root = build_arrays_from_mat(snapshot_dir, split)
    paths = {
        "context": root / names["context"],
        "body": root / names["body"],
        "categories": root / names["categories"],
        "vad": root / names["continuous"],
    }
    categories = _load(paths["categories"])
    size = len(categories)
    if size == 0:
        raise SnapshotError(paths["categories"], "the split has no samples")
    _check_shape(paths["categories"], categories, (size, NUM_CATEGORIES))
    if not np.isin(categories, (0, 1)).all():
        raise SnapshotError(paths["categories"], "category labels must be 0 or 1")
    vad = _load(paths["vad"])
    _check_shape(paths["vad"], vad, (size, 3))
    if not np.issubdtype(vad.dtype, np.number) or not np.isfinite(vad).all():
        raise SnapshotError(paths["vad"], "VAD values must be finite numbers")
    if vad.min() < VAD_MIN or vad.max() > VAD_MAX:
        raise SnapshotError(
            paths["vad"], f"VAD values must lie in {VAD_MIN}-{VAD_MAX}, found {vad.min()}-{vad.max()}"
        )
    for stream in streams:
        images = _load(paths[stream])
        _check_shape(paths[stream], images, (size, *IMAGE_SHAPES[stream]))
        if images.dtype != np.uint8:
            raise SnapshotError(paths[stream], f"images must be uint8, got {images.dtype}")
    return SplitFiles(split, paths["context"], paths["body"], paths["categories"], paths["vad"], size)


def split_fingerprint(files: SplitFiles) -> str:
    """A digest of the labels and image-array sizes: resuming on other data is refused."""
    digest = hashlib.sha256()
    for path in (files.categories, files.vad, files.body, files.context):
        if path.exists():
            digest.update(f"{path.name}:{path.stat().st_size}".encode())
    for path in (files.categories, files.vad):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise SnapshotError(path, "file not found")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as error:
        raise SnapshotError(path, f"not a readable .npy array ({error})") from None


def _check_shape(path: Path, array: np.ndarray, expected: tuple[int, ...]) -> None:
    if array.shape != expected:
        raise SnapshotError(path, f"shape must be {expected}, got {array.shape}")


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HWC uint8 -> CHW float in 0-1 (copied: memory-mapped rows are read-only)."""
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).float().div_(255.0)


def normalise(image: torch.Tensor, stream: str, normalisation: str) -> torch.Tensor:
    mean, std = NORMALISATION_STATS[normalisation][stream]
    return TF.normalize(image, list(mean), list(std))


def augment_pair(
    context: torch.Tensor | None,
    body: torch.Tensor | None,
    rng: np.random.Generator,
    flip_probability: float,
    colour_jitter: float,
) -> tuple[torch.Tensor | None, torch.Tensor | None, bool]:
    """Flip and colour-jitter body and context with the same draws.

    They show the same person in the same photograph, so a flip or a change of
    lighting must apply to both (the baseline drew them independently). The
    random numbers are drawn in a fixed order whatever the mode, so one sample
    gets the same augmentation in every mode.
    """
    flip = bool(rng.random() < flip_probability)
    low, high = 1.0 - colour_jitter, 1.0 + colour_jitter
    brightness, contrast, saturation = rng.uniform(low, high, size=3)
    images = []
    for image in (context, body):
        if image is not None:
            if flip:
                image = TF.horizontal_flip(image)
            if colour_jitter > 0:
                image = TF.adjust_brightness(image, float(brightness))
                image = TF.adjust_contrast(image, float(contrast))
                image = TF.adjust_saturation(image, float(saturation))
        images.append(image)
    return images[0], images[1], flip


class EmoticArrays(Dataset):
    """One split as model inputs: a dict with the streams' images, ``categories`` and ``vad``.

    Augmentation draws come from a generator seeded by (seed, epoch, index), so
    they do not depend on which worker loads a sample or on a resume; call
    ``set_epoch`` before iterating. The arrays open lazily in each process (a memory map is
    not copied into DataLoader workers).
    """

    def __init__(
        self,
        files: SplitFiles,
        streams: tuple[str, ...],
        normalisation: str = "emotic",
        augment: bool = False,
        flip_probability: float = 0.5,
        colour_jitter: float = 0.2,
        seed: int = 0,
    ):
        self.files = files
        self.streams = streams
        self.normalisation = normalisation
        self.augment = augment
        self.flip_probability = flip_probability
        self.colour_jitter = colour_jitter
        self.seed = seed
        self.epoch = 0
        self._arrays: dict[str, np.ndarray] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.files.size

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": None}

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            arrays = {"categories": np.load(self.files.categories, mmap_mode="r")}
            arrays["vad"] = np.load(self.files.vad, mmap_mode="r")
            for stream in self.streams:
                arrays[stream] = np.load(self.files.image_path(stream), mmap_mode="r")
            self._arrays = arrays
        return self._arrays

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        arrays = self._open()
        context = to_tensor(arrays["context"][index]) if "context" in self.streams else None
        body = to_tensor(arrays["body"][index]) if "body" in self.streams else None
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            context, body, _ = augment_pair(context, body, rng, self.flip_probability, self.colour_jitter)
        sample = {
            "categories": torch.tensor(arrays["categories"][index], dtype=torch.float32),
            "vad": torch.tensor(arrays["vad"][index], dtype=torch.float32) / VAD_SCALE,
        }
        if context is not None:
            sample["context"] = normalise(context, "context", self.normalisation)
        if body is not None:
            sample["body"] = normalise(body, "body", self.normalisation)
        return sample


def make_loader(
    files: SplitFiles,
    hyperparameters: Hyperparameters,
    device: torch.device,
    train: bool,
    epoch: int = 0,
    group: ProcessGroup = SINGLE_PROCESS,
) -> DataLoader:
    """A loader for one epoch. Training: augmented, shuffled by a generator seeded with (seed, epoch).

    Seeding the order by epoch, not by a running generator, makes epoch k the same
    whether or not the run was resumed before it. A lone leftover training sample
    is dropped: BatchNorm cannot train on a batch of one. Among several training
    processes each loads its share of every batch (``GlobalBatchShards``).
    """
    dataset = EmoticArrays(
        files,
        hyperparameters.streams,
        normalisation=hyperparameters.normalisation,
        augment=train,
        flip_probability=hyperparameters.flip_probability,
        colour_jitter=hyperparameters.colour_jitter,
        seed=hyperparameters.seed,
    )
    dataset.set_epoch(epoch)
    common = dict(num_workers=hyperparameters.num_workers, pin_memory=device.type == "cuda", worker_init_fn=seed_worker)
    if not train:
        return DataLoader(dataset, batch_size=hyperparameters.batch_size, shuffle=False, **common)
    generator = epoch_generator(hyperparameters.seed, epoch)
    if group.distributed:
        # The loader draws its worker seed from the generator before the order, as a shuffling loader does.
        shards = GlobalBatchShards(len(dataset), hyperparameters.batch_size, group, generator)
        return DataLoader(dataset, batch_sampler=shards, generator=generator, **common)
    return DataLoader(
        dataset,
        batch_size=hyperparameters.batch_size,
        shuffle=True,
        drop_last=len(dataset) % hyperparameters.batch_size == 1,
        generator=generator,
        **common,
    )


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that orders the training samples of ``epoch``."""
    epoch_seed = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(epoch_seed))


def seed_worker(worker_id: int) -> None:
    """Give each DataLoader worker NumPy and Python seeds derived from its torch seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def vad_to_scale(network_output: np.ndarray) -> np.ndarray:
    """Network VAD output -> the 1-10 scale of the labels (clipped to it)."""
    return np.clip(np.asarray(network_output, dtype=np.float64) * VAD_SCALE, VAD_MIN, VAD_MAX)


def crop_and_resize(image: Image.Image, box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """One photograph and a person box -> (context 224x224x3, body 128x128x3) uint8 arrays.

    The same preparation as ``emotic.formats.arrays`` gives a snapshot: the whole
    image resized without keeping its aspect ratio, the box crop resized, with
    the same resize (``emotic.formats.images.resize_box``).
    """
    rgb = np.asarray(image.convert("RGB"))
    context = resize_box(rgb, (0, 0, rgb.shape[1], rgb.shape[0]), (CONTEXT_SIZE, CONTEXT_SIZE))
    return context, resize_box(rgb, tuple(box), (BODY_SIZE, BODY_SIZE))
