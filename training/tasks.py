from celery import shared_task

from training.services import run_training


@shared_task(name="training.run_training", acks_late=True, reject_on_worker_lost=True)
def run_training_task(run_id: int) -> str:
    """Queued on ``training`` or ``training-gpu`` (training/queues.py); a redelivered run resumes from its last checkpoint."""
    return run_training(run_id).state
