"""The settings of a run: validation naming the field, JSON round trip, resume rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


TRAINING_PACKAGE = Path(training.__file__).parent
# The thin Django part; everything else in training/ is the core (migrations/ and templates/ are not modules).
DJANGO_PART = {"admin", "apps", "models", "predictions", "services", "tasks", "urls", "views"}
FRAMEWORKS = ("django", "rest_framework", "celery")
IMPORT_EACH_AND_REPORT = """
import contextlib, importlib, io, json, sys
frameworks, leaks = set(sys.argv[1].split(",")), {}
for name in sys.argv[2:]:
    if name == "__main__":  # runs the command line on import: ask it for its help and stay
        sys.argv = ["python -m training", "--help"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            importlib.import_module("training.__main__")
    else:
        importlib.import_module("training" if name == "__init__" else f"training.{name}")
    leaks[name] = sorted({module.split(".")[0] for module in sys.modules} & frameworks)
print(json.dumps(leaks))
"""


def core_modules() -> list[str]:
    return sorted(path.stem for path in TRAINING_PACKAGE.glob("*.py") if path.stem not in DJANGO_PART)


def test_the_core_is_every_module_but_the_django_part():
    assert DJANGO_PART <= {path.stem for path in TRAINING_PACKAGE.glob("*.py")}, "a Django module was renamed"
    assert {"__init__", "__main__", "cli", "data", "distributed", "loop", "model", "predict"} <= set(core_modules())


def test_the_core_imports_no_django_even_indirectly():
    # It must run on a GPU box that has only an exported snapshot and requirements-training.txt,
    # so a fresh interpreter imports every core module and then looks at what came along.
    modules = core_modules()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH_AND_REPORT, ",".join(FRAMEWORKS), *modules], cwd=TRAINING_PACKAGE.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"a core module does not import without Django settings:\n{done.stderr}"
    leaks = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(leaks) == modules
    first = next((name for name in modules if leaks[name]), None)
    assert first is None, f"importing training.{first} brought in {', '.join(leaks[first])}"
