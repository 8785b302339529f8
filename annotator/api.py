"""The worker API (Django REST framework). The annotation page uses it; so can programs.

Thin: parse, call a service or selector, render. Every 4xx body is
``{"detail": "<field>: <reason>", "code": ..., "errors": {"<field>": ["<reason>"]}}``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponseNotModified, HttpResponseRedirect
from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from annotator import selectors, serializers
from annotator.authentication import WorkerTokenAuthentication
from annotator.models import Worker
from annotator.parsers import FiniteJSONParser
from annotator.services.assignment import assign_next_task
from annotator.services.errors import AnnotationError, AnswerInvalid, ImageFileMissing, TaskNotFound
from catalog.renditions import ensure_rendition, forget_rendition, rendition_key
from annotator.services.submission import report_task, skip_task, submit_task
from annotator.services.workers import worker_for

ERRORS = {code: OpenApiResponse(serializers.ErrorSerializer) for code in (400, 403, 404, 409)}


logger = logging.getLogger(__name__)


class WorkerThrottle(UserRateThrottle):
    scope = "worker"


def error_response(error: AnnotationError) -> Response:
    return Response(
        {"detail": str(error), "code": error.code, "errors": {error.field: [error.reason]}},
        status=error.status_code,
    )


def _flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as ``{"boxes[0][2]": ["A valid integer is required."]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}[{key}]" if prefix else str(key)
            flat.update(_flatten(value, name))
    elif isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        flat[prefix] = [str(e) for e in errors]
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                flat.update(_flatten(value, f"{prefix}[{index}]"))
    return flat


def validation_response(serializer) -> Response:
    errors = _flatten(serializer.errors)
    field, reasons = next(iter(errors.items()))
    return Response(
        {"detail": f"{field}: {reasons[0]}", "code": "invalid", "errors": errors}, status=status.HTTP_400_BAD_REQUEST
    )


class WorkerAPIView(APIView):
    parser_classes = [FiniteJSONParser, FormParser, MultiPartParser]
    authentication_classes = [SessionAuthentication, WorkerTokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [WorkerThrottle]

    def worker(self, request) -> Worker:
        if isinstance(request.auth, Worker):
            return request.auth  # token authentication already found the worker
        return worker_for(request.user)

    def counter_fields(self, worker) -> dict:
        counter = selectors.work_counter(worker)
        return {"submitted_today": counter.submitted_today, "submitted_total": counter.submitted_total}


class NextTaskView(WorkerAPIView):
    @extend_schema(
        summary="The worker's next task",
        description="Returns the live task if the worker has one, else assigns a new one. "
        "204: nothing to do right now. 403: the worker may not work (the reason says why).",
        responses={200: serializers.TaskSerializer, 204: None, 403: ERRORS[403]},
    )
    def get(self, request):
        worker = self.worker(request)
        try:
            assignment = assign_next_task(worker)
        except AnnotationError as error:
            return error_response(error)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(serializers.TaskSerializer(asdict(selectors.task_view(assignment))).data)


class SubmitTaskView(WorkerAPIView):
    @extend_schema(
        summary="Submit the answer to a task",
        request=serializers.SubmissionSerializer,
        responses={201: serializers.SubmitResultSerializer, 200: serializers.SubmitResultSerializer, **ERRORS},
    )
    def post(self, request, task_id: int):
        worker = self.worker(request)
        parsed = serializers.SubmissionSerializer(data=request.data)
        if not parsed.is_valid():
            return validation_response(parsed)
        answer = dict(parsed.validated_data)
        submission_id = answer.pop("submission_id")
        try:
            result = submit_task(worker, task_id, submission_id, answer)
        except AnnotationError as error:
            return error_response(error)
        worker.refresh_from_db(fields=["tasks_submitted", "qualification"])
        body = {"task_id": task_id, "state": result.assignment.state, "stored": result.created}
        return Response(
            {**body, **self.counter_fields(worker)},
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class SkipTaskView(WorkerAPIView):
    @extend_schema(
        summary="Skip a task (the worker will not see this person again)",
        request=serializers.ReasonSerializer,
        responses={200: serializers.ClosedTaskSerializer, **ERRORS},
    )
    def post(self, request, task_id: int):
        parsed = serializers.ReasonSerializer(data=request.data)
        if not parsed.is_valid():
            return validation_response(parsed)
        try:
            assignment = skip_task(self.worker(request), task_id, parsed.validated_data.get("reason", ""))
        except AnnotationError as error:
            return error_response(error)
        return Response({"task_id": assignment.pk, "state": assignment.state})


class ReportTaskView(WorkerAPIView):
    @extend_schema(
        summary="Report the task's image as bad, with a reason",
        request=serializers.ReportSerializer,
        responses={200: serializers.ClosedTaskSerializer, **ERRORS},
    )
    def post(self, request, task_id: int):
        parsed = serializers.ReportSerializer(data=request.data)
        if not parsed.is_valid():
            return validation_response(parsed)
        try:
            assignment = report_task(self.worker(request), task_id, parsed.validated_data["reason"])
        except AnnotationError as error:
            return error_response(error)
        return Response({"task_id": assignment.pk, "state": assignment.state})


class TaskImageView(WorkerAPIView):
    """The task's image, for its own worker only, with browser caching."""

    @extend_schema(
        summary="The image of one of the worker's tasks",
        parameters=[OpenApiParameter("size", str, enum=["display", "original"], default="display")],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 304: None, 404: ERRORS[404]},
    )
    def get(self, request, task_id: int):
        assignment = selectors.own_assignment(self.worker(request), task_id)
        if assignment is None:
            return error_response(TaskNotFound(task_id))
        image = assignment.image or assignment.person.image
        size = request.query_params.get("size", "display")
        if size not in ("display", "original"):
            return error_response(AnswerInvalid("size", f"must be display or original, got {size!r}"))
        etag = f'"{image.sha256}-{size}-{settings.IMAGE_RENDITION_MAX_SIDE}"'
        max_age = settings.IMAGE_CACHE_SECONDS
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponseNotModified()
        else:
            try:
                key = image.storage_key if size == "original" else ensure_rendition(image)
                if settings.IMAGE_REDIRECT_TO_STORAGE:
                    # The browser fetches the bytes from storage itself; the signed URL expires,
                    # so the redirect is cached for half its life at most.
                    response = HttpResponseRedirect(default_storage.url(key))
                    max_age = min(max_age, settings.STORAGE_URL_EXPIRY_SECONDS // 2)
                else:
                    content_type = "image/jpeg" if key != image.storage_key else f"image/{image.format.lower()}"
                    response = FileResponse(default_storage.open(key, "rb"), content_type=content_type)
            except FileNotFoundError:
                logger.error("image %s of task %s is missing from storage (%s)", image.pk, task_id, image.storage_key)
                forget_rendition(rendition_key(image, settings.IMAGE_RENDITION_MAX_SIDE))
                return error_response(ImageFileMissing(task_id))
        response["ETag"] = etag
        # Private: only this worker may see it. The pixels never change, so caching long is safe.
        patch_cache_control(response, private=True, max_age=max_age)
        return response


class WorkerStatusView(WorkerAPIView):
    @extend_schema(summary="The worker's state and counter", responses={200: serializers.WorkerStatusSerializer})
    def get(self, request):
        worker = self.worker(request)
        return Response(
            serializers.WorkerStatusSerializer(
                {
                    "username": worker.user.get_username(),
                    "qualification": worker.qualification,
                    "is_blocked": worker.is_blocked,
                    "blocked_reason": worker.blocked_reason,
                    "counter": asdict(selectors.work_counter(worker)),
                }
            ).data
        )


class HistoryView(WorkerAPIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(
        summary="The worker's own finished tasks, newest first",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: serializers.HistoryPageSerializer},
    )
    def get(self, request):
        paginator = self.pagination_class()
        paginator.default_limit = 50
        page = paginator.paginate_queryset(selectors.history(self.worker(request)), request, view=self)
        entries = [asdict(selectors.history_entry(a)) for a in page]
        return paginator.get_paginated_response(serializers.HistoryEntrySerializer(entries, many=True).data)
