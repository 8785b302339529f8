from celery import shared_task

from emotic_export.array_shards import make_array_shards
from emotic_export.services import build_snapshot


@shared_task(name="emotic_export.build_snapshot", acks_late=True, reject_on_worker_lost=True)
def build_snapshot_task(snapshot_id: int) -> str:
    """A worker killed mid-build gets the job redelivered; the rebuild starts clean."""
    return build_snapshot(snapshot_id).state


@shared_task(name="emotic_export.make_array_shards")
def make_array_shards_task(snapshot_id: int) -> int:
    """Helps a build: makes shards of its arrays until none is left (a shard a lost worker held is taken over
    when its claim runs out; a redelivered helper finds what is left, or nothing)."""
    return make_array_shards(snapshot_id)
