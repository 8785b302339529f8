"""The run page's live status, its report's files, and the downloads of its checkpoint and report.

Staff with the view permission only; files are streamed from the storage (``FileResponse`` reads
them in blocks), never read whole.
"""

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404

from training.models import TrainingRun
from training.services import REPORT_FILES


@staff_member_required
@permission_required("training.view_trainingrun", raise_exception=True)
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    return JsonResponse(
        {"state": run.state, "epoch": run.epoch, "step": run.step, "loss": run.last_loss,
         "best_val_map": run.best_val_map, "history": run.history, "error": run.error}
    )


def _stored(key: str):
    if not key or not default_storage.exists(key):
        raise Http404("No such file.")
    return default_storage.open(key, "rb")


@staff_member_required
@permission_required("training.view_trainingrun", raise_exception=True)
def report_file(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    if name not in REPORT_FILES or not run.report_key:
        raise Http404("No such report file.")
    content_type = "image/png" if name.endswith(".png") else "application/json"
    return FileResponse(_stored(f"training-runs/{run.pk}/report/{name}"), content_type=content_type)


@staff_member_required
@permission_required("training.view_trainingrun", raise_exception=True)
def checkpoint_download(request: HttpRequest, pk: int) -> FileResponse:
    """The run's best checkpoint (``python -m training predict`` reads it), as a download."""
    run = get_object_or_404(TrainingRun, pk=pk)
    return FileResponse(_stored(run.checkpoint_key), as_attachment=True, filename=f"run-{run.pk}-best.pt",
                        content_type="application/octet-stream")


@staff_member_required
@permission_required("training.view_trainingrun", raise_exception=True)
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    """The run's report (metrics, thresholds, history, hyperparameters) as a JSON download."""
    run = get_object_or_404(TrainingRun, pk=pk)
    return FileResponse(_stored(run.report_key), as_attachment=True, filename=f"run-{run.pk}-report.json",
                        content_type="application/json")
