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


@staff_member_required
@permission_required("training.view_trainingrun", raise_exception=True)
def report_file(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    if name not in REPORT_FILES or not run.report_key:
        raise Http404("No such report file.")
    key = f"training-runs/{run.pk}/report/{name}"
    if not default_storage.exists(key):
        raise Http404("No such report file.")
    return FileResponse(default_storage.open(key, "rb"), content_type="image/png" if name.endswith(".png") else "application/json")
