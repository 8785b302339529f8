"""The quality settings come from the environment; a bad one stops start-up naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "from django.conf import settings; "
    "print(settings.QUALITY_GOLD_WINDOW, settings.QUALITY_GOLD_MIN_ANSWERS, settings.QUALITY_GOLD_MIN_ACCURACY, "
    "settings.QUALITY_AUTO_BLOCK, settings.CELERY_BEAT_SCHEDULE['recompute-quality']['schedule'])"
)


def probe(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QUALITY_", "DJANGO_", "DATABASE_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings.base", **env})
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_defaults_and_overrides():
    assert probe({}).stdout.split() == ["10", "5", "0.7", "True", "0:15:00"]
    result = probe({"QUALITY_GOLD_WINDOW": "20", "QUALITY_GOLD_MIN_ANSWERS": "8", "QUALITY_GOLD_MIN_ACCURACY": "0.8",
                    "QUALITY_AUTO_BLOCK": "false", "QUALITY_RECOMPUTE_MINUTES": "5"})
    assert result.stdout.split() == ["20", "8", "0.8", "False", "0:05:00"]


@pytest.mark.parametrize("env, message", [
    ({"QUALITY_GOLD_MIN_ACCURACY": "1.5"}, "QUALITY_GOLD_MIN_ACCURACY: must be between 0.0 and 1.0, got 1.5"),
    ({"QUALITY_GOLD_WINDOW": "0"}, "QUALITY_GOLD_WINDOW: must be at least 1, got 0"),
    ({"QUALITY_GOLD_WINDOW": "4", "QUALITY_GOLD_MIN_ANSWERS": "6"}, "QUALITY_GOLD_MIN_ANSWERS: must be at most QUALITY_GOLD_WINDOW (4), got 6"),
    ({"QUALITY_AUTO_BLOCK": "maybe"}, "QUALITY_AUTO_BLOCK: must be true or false, got 'maybe'"),
])
def test_bad_values_name_the_variable(env, message):
    result = probe(env)
    assert result.returncode != 0 and message in result.stderr
