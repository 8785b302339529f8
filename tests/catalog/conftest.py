"""Fixtures for the photo library's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def small_images_accepted(settings):
    """The test images are small: accept any side from 64 pixels."""
    settings.SCRAPER_MIN_IMAGE_SIDE = 64
    return settings
