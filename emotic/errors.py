"""One shape for every error about bad input: the field at fault, and why.

The taxonomy, the file formats, the services, the settings and the API all
raise subclasses of ``FieldError``. Whoever shows the error reads
``error.field`` and ``error.reason``; nobody parses the message, whose text
is always ``"<field>: <reason>"``.
"""

from __future__ import annotations

import copy


class FieldError(ValueError):
    """Bad input: ``field`` names it (a dotted or indexed path, e.g. ``people[2].age``), ``reason`` says why."""

    def __init__(self, field: str, reason: str):
        self.field = str(field)
        self.reason = str(reason)
        super().__init__(self.field, self.reason)

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def __reduce__(self):
        # Subclasses take other arguments (``TaskNotFound(task_id)``): rebuild from the state, not the call.
        return _rebuild, (type(self), self.field, self.reason, dict(self.__dict__))

    def within(self, prefix: str) -> FieldError:
        """The same error, of the same class, with ``prefix`` put before its field (``"people[2]."`` + ``"age"``)."""
        located = copy.copy(self)
        located.field = f"{prefix}{self.field}"
        located.args = (located.field, located.reason)
        return located

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


def _rebuild(cls: type[FieldError], field: str, reason: str, state: dict) -> FieldError:
    error = cls.__new__(cls)
    FieldError.__init__(error, field, reason)
    error.__dict__.update(state)
    return error
