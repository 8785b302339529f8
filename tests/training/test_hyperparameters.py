"""The settings of a run: validation naming the field, JSON round trip, resume rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import training
from training.hyperparameters import HyperparameterError, Hyperparameters, differences_blocking_resume


def test_json_round_trip_accepts_integers_for_floats():
    hyperparameters = Hyperparameters.from_dict({"mode": "context", "learning_rate": 1, "epochs": 3})
    assert hyperparameters.learning_rate == 1.0 and isinstance(hyperparameters.learning_rate, float)
    assert Hyperparameters.from_dict(hyperparameters.to_dict()) == hyperparameters


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"epochs": "3"}, "epochs", "must be an integer, got '3'"),
        ({"batch_size": 1}, "batch_size", "must be at least 2, got 1"),
        ({"learning_rate": 0}, "learning_rate", "must lie in (0, inf], got 0"),
        ({"learning_rate": float("nan")}, "learning_rate", "must be a finite number"),
        ({"gamma": 1.5}, "gamma", "must lie in (0, 1], got 1.5"),
        ({"optimizer": "adam"}, "optimizer", "must be one of adamw, sgd, got 'adam'"),
        ({"mixed_precision": "yes"}, "mixed_precision", "must be true or false"),
        ({"body_weights": ""}, "body_weights", "must be a file path or null"),
        ({"epoch": 3}, "epoch", "unknown hyperparameter"),
    ],
)
def test_bad_values_name_the_field(values, field, reason):
    with pytest.raises(HyperparameterError) as caught:
        Hyperparameters.from_dict(values)
    assert caught.value.field == field
    assert reason in str(caught.value)


def test_weights_of_a_stream_the_mode_lacks_are_not_used():
    hyperparameters = Hyperparameters(mode="body", body_weights="imagenet.pth", context_weights="places.pth.tar")
    assert hyperparameters.weights_for("body") == "imagenet.pth"
    assert hyperparameters.weights_for("context") is None


def test_resume_may_change_where_a_run_runs_but_not_what_it_computes():
    saved = Hyperparameters()
    assert differences_blocking_resume(saved, saved.replace(num_workers=8, device="cpu")) == []
    assert differences_blocking_resume(saved, saved.replace(epochs=40, seed=1)) == ["epochs", "seed"]


CORE_MODULES = ("checkpoint", "cli", "data", "devices", "evaluate", "hyperparameters", "loop", "losses", "metrics",
                "model", "plots", "predict", "__main__", "__init__")


@pytest.mark.parametrize("module", CORE_MODULES)
def test_the_core_imports_no_django(module):
    # It must run on a GPU box that has only an exported snapshot and requirements-training.txt.
    source = Path(training.__file__).with_name(f"{module}.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in ("django", "rest_framework", "celery")}
    assert not {name for name in imported if name.startswith("training.") and name.split(".")[1] in
                ("models", "admin", "apps", "services", "tasks", "views", "urls")}
