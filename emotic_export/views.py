from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect

from emotic_export.models import DatasetSnapshot


@staff_member_required
@permission_required("emotic_export.view_datasetsnapshot", raise_exception=True)
def download_snapshot(request: HttpRequest, pk: int) -> HttpResponse:
    """The snapshot's archive: a short-lived signed URL on S3, streamed from local disk otherwise."""
    return archive_response(get_object_or_404(DatasetSnapshot, pk=pk))


def archive_response(snapshot: DatasetSnapshot) -> HttpResponse:
    """The archive of a complete snapshot (404 otherwise): a redirect to a short-lived signed URL on S3, else the file."""
    if snapshot.state != DatasetSnapshot.State.COMPLETE or not snapshot.archive_key:
        raise Http404("This snapshot is not complete.")
    if hasattr(default_storage, "bucket_name"):
        return redirect(default_storage.url(snapshot.archive_key))
    return FileResponse(default_storage.open(snapshot.archive_key, "rb"), as_attachment=True, filename=f"{snapshot.name}.tar.gz")


@staff_member_required
@permission_required("emotic_export.view_datasetsnapshot", raise_exception=True)
def snapshot_status(request: HttpRequest, pk: int) -> JsonResponse:
    snapshot = get_object_or_404(DatasetSnapshot, pk=pk)
    return JsonResponse(
        {"state": snapshot.state, "progress": snapshot.progress, "error": snapshot.error, "counts": snapshot.counts}
    )
