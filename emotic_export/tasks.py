from celery import shared_task

from emotic_export.services import build_snapshot


@shared_task(name="emotic_export.build_snapshot", acks_late=True, reject_on_worker_lost=True)
def build_snapshot_task(snapshot_id: int) -> str:
    """A worker killed mid-build gets the job redelivered; the rebuild starts clean."""
    return build_snapshot(snapshot_id).state
