"""How each marketplace sends a participant in (the study URL's query parameters) and takes them back (exit URLs).

- Prolific appends ``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID`` (the
  study URL's placeholders ``{{%PROLIFIC_PID%}}``...; docs.prolific.com/
  api-reference/studies/the-study-object). Its ids are 24 hexadecimal
  characters. The way back is https://app.prolific.com/submissions/complete?cc=<code>.
- CloudResearch Connect appends ``participantId``, and ``assignmentId`` and
  ``projectId``; the way back is the redirect URL its study wizard gives
  (connect-researcher-help.cloudresearch.com, "Project Completion").
- SONA replaces ``%SURVEY_CODE%`` in the study URL with a number of 2 to 7
  digits (sona-systems.com/researcher/using-the-survey-code-feature): the URL
  is set up as ``...?id=%SURVEY_CODE%``; the way back is the study's
  client-side completion URL ``...webstudy_credit.aspx?experiment_id=..&
  credit_token=..&survey_code={participant_id}``.
- Another panel: the id parameter the marketplace row names, and its URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from campaigns.prolific import COMPLETION_URL as PROLIFIC_COMPLETION_URL
from emotic.errors import FieldError

PROLIFIC_ID = re.compile(r"^[0-9a-fA-F]{24}$")
CONNECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SONA_ID = re.compile(r"^[1-9][0-9]{1,6}$")
GENERIC_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class EntryInvalid(FieldError):
    """The study URL's parameters do not identify a participant: nothing was created."""

    status_code = 400
    code = "invalid"


@dataclass(frozen=True)
class Entry:
    participant_id: str
    session_id: str = ""  # Prolific SESSION_ID (the submission), Connect assignmentId
    study_id: str = ""  # Prolific STUDY_ID, Connect projectId


DEFAULT_ID_PARAMETERS = {"prolific": "PROLIFIC_PID", "connect": "participantId", "sona": "id"}


def id_parameter(marketplace) -> str:
    return marketplace.id_parameter or DEFAULT_ID_PARAMETERS.get(marketplace.kind, "")


def _one(query, name: str, pattern: re.Pattern, what: str, *, required: bool) -> str:
    values = query.getlist(name) if hasattr(query, "getlist") else [query[name]] if name in query else []
    if not values or values == [""]:
        if required:
            raise EntryInvalid(name, f"is missing: the study link must carry the participant's {what}")
        return ""
    if len(values) > 1:
        raise EntryInvalid(name, "is given more than once")
    value = values[0]
    if not pattern.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise EntryInvalid(name, f"is not a valid {what}: {shown!r}")
    return value


def read_entry(marketplace, query) -> Entry:
    """The participant (and their submission) a study URL's query names, or ``EntryInvalid``."""
    kind = marketplace.kind
    if kind == "prolific":
        return Entry(
            participant_id=_one(query, id_parameter(marketplace), PROLIFIC_ID, "Prolific id", required=True).lower(),
            session_id=_one(query, "SESSION_ID", PROLIFIC_ID, "Prolific session id", required=False).lower(),
            study_id=_one(query, "STUDY_ID", PROLIFIC_ID, "Prolific study id", required=False).lower(),
        )
    if kind == "connect":
        return Entry(
            participant_id=_one(query, id_parameter(marketplace), CONNECT_ID, "Connect participant id", required=True),
            session_id=_one(query, "assignmentId", CONNECT_ID, "Connect assignment id", required=False),
            study_id=_one(query, "projectId", CONNECT_ID, "Connect project id", required=False),
        )
    if kind == "sona":
        return Entry(participant_id=_one(query, id_parameter(marketplace), SONA_ID, "SONA survey code", required=True))
    return Entry(participant_id=_one(query, id_parameter(marketplace), GENERIC_ID, "participant id", required=True))


def check_entry_matches(campaign, entry: Entry) -> None:
    """A study id in the URL must be this campaign's (when the campaign knows its study)."""
    expected = campaign.external_study_id if campaign.marketplace.kind == "prolific" else campaign.external_project_id
    name = "STUDY_ID" if campaign.marketplace.kind == "prolific" else "projectId"
    if expected and entry.study_id and entry.study_id != expected.lower() and entry.study_id != expected:
        raise EntryInvalid(name, "is not this campaign's study: open the link the marketplace gave you")


def exit_url(marketplace, *, outcome: str, code: str, participant_id: str, session_id: str, study_id: str) -> str:
    """Where a participant goes back to after ``outcome`` (completed, screened_out, no_consent); "" when nowhere.

    Without a URL of its own, a screen-out or a declined consent uses the
    completion URL only when that URL carries the code (``{code}``): a
    completion URL without one (SONA's credit link) would grant the
    completion, so the participant is shown the code instead.
    """
    completion = marketplace.completion_url or (PROLIFIC_COMPLETION_URL if marketplace.kind == "prolific" else "")
    own = {"completed": completion, "screened_out": marketplace.screen_out_url, "no_consent": marketplace.no_consent_url}
    template = own[outcome] or (completion if "{code}" in completion else "")
    if not template:
        return ""
    values = {"code": code, "participant_id": participant_id, "session_id": session_id, "study_id": study_id}
    return template.format(**{name: quote(value, safe="") for name, value in values.items()})
