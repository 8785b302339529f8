"""Safe names for where an image lies in a dataset: its folder and its file name.

An image's ``folder`` and ``filename`` come from strangers' files (an ADE20K
index, a COCO ``file_name``, an EMOTIC record, a folder on disk) and end up
as a path in every snapshot (``emotic/<folder>/<filename>``). They are
checked once, when an image is stored (``catalog.ingest``), records refuse
what they do not allow, and an export leaves out (and lists) an image whose
stored names break these rules.

The rules:

- a folder is a relative POSIX path: no leading ``/``, no ``..`` component;
  a file name is one component (no ``/``, not ``.`` or ``..``);
- no backslash: refused, not translated, since it is ambiguous (a Windows
  separator, or a character of a POSIX name);
- no NUL or other control character (Unicode category Cc), nor a line or
  paragraph separator;
- at most ``MAX_FOLDER_LENGTH`` (200) and ``MAX_FILENAME_LENGTH`` (255)
  characters, the lengths the image row keeps;
- what has one meaning only is normalised rather than refused: empty and
  ``.`` components of a folder are dropped (``./mscoco//images/`` is
  ``mscoco/images``; ``.`` alone is no folder).
"""

from __future__ import annotations

import unicodedata

from emotic.errors import FieldError

MAX_FOLDER_LENGTH = 200
MAX_FILENAME_LENGTH = 255
_SEPARATORS = {"\u2028", "\u2029"}


class UnsafeName(FieldError):
    """A folder or file name that cannot be placed safely in a dataset; ``field`` names it."""


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _control_character(value: str) -> str | None:
    for character in value:
        if unicodedata.category(character) == "Cc" or character in _SEPARATORS:
            return f"U+{ord(character):04X}"
    return None


def clean_folder(value: object, field: str = "folder") -> str:
    """The folder as a normalised relative POSIX path (``""`` for none), or an ``UnsafeName``."""
    if not isinstance(value, str):
        raise UnsafeName(field, f"must be a relative folder, got {type(value).__name__}")
    rule = "must be relative without '..', backslashes or control characters"
    control = _control_character(value)
    if control:
        raise UnsafeName(field, f"{rule}: it holds the control character {control}, got {_shown(value)}")
    if "\\" in value:
        raise UnsafeName(field, f"{rule}: a backslash is ambiguous (a Windows separator or part of a name), got {_shown(value)}")
    if value.startswith("/"):
        raise UnsafeName(field, f"{rule}: it is absolute, got {_shown(value)}")
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeName(field, f"{rule}: it climbs out with '..', got {_shown(value)}")
    folder = "/".join(parts)
    if len(folder) > MAX_FOLDER_LENGTH:
        raise UnsafeName(field, f"must be at most {MAX_FOLDER_LENGTH} characters, got {len(folder)}")
    return folder


def clean_component(value: object, field: str, max_length: int = MAX_FILENAME_LENGTH) -> str:
    """One path component (a file name, a database name), unchanged, or an ``UnsafeName``."""
    rule = "must be a plain file name"
    if not isinstance(value, str):
        raise UnsafeName(field, f"{rule}, got {type(value).__name__}")
    if value in ("", ".", ".."):
        raise UnsafeName(field, f"{rule} (not empty, '.' or '..'), got {_shown(value)}")
    if "/" in value or "\\" in value:
        raise UnsafeName(field, f"{rule} without '/' or '\\', got {_shown(value)}")
    control = _control_character(value)
    if control:
        raise UnsafeName(field, f"{rule} without control characters (it holds {control}), got {_shown(value)}")
    if len(value) > max_length:
        raise UnsafeName(field, f"must be at most {max_length} characters, got {len(value)}")
    return value


def clean_filename(value: object, field: str = "filename") -> str:
    """The file name, unchanged, or an ``UnsafeName``: one component, no control characters, at most 255."""
    return clean_component(value, field, MAX_FILENAME_LENGTH)


def relative_image_path(folder: object, filename: object) -> str:
    """``<folder>/<filename>`` (or the file name alone) after both are checked and normalised."""
    folder, filename = clean_folder(folder), clean_filename(filename)
    return f"{folder}/{filename}" if folder else filename
