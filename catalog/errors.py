"""The photo library's error about bad input (a split, an image id)."""

from emotic.errors import FieldError


class CatalogError(FieldError):
    """Bad input to a catalog service; ``field`` names it and ``reason`` says why. Nothing was written."""
