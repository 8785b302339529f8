"""The quality service's error about bad input (a reason, a status, an action)."""

from emotic.errors import FieldError


class QualityError(FieldError):
    """Bad input to a quality service; ``field`` names it and ``reason`` says why. Nothing was written."""
