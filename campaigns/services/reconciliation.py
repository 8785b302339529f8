"""The ledger against the marketplace's submissions: a report of every difference.

Read from Prolific's list of the study's submissions (status, and the bonuses
paid on each), compared with the sessions and ledger rows here. Nothing is
changed: the report says what differs, and the admin (or the periodic
reconciliation of unknown rows) acts on it.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

from campaigns.errors import CampaignError
from campaigns.models import Campaign, LedgerEntry, ParticipantSession
from campaigns.prolific import ProlificClient
from campaigns.rules import money

Kind, State = LedgerEntry.Kind, LedgerEntry.State


@dataclass(frozen=True)
class Difference:
    submission: str
    participant: str
    what: str
    here: str
    there: str


def report(campaign: Campaign, client: ProlificClient | None = None) -> list[Difference]:
    """Every difference between the campaign's sessions and ledger and Prolific's submissions of its study."""
    if not campaign.marketplace.has_api or not campaign.external_study_id:
        raise CampaignError("marketplace", "only a campaign with a Prolific study can be reconciled with it")
    submissions = (client or ProlificClient()).list_submissions(campaign.external_study_id)
    sessions = {s.external_session_id: s for s in campaign.sessions.exclude(external_session_id="").select_related("participant")}
    rows: dict[int, list[LedgerEntry]] = {}
    for entry in campaign.ledger.exclude(session=None):
        rows.setdefault(entry.session_id, []).append(entry)
    currency = campaign.marketplace.currency
    out = []
    for sub in submissions:
        session = sessions.pop(sub.id, None)
        if session is None:
            out.append(Difference(sub.id, sub.participant_id, "a submission with no session here", "none", sub.status))
            continue
        mine = rows.get(session.pk, [])
        reward = next((e for e in mine if e.kind == Kind.REWARD), None)
        rejection = next((e for e in mine if e.kind == Kind.REJECTION), None)
        if sub.status == "APPROVED" and (reward is None or reward.state != State.PAID):
            out.append(Difference(sub.id, sub.participant_id, "approved there, reward not paid here",
                                  reward.state if reward else "no reward row", sub.status))
        if reward is not None and reward.state == State.PAID and sub.status != "APPROVED":
            out.append(Difference(sub.id, sub.participant_id, "reward paid here, not approved there", reward.state, sub.status))
        if sub.status == "REJECTED" and (rejection is None or rejection.state != State.PAID):
            out.append(Difference(sub.id, sub.participant_id, "rejected there, not here",
                                  rejection.state if rejection else "no rejection row", sub.status))
        if rejection is not None and rejection.state == State.PAID and sub.status != "REJECTED":
            out.append(Difference(sub.id, sub.participant_id, "rejected here, not there", rejection.state, sub.status))
        if session.state == ParticipantSession.State.COMPLETED and sub.status in ("ACTIVE", "RESERVED"):
            out.append(Difference(sub.id, sub.participant_id, "completed here, never submitted there",
                                  session.state, sub.status))
        here = Counter(e.amount_cents for e in mine if e.kind == Kind.BONUS and e.state == State.PAID)
        there = Counter(sub.bonus_payments)
        if here != there:
            out.append(Difference(
                sub.id, sub.participant_id, "bonuses differ",
                f"{sum(here.elements())} cents ({money(sum(here.elements()), currency)}) in {sum(here.values())} payment(s)",
                f"{sum(there.elements())} cents ({money(sum(there.elements()), currency)}) in {sum(there.values())} payment(s)",
            ))
    for session_id, session in sessions.items():
        out.append(Difference(session_id, session.participant.external_id, "a session whose submission Prolific does not list",
                              session.state, "none"))
    return out


def report_csv(differences: list[Difference]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["submission", "participant", "difference", "here", "there"])
    for d in differences:
        writer.writerow([d.submission, d.participant, d.what, d.here, d.there])
    return out.getvalue()
