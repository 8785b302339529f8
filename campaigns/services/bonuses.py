"""Bonuses by rule: previewed with their total, then paid through the ledger (never twice).

The rules are the campaign's: so much per hidden control answered correctly
in the session, and so much per task done beyond the session's quota. Each
completed session's bonus has the key ``bonus:rule:<session>``: paying the
rule again pays only sessions completed since, and a payment whose answer
was lost is reconciled before anything is sent again (``ledger``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser

from campaigns.errors import CampaignError
from campaigns.models import Campaign, LedgerEntry, ParticipantSession
from campaigns.services import ledger


@dataclass(frozen=True)
class BonusLine:
    session: ParticipantSession
    controls_passed: int
    extra_tasks: int
    amount_cents: int
    key: str
    existing: LedgerEntry | None  # already in the ledger (planned or paid): not paid again

    @property
    def participant(self) -> str:
        return self.session.participant.external_id


def rule_key(session: ParticipantSession) -> str:
    return f"bonus:rule:{session.pk}"


def preview(campaign: Campaign) -> tuple[list[BonusLine], int]:
    """Every completed session's bonus under the campaign's rules, and the total of those not in the ledger yet."""
    lines = []
    sessions = campaign.sessions.filter(state=ParticipantSession.State.COMPLETED).select_related("participant")
    existing = {e.idempotency_key: e for e in campaign.ledger.filter(kind=LedgerEntry.Kind.BONUS, idempotency_key__startswith="bonus:rule:")}
    for session in sessions.order_by("ended_at", "id"):
        extra = max(session.tasks_done - session.task_quota, 0) if session.task_quota is not None else 0
        amount = campaign.bonus_per_control_cents * session.controls_passed + campaign.bonus_per_extra_task_cents * extra
        if amount > 0:
            key = rule_key(session)
            lines.append(BonusLine(session, session.controls_passed, extra, amount, key, existing.get(key)))
    return lines, sum(line.amount_cents for line in lines if line.existing is None)


def pay(campaign: Campaign, *, previewed_total_cents: int, by: AbstractBaseUser | None = None) -> dict[str, int]:
    """Write the new bonus rows and send them (with any of the rule's rows not settled yet); returns the rows' states.

    ``previewed_total_cents`` is the total the admin saw: if it has changed
    meanwhile (a session completed), nothing is paid and the admin previews again.
    """
    if not campaign.bonus_per_control_cents and not campaign.bonus_per_extra_task_cents:
        raise CampaignError("bonus_per_control_cents", "the campaign has no bonus rule")
    lines, total = preview(campaign)
    if total != previewed_total_cents:
        raise CampaignError("total", "the bonuses changed since the preview (sessions completed meanwhile): preview again")
    if campaign.marketplace.has_api:
        ledger.client_for(campaign)  # no token: refused here, before any row is written
    rows = []
    for line in lines:
        entry, _ = ledger.plan(line.session, LedgerEntry.Kind.BONUS, line.amount_cents, line.key,
                               rule=f"{line.controls_passed} control(s), {line.extra_tasks} extra task(s)", by=by)
        if entry.state not in ledger.SETTLED:
            rows.append(entry)
    if not campaign.marketplace.has_api:
        return {LedgerEntry.State.PLANNED: len(rows)}
    return ledger.send_many(rows)
