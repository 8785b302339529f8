"""Snapshot arrays: validation, normalisation, VAD scaling, joint augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.training.conftest import write_snapshot
from training.core.data import (
    EmoticArrays,
    SnapshotError,
    augment_pair,
    crop_and_resize,
    make_loader,
    open_split,
    vad_to_scale,
)


def test_open_split_accepts_the_baseline_layout(snapshot):
    files = open_split(snapshot, "train")
    assert files.size == 8
    assert files.context.name == "train_context_arr.npy"


def test_an_exported_snapshot_keeps_its_arrays_in_a_subfolder(tmp_path):
    write_snapshot(tmp_path / "snapshot" / "arrays", {"val": 2})
    assert open_split(tmp_path / "snapshot", "val").body == tmp_path / "snapshot" / "arrays" / "val_body_arr.npy"


@pytest.mark.parametrize(
    ("file", "array", "message"),
    [
        ("val_body_arr.npy", np.zeros((6, 64, 64, 3), np.uint8), r"val_body_arr.npy: shape must be \(6, 128, 128, 3\)"),
        ("val_context_arr.npy", np.zeros((6, 224, 224, 3), np.float32), "val_context_arr.npy: images must be uint8"),
        ("val_cat_arr.npy", np.full((6, 26), 2.0), "val_cat_arr.npy: category labels must be 0 or 1"),
        ("val_cont_arr.npy", np.full((6, 3), 11.0), "val_cont_arr.npy: VAD values must lie in 1-10"),
        ("val_cont_arr.npy", np.full((5, 3), 5.0), r"val_cont_arr.npy: shape must be \(6, 3\)"),
    ],
)
def test_malformed_arrays_are_refused_naming_the_file(snapshot, file, array, message):
    np.save(snapshot / file, array)
    with pytest.raises(SnapshotError, match=message):
        open_split(snapshot, "val")


def test_missing_file_is_named_and_unused_stream_may_be_absent(snapshot):
    (snapshot / "test_context_arr.npy").unlink()
    assert open_split(snapshot, "test", streams=("body",)).size == 6
    with pytest.raises(SnapshotError, match="test_context_arr.npy: file not found"):
        open_split(snapshot, "test")


def test_inputs_are_normalised_with_the_baseline_statistics_and_vad_scaled_by_ten(snapshot):
    files = open_split(snapshot, "val")
    sample = EmoticArrays(files, ("body", "context"), normalisation="emotic")[2]
    context = np.load(snapshot / "val_context_arr.npy")[2].astype(np.float64) / 255
    expected = (context[..., 1] - 0.4407227) / 0.24312855  # green channel, Tandon-A/emotic context stats
    assert np.allclose(sample["context"][1].numpy(), expected, atol=1e-5)
    body = np.load(snapshot / "val_body_arr.npy")[2].astype(np.float64) / 255
    assert np.allclose(sample["body"][0].numpy(), (body[..., 0] - 0.43832874) / 0.24784276, atol=1e-5)
    vad = np.load(snapshot / "val_cont_arr.npy")[2]
    assert np.allclose(sample["vad"].numpy(), vad / 10)
    assert np.allclose(vad_to_scale(sample["vad"].numpy()), vad)
    assert np.array_equal(vad_to_scale(np.array([-0.3, 0.55, 1.7])), [1.0, 5.5, 10.0])


def test_flip_applies_to_body_and_context_together(tmp_path):
    snapshot = write_snapshot(tmp_path / "s", {"train": 12})
    files = open_split(snapshot, "train")
    plain = EmoticArrays(files, ("body", "context"))
    augmented = EmoticArrays(files, ("body", "context"), augment=True, flip_probability=0.5, colour_jitter=0.0, seed=5)
    flips = []
    for index in range(12):
        before, after = plain[index], augmented[index]
        body_flipped = torch.equal(after["body"], torch.flip(before["body"], dims=[-1]))
        context_flipped = torch.equal(after["context"], torch.flip(before["context"], dims=[-1]))
        assert body_flipped == context_flipped, f"sample {index}: body and context flipped differently"
        if not body_flipped:
            assert torch.equal(after["body"], before["body"]) and torch.equal(after["context"], before["context"])
        flips.append(body_flipped)
    assert set(flips) == {True, False}


def test_colour_jitter_draws_the_same_factors_for_both_images():
    image = torch.rand(3, 32, 32)
    context, body, _ = augment_pair(image.clone(), image.clone(), np.random.default_rng(0), 0.5, 0.4)
    assert torch.equal(context, body)
    assert not torch.equal(context, image) and not torch.equal(context, torch.flip(image, dims=[-1]))


def test_training_batches_do_not_depend_on_which_worker_loads_a_sample(snapshot, tiny_hyperparameters):
    # Augmentation is seeded per (seed, epoch, sample), so one or two worker processes give the same
    # batches. (Samples loaded in the multi-threaded main process, num_workers=0, may differ from
    # these in the last bits of the colour jitter's mean: torch splits large reductions over threads.)
    files = open_split(snapshot, "train", ("body", "context"))
    hyperparameters = tiny_hyperparameters.replace(mode="body_context")
    device = torch.device("cpu")

    def batches(workers, epoch):
        loader = make_loader(files, hyperparameters.replace(num_workers=workers), device, train=True, epoch=epoch)
        return [(batch["body"], batch["context"]) for batch in loader]

    one_worker, two_workers = batches(1, epoch=4), batches(2, epoch=4)
    assert all(
        torch.equal(a_body, b_body) and torch.equal(a_context, b_context)
        for (a_body, a_context), (b_body, b_context) in zip(one_worker, two_workers, strict=True)
    )
    assert not torch.equal(one_worker[0][0], batches(1, epoch=5)[0][0])


def test_crop_and_resize_matches_the_array_shapes():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    context, body = crop_and_resize(image, (10, 20, 110, 220))
    assert context.shape == (224, 224, 3) and body.shape == (128, 128, 3)
    assert context.dtype == body.dtype == np.uint8
