"""Rows of the campaigns app for tests: a Prolific marketplace, a campaign on it, a participant with a session."""

from __future__ import annotations

import secrets

import factory
from django.utils import timezone

from campaigns.models import Campaign, LedgerEntry, Marketplace, Participant, ParticipantSession, WebhookEvent
from tests.factories import UserFactory, WorkerFactory

CONSENT = (
    "You will look at photos of people and say how they seem to feel. Your answers are stored without your name and "
    "used to build a research dataset. You may stop at any time."
)


def object_id() -> str:
    """A Prolific-style id: 24 hexadecimal characters."""
    return secrets.token_hex(12)


class MarketplaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Marketplace
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Prolific {n}")
    kind = Marketplace.Kind.PROLIFIC
    currency = Marketplace.Currency.GBP


class CampaignFactory(factory.django.DjangoModelFactory):
    """An open campaign: 3 emotion tasks a session, £1.50 for an expected 10 minutes (£9 an hour)."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Emotions study {n}")
    slug = factory.Sequence(lambda n: f"study-{n}")
    marketplace = factory.SubFactory(MarketplaceFactory)
    state = Campaign.State.OPEN
    task_kinds = factory.LazyFunction(lambda: ["emotions"])
    splits = factory.LazyFunction(list)
    target_participants = 10
    reward_cents = 150
    expected_minutes = 10
    session_tasks = 3
    consent_text = CONSENT
    completion_code = "C1OK2DONE"
    screen_out_code = "C2SCREEN"
    no_consent_code = "C3NOCONSENT"


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    marketplace = factory.SubFactory(MarketplaceFactory)
    external_id = factory.LazyFunction(object_id)
    worker = factory.SubFactory(WorkerFactory, user=factory.SubFactory(UserFactory), bounded=True)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ParticipantSession

    campaign = factory.SubFactory(CampaignFactory)
    participant = factory.SubFactory(ParticipantFactory, marketplace=factory.SelfAttribute("..campaign.marketplace"))
    state = ParticipantSession.State.WORKING
    external_session_id = factory.LazyFunction(object_id)
    external_study_id = factory.LazyFunction(object_id)
    task_quota = 3
    consented_at = factory.LazyFunction(timezone.now)


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LedgerEntry

    session = factory.SubFactory(SessionFactory)
    campaign = factory.SelfAttribute("session.campaign")
    participant = factory.SelfAttribute("session.participant")
    kind = LedgerEntry.Kind.REWARD
    amount_cents = 150
    currency = "GBP"
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEvent

    event_id = factory.Sequence(lambda n: f"event-{n}")
    event_type = "submission.status.change"
    resource_id = factory.LazyFunction(object_id)
    status = "AWAITING REVIEW"
    sent_at = factory.LazyFunction(timezone.now)
    outcome = WebhookEvent.Outcome.UNKNOWN_RESOURCE
