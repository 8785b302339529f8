"""Training runs go only to workers that can train (training/queues.py); others refuse the training queues."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

# The fault tests' harness: a private redis-server and real Celery workers (its fixtures, used below).
from tests.faults.conftest import private_redis, publishing_to, start_worker, wait_until, worker_environment  # noqa: F401
from tests.training.test_runs import TINY, stored_snapshot
from training.models import TrainingRun
from training.queues import GPU_TRAINING_QUEUE, TRAINING_QUEUE, TrainingAbility, probe, queue_for_device, refusal_for
from training.services import start_training_run

ROOT = Path(__file__).resolve().parents[2]


def test_a_run_asking_for_a_gpu_goes_to_the_gpu_queue():
    assert queue_for_device("cuda") == GPU_TRAINING_QUEUE == "training-gpu"
    assert queue_for_device("cpu") == queue_for_device("auto") == TRAINING_QUEUE == "training"


def test_what_a_machine_may_consume():
    without_torch = TrainingAbility(None, "ModuleNotFoundError: No module named 'torch'", False)
    assert without_torch.consumable() == []
    assert "needs torch, which does not import here (ModuleNotFoundError" in without_torch.refusal("training")
    assert without_torch.refusal("celery") is None
    cpu = TrainingAbility("2.14.1", "", False)
    assert cpu.consumable() == ["training"]
    assert "sees no CUDA device" in cpu.refusal("training-gpu")
    assert TrainingAbility("2.14.1", "", True).consumable() == ["training", "training-gpu"]


def test_the_probe_sees_this_machines_torch():
    ability = probe()
    assert ability.torch_version and ability.torch_version.split("+")[0] == __import__("torch").__version__.split("+")[0]
    assert ability.cuda == __import__("torch").cuda.is_available()


@pytest.mark.django_db
def test_runs_are_queued_by_the_device_they_ask_for(media_in_tmp, django_capture_on_commit_callbacks):
    from config.celery import app

    broker = redis.Redis.from_url(app.conf.broker_url)
    broker.delete(TRAINING_QUEUE, GPU_TRAINING_QUEUE)
    snapshot = stored_snapshot(media_in_tmp)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            start_training_run(snapshot=snapshot, mode="body", hyperparameters={**TINY, "device": "cuda"})
        assert (broker.llen(GPU_TRAINING_QUEUE), broker.llen(TRAINING_QUEUE)) == (1, 0)
        with django_capture_on_commit_callbacks(execute=True):
            start_training_run(snapshot=snapshot, mode="body", hyperparameters={**TINY, "device": "auto"})
            start_training_run(snapshot=snapshot, mode="body", hyperparameters={**TINY, "device": "cpu"})
        assert (broker.llen(GPU_TRAINING_QUEUE), broker.llen(TRAINING_QUEUE)) == (1, 2)
    finally:
        broker.delete(TRAINING_QUEUE, GPU_TRAINING_QUEUE)


# --- real worker processes --------------------------------------------------------------------
def celery_worker(queues: str, tmp_path: Path, extra_path: Path | None = None, broker: str = "redis://127.0.0.1:1/0"):
    """``celery -A config worker -Q QUEUES`` as compose runs it; the broker is never reached when it refuses."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "CELERY_BROKER_URL": broker,
                   "TRAINING_WORK_DIR": str(tmp_path / "training-work")}
    if extra_path:
        environment["PYTHONPATH"] = os.pathsep.join([str(extra_path), environment.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )


@pytest.fixture
def torch_hidden(tmp_path) -> Path:
    """A folder first on PYTHONPATH whose ``torch`` fails to import, as on a machine without it."""
    shadow = tmp_path / "no-torch"
    (shadow / "torch").mkdir(parents=True)
    (shadow / "torch" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\")\n")
    return shadow


@pytest.mark.slow
def test_a_worker_without_torch_refuses_the_training_queue_with_one_clear_line(tmp_path, torch_hidden):
    result = celery_worker("celery,training", tmp_path, extra_path=torch_hidden)
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("worker refused to start: the 'training' queue needs torch, which does not import here "
            "(ModuleNotFoundError: No module named 'torch'); install requirements-training.txt, "
            "or leave 'training' out of -Q") in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_worker_without_cuda_refuses_the_gpu_queue(tmp_path):
    if probe().cuda:  # a GPU machine: the check lets the GPU queue through
        assert refusal_for([TRAINING_QUEUE, GPU_TRAINING_QUEUE]) is None
        return
    result = celery_worker(f"{TRAINING_QUEUE},{GPU_TRAINING_QUEUE}", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "worker refused to start: the 'training-gpu' queue is for machines with a GPU" in result.stderr
    assert "sees no CUDA device here; leave 'training-gpu' out of -Q" in result.stderr


@pytest.mark.slow
def test_a_worker_started_without_queues_consumes_only_the_default_one(private_redis, tmp_path):  # noqa: F811
    """``celery -A config worker`` as anyone would start it: the training queues are not among its queues."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "CELERY_BROKER_URL": private_redis.url,
                   "TRAINING_WORK_DIR": str(tmp_path / "training-work")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    try:
        for line in worker.stdout:
            lines.append(line)
            if " ready." in line or len(lines) > 400:
                break
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    banner = "".join(lines)
    assert " ready." in banner, banner
    assert re.findall(r"\.> (\S+)\s+exchange=", banner) == ["celery"], banner


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_cuda_run_waits_for_a_gpu_worker_while_the_training_worker_takes_the_cpu_run(
    media_in_tmp, private_redis, start_worker, torch_hidden  # noqa: F811 (the harness's fixtures)
):
    """Before: the one training queue handed the cuda run to whichever worker came first, where it failed."""
    snapshot = stored_snapshot(media_in_tmp)
    with publishing_to(private_redis.url):
        gpu_run = start_training_run(snapshot=snapshot, mode="body", hyperparameters={**TINY, "device": "cuda"})
        cpu_run = start_training_run(snapshot=snapshot, mode="body", hyperparameters=TINY)
    web_side = start_worker("celery", PYTHONPATH=str(torch_hidden))  # no torch, no training queue: starts
    trainer = start_worker(TRAINING_QUEUE)
    wait_until(lambda: TrainingRun.objects.get(pk=cpu_run.pk).state in {"succeeded", "failed"}, "the cpu run",
               timeout=300, worker=trainer)
    assert TrainingRun.objects.get(pk=cpu_run.pk).state == "succeeded", TrainingRun.objects.get(pk=cpu_run.pk).error
    assert TrainingRun.objects.get(pk=gpu_run.pk).state == "queued"
    assert private_redis.client().llen(GPU_TRAINING_QUEUE) == 1  # waiting for a GPU worker
    assert "refused" not in web_side.log() and "refused" not in trainer.log()
