"""A fast writer of MATLAB 5 files for the value kinds ``Annotations.mat`` holds.

``scipy.io.savemat`` walks nested struct arrays element by element through
generic machinery: about 1.4 ms an image, over a minute for EMOTIC's size.
Our files hold only a few kinds of values, so this writer packs them
directly (format: "MAT-File Format", MathWorks, Level 5), producing the same
element kinds and shapes as ``savemat(..., oned_as="row")``; the tests read
both files back with ``loadmat`` and compare them.

Values: ``str`` (char row, UTF-8), ``float`` (1x1 double), a tuple of floats
(1xN double row), ``Cell`` (1xN cell), ``Struct`` (1xN struct array, fields
in order) and ``dict`` (1x1 struct).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Union

MI_INT8, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED, MI_UTF8 = 1, 5, 6, 9, 14, 15, 16
MX_CELL, MX_STRUCT, MX_CHAR, MX_DOUBLE = 1, 2, 4, 6
MAX_FIELD_NAME = 31  # savemat's limit without long_field_names


@dataclass(frozen=True)
class Cell:
    items: Sequence["Value"]


@dataclass(frozen=True)
class Struct:
    fields: tuple[str, ...]
    rows: Sequence[Mapping[str, "Value"]]


Value = Union[str, float, tuple, Cell, Struct, Mapping]


def _element(data_type: int, payload: bytes) -> bytes:
    padding = -len(payload) % 8
    return struct.pack("<II", data_type, len(payload)) + payload + b"\0" * padding


def _header(matlab_class: int, dims: tuple[int, int], name: bytes) -> list[bytes]:
    return [
        _element(MI_UINT32, struct.pack("<II", matlab_class, 0)),
        _element(MI_INT32, struct.pack("<ii", *dims)),
        _element(MI_INT8, name),
    ]


def _matrix(value: Value, name: bytes = b"") -> bytes:
    parts: list[bytes]
    if isinstance(value, str):
        if value:
            parts = _header(MX_CHAR, (1, len(value)), name) + [_element(MI_UTF8, value.encode("utf-8"))]
        else:
            parts = _header(MX_CHAR, (0, 0), name) + [_element(MI_UTF8, b"")]
    elif isinstance(value, float):
        parts = _header(MX_DOUBLE, (1, 1), name) + [_element(MI_DOUBLE, struct.pack("<d", value))]
    elif isinstance(value, tuple):
        numbers = [float(v) for v in value]
        parts = _header(MX_DOUBLE, (1, len(numbers)), name) + [
            _element(MI_DOUBLE, struct.pack(f"<{len(numbers)}d", *numbers))
        ]
    elif isinstance(value, Cell):
        parts = _header(MX_CELL, (1, len(value.items)), name) + [_matrix(item) for item in value.items]
    elif isinstance(value, Struct):
        parts = _struct(value.fields, value.rows, name)
    elif isinstance(value, Mapping):
        parts = _struct(tuple(value), [value], name, dims=(1, 1))
    else:
        raise TypeError(f"cannot write a {type(value).__name__} to a MATLAB file")
    return _element(MI_MATRIX, b"".join(parts))


def _struct(fields: tuple[str, ...], rows: Sequence[Mapping], name: bytes, dims: tuple[int, int] | None = None) -> list[bytes]:
    width = max((len(f) for f in fields), default=0) + 1
    if width - 1 > MAX_FIELD_NAME:
        raise ValueError(f"field name longer than {MAX_FIELD_NAME} characters: {max(fields, key=len)!r}")
    names = b"".join(f.encode("ascii").ljust(width, b"\0") for f in fields)
    parts = _header(MX_STRUCT, dims or (1, len(rows)), name)
    parts.append(_element(MI_INT32, struct.pack("<i", width)))
    parts.append(_element(MI_INT8, names))
    for row in rows:  # 1xN: column-major order is row order
        parts.extend(_matrix(row[f]) for f in fields)
    return parts


def write_mat5(stream: BinaryIO, variables: Mapping[str, Value], *, compress: bool = True) -> None:
    """Write ``variables`` (name -> value) as a MATLAB 5 file, each variable zlib-compressed like savemat's."""
    text = b"MATLAB 5.0 MAT-file Platform: posix, Created by: emotic-platform"
    stream.write(text.ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0100) + b"IM")
    for name, value in variables.items():
        matrix = _matrix(value, name.encode("ascii"))
        if compress:
            body = zlib.compress(matrix)
            stream.write(struct.pack("<II", MI_COMPRESSED, len(body)) + body)
        else:
            stream.write(matrix)


