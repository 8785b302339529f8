"""The settings of a run: validation naming the field, JSON round trip, resume rules."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import training
from training.core.hyperparameters import HyperparameterError, Hyperparameters, differences_blocking_resume


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
# The core is exactly the modules of the training.core package, found by walking it; what stays directly in
# training/ is the package itself with ``python -m training``'s entry point, and the thin Django part.
ENTRY_POINT = {"__init__", "__main__"}
DJANGO_PART = {"admin", "apps", "models", "predictions", "queues", "selectors", "services", "tasks", "urls", "views"}
DJANGO_PACKAGES = {"migrations"}  # templates/ and static/ are not packages
FRAMEWORKS = ("django", "rest_framework", "celery")
IMPORT_EACH_AND_REPORT = """
import contextlib, importlib, io, json, sys
frameworks, leaks = set(sys.argv[1].split(",")), {}
for name in sys.argv[2:]:
    if name.endswith(".__main__"):  # runs the command line on import: ask it for its help and stay
        sys.argv = [f"python -m {name.removesuffix('.__main__')}", "--help"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            importlib.import_module(name)
    else:
        importlib.import_module(name)
    leaks[name] = sorted({module.split(".")[0] for module in sys.modules} & frameworks)
print(json.dumps(leaks))
"""


def _refuse(name: str) -> None:
    raise ImportError(f"cannot walk {name}")


def core_modules() -> list[str]:
    """Every module of the training.core package (the package itself and its subpackages included)."""
    import training.core

    walked = pkgutil.walk_packages(training.core.__path__, "training.core.", onerror=_refuse)
    return sorted({"training.core", *(module.name for module in walked)})


def modules_without_django() -> list[str]:
    """The core, and what ``python -m training`` imports before reaching it: the package and its entry point."""
    return sorted({"training", "training.__main__", *core_modules()})


def test_the_core_is_every_module_but_the_django_part():
    assert DJANGO_PART <= {path.stem for path in TRAINING_PACKAGE.glob("*.py")}, "a Django module was renamed"
    expected = {"training", "training.__main__", "training.core", "training.core.__main__"} | {
        f"training.core.{name}" for name in ("cli", "data", "distributed", "loop", "model", "predict")
    }
    assert expected <= set(modules_without_django())
    # Nothing else directly in training/: a new core module dropped there (or in a new subpackage) is caught.
    stray = {path.stem for path in TRAINING_PACKAGE.glob("*.py")} - ENTRY_POINT - DJANGO_PART
    assert not stray, f"training/{min(stray)}.py is neither the entry point nor the Django part: core modules go in training/core/"
    packages = {module.name for module in pkgutil.iter_modules([str(TRAINING_PACKAGE)]) if module.ispkg}
    assert packages == {"core"} | DJANGO_PACKAGES, f"training/ holds packages {sorted(packages)}: core modules go in training/core/"


def test_the_core_imports_no_django_even_indirectly():
    # It must run on a GPU box that has only an exported snapshot and requirements-training.txt,
    # so a fresh interpreter imports every core module and then looks at what came along.
    modules = modules_without_django()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH_AND_REPORT, ",".join(FRAMEWORKS), *modules], cwd=TRAINING_PACKAGE.parent, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"a core module does not import without Django settings:\n{done.stderr}"
    leaks = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(leaks) == modules
    first = next((name for name in modules if leaks[name]), None)
    assert first is None, f"importing {first} brought in {', '.join(leaks[first])}"
