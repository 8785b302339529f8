"""An image's split has one writer: draws, exports and datasets place unsplit images; only an admin moves one."""

from __future__ import annotations

import pytest

from catalog.errors import CatalogError
from catalog.models import Image
from catalog.splits import draw_split, fix_splits, keep_dataset_split, place_unsplit_images
from emotic.splits import drawn_split
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def splits_of(*images) -> list[tuple[str, bool]]:
    return [tuple(Image.objects.filter(pk=i.pk).values_list("split", "split_locked").get()) for i in images]


def test_a_drawn_split_is_the_seeded_draw_of_the_sha256_and_not_fixed(settings):
    image = ImageFactory(split="")
    assert draw_split(image) == drawn_split(image.sha256, settings.SPLIT_RATIOS, settings.SPLIT_SEED) == image.split
    assert splits_of(image) == [(image.split, False)]


def test_a_draw_never_moves_a_placed_image():
    image = ImageFactory(split="test")
    stale = Image.objects.get(pk=image.pk)
    Image.objects.filter(pk=image.pk).update(split="val")  # placed meanwhile by someone else
    stale.split = ""
    assert draw_split(stale) == "val"
    assert splits_of(image) == [("val", False)]


def test_placing_unsplit_images_keeps_the_placed_ones_and_returns_every_split():
    new, placed = ImageFactory(split=""), ImageFactory(split="val")
    assert place_unsplit_images({new.pk: "train", placed.pk: "test"}) == {new.pk: "train", placed.pk: "val"}
    assert splits_of(new, placed) == [("train", False), ("val", False)]


def test_a_datasets_split_is_kept_and_fixed_and_a_second_listing_is_noted():
    image = ImageFactory(split="")
    assert keep_dataset_split(image, "val") is None
    assert (image.split, image.split_locked) == ("val", True)
    assert keep_dataset_split(image, "test") == "split: the dataset also lists this image in test; it stays in val"
    assert splits_of(image) == [("val", True)]


def test_an_admin_moves_images_and_they_stay_moved():
    drawn, fixed = ImageFactory(split="train"), ImageFactory(split="test", split_locked=True)
    assert fix_splits([drawn.pk, fixed.pk], "val") == 2
    assert splits_of(drawn, fixed) == [("val", True), ("val", True)]
    assert fix_splits([drawn.pk], "val") == 0  # already there: nothing changes
    assert draw_split(Image.objects.get(pk=drawn.pk)) == "val"


@pytest.mark.parametrize("call", [
    lambda image: fix_splits([image.pk], "holdout"),
    lambda image: place_unsplit_images({image.pk: "holdout"}),
    lambda image: keep_dataset_split(image, "holdout"),
])
def test_an_unknown_split_is_refused_naming_the_field_and_nothing_changes(call):
    image = ImageFactory(split="")
    with pytest.raises(CatalogError) as refused:
        call(image)
    assert refused.value.field in ("split", f"splits[{image.pk}]")
    assert refused.value.reason == "must be one of train, val, test, got 'holdout'"
    assert splits_of(image) == [("", False)]
