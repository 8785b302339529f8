"""Celery tasks of the campaigns: each wraps a service."""

from celery import shared_task

from campaigns.services import sync


@shared_task(name="campaigns.poll_marketplaces")
def poll_marketplaces() -> dict:
    """Submissions' statuses (the webhooks' fallback), the ledger's unknown rows, the participant groups."""
    return sync.poll_all()