# ---------------------------------------------------------------- checking before reading


MX_OBJECT = 3
MAX_NESTING = 32  # EMOTIC nests five deep; scipy's reader recurses once a level (in C)
# What one element costs, counted in elements: a number or a character is one; every array, and
# every element of a struct array, becomes a Python object of a hundred bytes or more: eight.
OBJECT_WEIGHT = 8


class Mat5LimitExceeded(ValueError):
    """A MATLAB 5 file declares more than a limit allows; ``limit`` names which (``elements``,
    ``records``, ``inflated_bytes``, ``nesting``), ``value`` is the limit, ``reason`` says what was found."""

    def __init__(self, limit: str, value: int, reason: str):
        self.limit, self.value, self.reason = limit, value, reason
        super().__init__(reason)


class Mat5Malformed(ValueError):
    """The file's element structure is broken where a reader would follow it."""


@dataclass
class _Scan:
    max_elements: int
    max_inflated_bytes: int
    elements: int = 0
    inflated: int = 0

    def charge(self, weight: int, declared: int, what: str) -> None:
        self.elements += weight
        if self.elements > self.max_elements:
            raise Mat5LimitExceeded(
                "elements", self.max_elements,
                f"declares more than {self.max_elements:,} array elements (an array or a struct element counts "
                f"{OBJECT_WEIGHT}); {what} declares {declared:,}",
            )


def _tag(buf: bytes, pos: int, end: int, little: bool) -> tuple[int, int, int, int]:
    """(data type, byte count, data start, next element) of the element at ``pos`` (small format included)."""
    if pos + 8 > end:
        raise Mat5Malformed(f"an element tag at byte {pos} runs past its end")
    first, second = struct.unpack_from("<II" if little else ">II", buf, pos)
    if first >> 16:  # small data element: type and size in one word, data in the next four bytes
        return first & 0xFFFF, first >> 16, pos + 4, pos + 8
    start = pos + 8
    if start + second > end:
        raise Mat5Malformed(f"an element at byte {pos} declares {second} bytes, past its end")
    return first, second, start, start + second + (-second % 8)


