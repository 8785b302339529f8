"""The campaigns' settings come from the environment; a bad one stops start-up with one line naming it."""

from __future__ import annotations

import pytest

from tests.config.test_settings import probe, run


def test_the_defaults_need_no_marketplace():
    assert probe({})["debug"] is True  # starts without any campaign setting


@pytest.mark.parametrize(("env", "variable", "reason"), [
    ({"CAMPAIGNS_PUBLIC_URL": "emotic.example.org"}, "CAMPAIGNS_PUBLIC_URL", "must start with https://"),
    ({"PROLIFIC_API_URL": "ftp://api.prolific.com"}, "PROLIFIC_API_URL", "must start with https://"),
    ({"CAMPAIGNS_HTTP_RETRIES": "-1"}, "CAMPAIGNS_HTTP_RETRIES", "must be at least 0"),
    ({"CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS": "soon"}, "CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS", "must be a number"),
    ({"CAMPAIGNS_POLL_SECONDS": "1"}, "CAMPAIGNS_POLL_SECONDS", "must be at least 5"),
    ({"CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS": "0"}, "CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS", "must be at least 1"),
])
def test_a_bad_campaign_setting_stops_start_up_naming_it(env, variable, reason):
    done = run(["manage.py", "check"], env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"configuration error: {variable}: ") and reason in lines[0]
