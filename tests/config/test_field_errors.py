"""Every project error about bad input is a FieldError, raised with its field and reason, and read back by them.

The classes keep their names, modules and relations; no code builds the
message by hand or cuts it apart again (``error.field``/``error.reason``/
``error.within`` instead).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from emotic.errors import FieldError

ROOT = Path(__file__).resolve().parents[2]
APPS = ("emotic", "annotator", "catalog", "quality", "demo", "emotic_export", "scraper", "training", "config")

INPUT_ERRORS = [
    ("emotic.taxonomy", "TaxonomyError"),
    ("emotic.records", "RecordError"),
    ("emotic.formats.common", "FormatError"),
    ("emotic.splits", "SplitError"),
    ("emotic.annotation_arrays", "AnnotationArrayError"),
    ("emotic.boxes", "BoxError"),
    ("annotator.services.errors", "AnnotationError"),
    ("annotator.services.errors", "AnswerInvalid"),
    ("annotator.services.errors", "TaskNotFound"),
    ("annotator.services.errors", "TaskNotOpen"),
    ("annotator.services.errors", "SubmissionConflict"),
    ("annotator.services.errors", "WorkerNotEligible"),
    ("annotator.services.errors", "ImageFileMissing"),
    ("quality.errors", "QualityError"),
    ("annotator.authentication", "TokenRefused"),
    ("annotator.authentication", "CsrfRefused"),
    ("emotic_export.services", "ExportError"),
    ("scraper.sources.base", "SourceError"),
    ("training.services", "TrainingRunError"),
    ("training.core.hyperparameters", "HyperparameterError"),
    ("training.core.data", "SnapshotError"),
    ("training.core.checkpoint", "CheckpointError"),
    ("training.core.predict", "PredictionInputError"),
    ("training.core.metrics", "MetricError"),
    ("training.core.devices", "DeviceError"),
    ("training.core.model", "PretrainedWeightsError"),
    ("training.core.loop", "TrainingError"),
    ("config.env", "SettingError"),
]


def error_class(module: str, name: str) -> type:
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(("module", "name"), INPUT_ERRORS, ids=[name for _, name in INPUT_ERRORS])
def test_each_input_error_is_a_field_error(module, name):
    assert issubclass(error_class(module, name), FieldError)


def test_the_classes_keep_their_relations():
    from annotator.services.errors import AnnotationError, TaskNotFound, WorkerNotEligible
    from config.env import SettingError
    from emotic.records import RecordError
    from emotic.taxonomy import TaxonomyError
    from training.core.loop import TrainingError

    assert issubclass(RecordError, TaxonomyError)
    assert issubclass(TrainingError, RuntimeError)
    assert issubclass(SettingError, ImproperlyConfigured)
    assert all(issubclass(cls, AnnotationError) for cls in (TaskNotFound, WorkerNotEligible))
    setting = SettingError("DEBUG", "must be true or false, got 'maybe'")
    assert (setting.variable, setting.field, str(setting)) == ("DEBUG", "DEBUG", "DEBUG: must be true or false, got 'maybe'")
    blocked = pickle.loads(pickle.dumps(WorkerNotEligible("blocked", "Your account is blocked: spam.")))
    assert (blocked.status_code, blocked.code, blocked.field) == (403, "blocked", "worker")
    assert (TaskNotFound(7).status_code, TaskNotFound(7).code, str(TaskNotFound(7))) == (
        404, "not_found", "task: no task 7 is assigned to you",
    )


def test_a_prefix_keeps_the_reason_apart():
    from emotic.formats.jsonl import person_from_dicts
    from emotic.records import AnnotatorAnswer, RecordError

    with pytest.raises(RecordError) as raised:
        AnnotatorAnswer(categories=("Peace",), valence=11, arousal=5, dominance=5)
    assert (raised.value.field, raised.value.reason) == ("valence", "must be from 1 to 10, got 11")
    with pytest.raises(RecordError) as raised:
        person_from_dicts([1, 2, 3, 4], [{"categories": ["Joy"], "valence": None, "arousal": None, "dominance": None,
                                          "gender": None, "age": None, "annotator_id": None}], {})
    assert (raised.value.field, raised.value.reason) == ("annotations[0].categories", "unknown category 'Joy'")


def python_files():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def field_error_names() -> set[str]:
    """The classes built from ``(field, reason)`` (``TaskNotFound(task_id)`` and the like name their own field)."""
    names = {"FieldError"}
    for module, name in INPUT_ERRORS:
        parameters = list(inspect.signature(error_class(module, name)).parameters)
        if len(parameters) == 2:
            names.add(name)
    return names


def test_no_error_is_raised_with_one_preformatted_message():
    names, found = field_error_names(), []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or len(node.args) != 1 or node.keywords:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            argument = node.args[0]
            text = isinstance(argument, ast.JoinedStr) or (
                isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            )
            if name in names and text:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}({ast.unparse(argument)[:60]})")
    assert found == []


def test_no_code_cuts_an_error_message_apart():
    """``str(error).partition(": ")`` and the like: read error.field and error.reason instead."""
    surgery = {"partition", "rpartition", "split", "rsplit", "removeprefix", "replace"}
    found = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in surgery):
                continue
            receiver = node.func.value
            if (
                isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Name) and receiver.func.id == "str"
                and receiver.args and isinstance(receiver.args[0], ast.Name)
                and receiver.args[0].id in {"error", "exc", "err", "e"}
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert found == []