def _int32s(buf: bytes, start: int, count: int, little: bool) -> tuple[int, ...]:
    return struct.unpack_from(("<" if little else ">") + "i" * (count // 4), buf, start)


def _walk_matrix(buf: bytes, start: int, end: int, little: bool, scan: _Scan, depth: int, name: str) -> None:
    """Charge the elements a miMATRIX body declares, then walk its children, before anything is allocated."""
    if depth > MAX_NESTING:
        raise Mat5LimitExceeded("nesting", MAX_NESTING, f"nests arrays more than {MAX_NESTING} deep")
    if start == end:
        return  # an empty matrix
    _, _, flags_at, pos = _tag(buf, start, end, little)
    matlab_class = _int32s(buf, flags_at, 4, little)[0] & 0xFF
    kind, size, dims_at, pos = _tag(buf, pos, end, little)
    dims = _int32s(buf, dims_at, size, little)
    if any(d < 0 for d in dims):
        raise Mat5Malformed(f"{name or 'an array'} has negative dimensions {dims}")
    count = math.prod(dims)
    scan.charge(OBJECT_WEIGHT + count, count, name or "one array")  # the array itself, and its elements
    _, _, _, pos = _tag(buf, pos, end, little)  # the array's name
    if matlab_class == MX_CELL:
        children = count
    elif matlab_class in (MX_STRUCT, MX_OBJECT):
        if matlab_class == MX_OBJECT:
            _, _, _, pos = _tag(buf, pos, end, little)  # the class name
        _, length_size, length_at, pos = _tag(buf, pos, end, little)
        (field_length,) = _int32s(buf, length_at, 4, little) if length_size >= 4 else (0,)
        _, names_size, _, pos = _tag(buf, pos, end, little)
        fields = names_size // field_length if field_length > 0 else 0
        # Each element becomes a Python object, fields or not.
        scan.charge(count * (OBJECT_WEIGHT + fields), count, f"{name or 'a struct array'}'s struct array")
        children = count * fields
    else:
        return  # numbers, text, sparse: their data is in the file, byte for byte
    for _ in range(children):
        if pos >= end:
            return  # fewer elements than declared: the reader stops with its own error
        kind, size, body, pos = _tag(buf, pos, end, little)
        if kind != MI_MATRIX:
            raise Mat5Malformed(f"expected an array inside {name or 'a cell or struct'}, found data type {kind}")
        _walk_matrix(buf, body, body + size, little, scan, depth + 1, name)


def check_mat5_limits(data: bytes, *, max_elements: int, max_inflated_bytes: int, max_records: int | None = None) -> dict[str, int]:
    """Check a MATLAB 5 file's declarations before a reader allocates them; returns each variable's element count.

    scipy's ``loadmat`` allocates a struct or cell array for as many elements
    as its header declares before reading them, and inflates compressed
    variables: a few hundred bytes can ask for gigabytes. This walks the
    headers (inflating at most ``max_inflated_bytes`` in all) and raises
    ``Mat5LimitExceeded`` when the arrays together declare more than
    ``max_elements`` elements (each array and each struct element counting
    ``OBJECT_WEIGHT``, the Python object it becomes), nest deeper than
    ``MAX_NESTING``, or the top-level variables hold more than
    ``max_records`` records; ``Mat5Malformed`` for a structure it cannot
    follow. A file that is not MATLAB 5 (version 4, or 7.3's HDF5) is left to
    the reader (its arrays are as large as its bytes).
    """
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        return {}
    little = data[126:128] == b"IM"
    scan = _Scan(max_elements, max_inflated_bytes)
    variables: dict[str, int] = {}
    pos = 128
    while pos + 8 <= len(data):
        kind, size = struct.unpack_from("<II" if little else ">II", data, pos)
        body, pos = pos + 8, pos + 8 + size
        if kind == MI_COMPRESSED:
            inflater = zlib.decompressobj()
            try:
                inner = inflater.decompress(data[body:pos], max_inflated_bytes - scan.inflated + 1)
            except zlib.error as error:
                raise Mat5Malformed(f"a compressed variable does not inflate ({error})") from None
            scan.inflated += len(inner)
            if scan.inflated > max_inflated_bytes:
                raise Mat5LimitExceeded(
                    "inflated_bytes", max_inflated_bytes, f"inflates to more than {max_inflated_bytes:,} bytes"
                )
            buf, start, end = inner, 0, len(inner)
            if end < 8:
                continue
            kind, size = struct.unpack_from("<II" if little else ">II", inner, 0)
            start, end = 8, min(8 + size, len(inner))
        else:
            buf, start, end = data, body, min(pos, len(data))
        if kind != MI_MATRIX:
            continue  # the reader refuses it in its own words
        name = _variable_name(buf, start, end, little)
        _walk_matrix(buf, start, end, little, scan, 0, name)
        variables[name] = _top_level_count(buf, start, end, little)
    if max_records is not None:
        records = sum(variables.values())
        if records > max_records:
            raise Mat5LimitExceeded("records", max_records, f"holds {records:,} records, more than {max_records:,}")
    return variables


def _variable_name(buf: bytes, start: int, end: int, little: bool) -> str:
    if start == end:
        return ""
    _, _, _, pos = _tag(buf, start, end, little)
    _, _, _, pos = _tag(buf, pos, end, little)
    _, size, at, _ = _tag(buf, pos, end, little)
    return buf[at : at + size].decode("latin-1")


def _top_level_count(buf: bytes, start: int, end: int, little: bool) -> int:
    if start == end:
        return 0
    _, _, _, pos = _tag(buf, start, end, little)
    _, size, at, _ = _tag(buf, pos, end, little)
    return math.prod(_int32s(buf, at, size, little))
