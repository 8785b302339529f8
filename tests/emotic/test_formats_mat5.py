"""The fast MATLAB 5 writer produces what scipy's savemat produces, as loadmat reads it in every mode."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from emotic.formats.mat import _image_array
from emotic.formats.mat5 import Cell, Struct, write_mat5


def same(ours, theirs, where="") -> None:
    """Deep comparison of two loadmat results: types, shapes, dtypes, field order and values."""
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), where
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
        assert ours.dtype.names == theirs.dtype.names, where
        if theirs.dtype.names:
            for index in np.ndindex(theirs.shape):
                for name in theirs.dtype.names:
                    same(ours[index][name], theirs[index][name], f"{where}{list(index)}.{name}")
        elif theirs.dtype == object:
            for index in np.ndindex(theirs.shape):
                same(ours[index], theirs[index], f"{where}{list(index)}")
        else:
            assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} != {theirs.dtype}"
            np.testing.assert_array_equal(ours, theirs, err_msg=where)
    elif hasattr(theirs, "_fieldnames"):  # mat_struct (struct_as_record=False)
        assert ours._fieldnames == theirs._fieldnames, where
        for name in theirs._fieldnames:
            same(getattr(ours, name), getattr(theirs, name), f"{where}.{name}")
    elif isinstance(theirs, float) and math.isnan(theirs):
        assert math.isnan(ours), where
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} != {theirs!r}"


def to_numpy(value):
    """The same value in the numpy form savemat takes."""
    if isinstance(value, Struct):
        array = np.empty((1, len(value.rows)), dtype=[(f, object) for f in value.fields])
        for i, row in enumerate(value.rows):
            for f in value.fields:
                array[0, i][f] = to_numpy(row[f])
        return array
    if isinstance(value, Cell):
        cell = np.empty((1, len(value.items)), dtype=object)
        for i, item in enumerate(value.items):
            cell[0, i] = to_numpy(item)
        return cell
    if isinstance(value, tuple):
        return np.array(value, dtype=np.float64)
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    return value


EDGE_CASES = {
    "text": "Doubt/Confusion",
    "empty_text": "",
    "unicode": "caf\u00e9 \u00fcber \u65e5\u672c",
    "number": 7.0,
    "nan": math.nan,
    "row": (1.0, 2.5, 3.0, 4.0),
    "cell": Cell(("Happiness", "Peace")),
    "empty_cell": Cell(()),
    "one_cell": Cell(("Fatigue",)),
    "scalar_struct": {"n_col": 640.0, "n_row": 480.0},
    "struct_array": Struct(("categories", "valence"), [{"categories": Cell(("Anger",)), "valence": 2.0},
                                                       {"categories": Cell(()), "valence": math.nan}]),
    "nested": Struct(("person",), [{"person": Struct(("body_bbox",), [{"body_bbox": (0.0, 1.0, 2.0, 3.0)}])}]),
}


def both_files(variables: dict) -> tuple[bytes, bytes]:
    ours, theirs = io.BytesIO(), io.BytesIO()
    write_mat5(ours, variables)
    savemat(theirs, {k: to_numpy(v) for k, v in variables.items()}, do_compression=True, oned_as="row")
    return ours.getvalue(), theirs.getvalue()


@pytest.mark.parametrize("struct_as_record", [True, False])
@pytest.mark.parametrize("squeeze_me", [True, False])
@pytest.mark.parametrize("chars_as_strings", [True, False])
def test_every_value_kind_reads_back_exactly_as_savemats(struct_as_record, squeeze_me, chars_as_strings):
    ours, theirs = both_files(EDGE_CASES)
    options = {"struct_as_record": struct_as_record, "squeeze_me": squeeze_me, "chars_as_strings": chars_as_strings}
    mine, reference = loadmat(io.BytesIO(ours), **options), loadmat(io.BytesIO(theirs), **options)
    assert set(mine) - {"__header__"} == set(reference) - {"__header__"}
    for key in EDGE_CASES:
        same(mine[key], reference[key], key)


@pytest.mark.parametrize("squeeze_me", [True, False])
def test_a_whole_annotations_file_reads_back_as_savemats(sample_images, squeeze_me):
    from emotic.formats.common import group_by_split

    variables = {split: _image_array(split, images) for split, images in group_by_split(sample_images).items()}
    ours, theirs = both_files(variables)
    for struct_as_record in (True, False):
        options = {"squeeze_me": squeeze_me, "struct_as_record": struct_as_record}
        mine, reference = loadmat(io.BytesIO(ours), **options), loadmat(io.BytesIO(theirs), **options)
        for split in variables:
            same(mine[split], reference[split], split)


def test_uncompressed_files_read_the_same():
    plain, compressed = io.BytesIO(), io.BytesIO()
    write_mat5(plain, EDGE_CASES, compress=False)
    write_mat5(compressed, EDGE_CASES)
    assert len(plain.getvalue()) > len(compressed.getvalue())
    a, b = loadmat(io.BytesIO(plain.getvalue())), loadmat(io.BytesIO(compressed.getvalue()))
    for key in EDGE_CASES:
        same(a[key], b[key], key)


def test_values_it_cannot_write_are_refused():
    with pytest.raises(TypeError, match="cannot write a set"):
        write_mat5(io.BytesIO(), {"bad": {1, 2}})
    with pytest.raises(ValueError, match="field name longer than 31"):
        write_mat5(io.BytesIO(), {"bad": {"x" * 40: 1.0}})


# ---------------------------------------------------------------- limits checked before reading


@pytest.mark.parametrize("compress", [True, False])
def test_files_scipy_and_our_writer_make_pass_the_limits_check_with_their_record_counts(compress):
    from scipy.sparse import csc_matrix

    from emotic.formats.mat5 import check_mat5_limits

    stream = io.BytesIO()
    savemat(stream, {
        "numbers": np.arange(10.0), "text": "hello", "flags": np.array([True, False]), "empty": np.zeros((0, 0)),
        "nested": {"x": np.array([1, 2], dtype=np.int16), "y": "hi", "z": [[1, 2], [3, 4]]},
        "cells": np.array([np.array(["a"]), np.zeros((2, 3)), csc_matrix(np.eye(3))], dtype=object),
        "records": np.array([(1.0, "x"), (2.0, "yy")], dtype=[("n", "O"), ("t", "O")]),
    }, do_compression=compress)
    counts = check_mat5_limits(stream.getvalue(), max_elements=10_000, max_inflated_bytes=10**6)
    assert counts == {"numbers": 10, "text": 5, "flags": 2, "empty": 0, "nested": 1, "cells": 3, "records": 2}
    ours = io.BytesIO()
    write_mat5(ours, {"train": Struct(("a", "b"), [{"a": "x", "b": Cell(["p", "q"])}] * 3)}, compress=compress)
    assert check_mat5_limits(ours.getvalue(), max_elements=10_000, max_inflated_bytes=10**6) == {"train": 3}


def test_the_limits_name_what_was_exceeded():
    from emotic.formats.mat5 import Mat5LimitExceeded, check_mat5_limits

    stream = io.BytesIO()
    write_mat5(stream, {"train": Struct(("a",), [{"a": "x" * 100}] * 50), "val": Struct(("a",), [{"a": "y"}] * 20)})
    data = stream.getvalue()
    with pytest.raises(Mat5LimitExceeded) as raised:
        check_mat5_limits(data, max_elements=1_000, max_inflated_bytes=10**6)
    assert raised.value.limit == "elements" and raised.value.value == 1_000
    with pytest.raises(Mat5LimitExceeded) as raised:
        check_mat5_limits(data, max_elements=10**6, max_inflated_bytes=10**6, max_records=60)
    assert (raised.value.limit, raised.value.reason) == ("records", "holds 70 records, more than 60")
    with pytest.raises(Mat5LimitExceeded) as raised:
        check_mat5_limits(data, max_elements=10**6, max_inflated_bytes=1_000)
    assert raised.value.limit == "inflated_bytes"
