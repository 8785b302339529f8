"""The worker API (Django REST framework). The annotation page uses it; so can programs.

Thin: parse, call a service or selector, render. Errors are raised (by the
views, the serializers or the services) and answered by the one exception
handler, ``config.api_errors``: every 4xx body is
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
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from annotator import selectors, serializers
from annotator.authentication import PageSessionAuthentication, WorkerTokenAuthentication
from annotator.models import Worker
from annotator.parsers import FiniteJSONParser
from annotator.services.assignment import NextTask, extend_task, next_task
from annotator.services.errors import (
    AnswerInvalid, ImageFileMissing, ImageNotFound, ImageRenditionMissing, TaskNotFound,
)
from catalog.files import is_reference, open_stored
from catalog.renditions import (
    ensure_rendition, ensure_web_rendition, forget_rendition, rendition_key, web_rendition_key, web_side,
)
from annotator.services.submission import report_task, skip_task, submit_task
from annotator.services.workers import worker_for

# The errors of the views and services; those every operation can answer (401, 406, 413, 429, ...)
# are added to each operation by config.api_errors.document_error_responses.
ERRORS = {
    400: OpenApiResponse(serializers.ErrorSerializer, description="The answer breaks a rule; `errors` names each field."),
    403: OpenApiResponse(serializers.ErrorSerializer, description="The CSRF token is missing or wrong (session)."),
    404: OpenApiResponse(serializers.ErrorSerializer, description="No such task among this worker's tasks."),
    409: OpenApiResponse(
        serializers.ErrorSerializer,
        description="The task is closed (submitted, skipped, reported or expired), or the submission_id was used "
        "for another task.",
    ),
}
NOT_ELIGIBLE = OpenApiResponse(
    serializers.ErrorSerializer, description="The worker may not work now; `code` says why (blocked, failed_qualification, ...)."
)
IMAGE_ERRORS = {
    400: OpenApiResponse(serializers.ErrorSerializer, description="`size` is neither display nor original."),
    404: OpenApiResponse(
        serializers.ErrorSerializer,
        description="No such task among this worker's tasks, or its image file is missing from storage (image_missing).",
    ),
}


logger = logging.getLogger(__name__)


class WorkerThrottle(UserRateThrottle):
    scope = "worker"


class WorkerAPIView(APIView):
    parser_classes = [FiniteJSONParser, FormParser, MultiPartParser]
    renderer_classes = [JSONRenderer]  # what the schema documents: answers and errors alike are JSON
    # The token first: a 401 carries the first class's challenge (WWW-Authenticate: Token), and a
    # request without an Authorization header goes on to the session (with its CSRF check).
    authentication_classes = [WorkerTokenAuthentication, PageSessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    throttle_classes = [WorkerThrottle]

    def worker(self, request) -> Worker:
        if isinstance(request.auth, Worker):
            return request.auth  # token authentication already found the worker
        return worker_for(request.user)

    def counter_fields(self, worker) -> dict:
        counter = selectors.work_counter(worker)
        return {"submitted_today": counter.submitted_today, "submitted_total": counter.submitted_total}

    def qualification_fields(self, worker, assignment) -> dict:
        """For a qualification item: where the test stands now (the page announces it; no status request needed)."""
        if not assignment.is_qualification:
            return {}
        outcome = asdict(selectors.qualification_outcome(worker))
        return {"qualification": serializers.QualificationOutcomeSerializer(outcome).data}


# No task: a 204 (no body) whose headers say why and when to ask again.
WORK_OUTLOOK = "Work-Outlook"
WORK_FINISH_URL = "Work-Finish-URL"
NO_TASK_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        {"type": "integer", "minimum": 0},
        location=OpenApiParameter.HEADER,
        response=[204],
        required=True,
        description="Seconds to wait before asking again: a few seconds when the work was only locked for a "
        "moment, about half a minute when others hold it, an hour when nothing is left (new images may be added).",
    ),
    OpenApiParameter(
        WORK_OUTLOOK,
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        response=[204],
        required=True,
        enum=[NextTask.LATER, NextTask.DONE],
        description="`later`: work may come later (what this worker could do is held by other workers' tasks, "
        "which may expire, or images are still in their box stage): ask again after `Retry-After`. "
        "`done`: nothing is left for this worker (every person it may annotate has all its answers or "
        "has its answer): stop asking.",
    ),
    OpenApiParameter(
        WORK_FINISH_URL,
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        response=[204],
        required=False,
        description="With `done`, for a worker whose work is bounded (a panel's session with a task quota): the "
        "page to go to next (where the session ends and the worker is sent back to the panel).",
    ),
]


class NextTaskView(WorkerAPIView):
    @extend_schema(
        summary="The worker's next task",
        description="Returns the live task if the worker has one, else assigns a new one. "
        "With `include=ahead`, `following` is the task after it, handed out already (its deadline runs from now, "
        "and afresh when it becomes current), so a client loads it while the worker answers: at most one, and none "
        "during the qualification test or for a bounded session. "
        "204: no task now, and no body; the `Work-Outlook` header says whether work may come later (`later`: ask "
        "again after `Retry-After` seconds) or none is left for this worker (`done`). "
        "403: the worker may not work (the reason says why).",
        parameters=[
            *NO_TASK_HEADERS,
            OpenApiParameter("include", str, enum=["ahead"], description="`ahead`: add the following task."),
        ],
        responses={
            200: serializers.NextTaskSerializer,
            204: OpenApiResponse(description="No task now: see the `Work-Outlook` and `Retry-After` headers."),
            403: NOT_ELIGIBLE,
        },
    )
    def get(self, request):
        include = request.query_params.get("include", "")
        if include not in ("", "ahead"):
            raise AnswerInvalid("include", f"must be ahead or left out, got {include!r}")
        outcome = next_task(self.worker(request), ahead=include == "ahead")
        if outcome.task is None:
            headers = {"Retry-After": str(outcome.retry_after), WORK_OUTLOOK: outcome.outlook}
            if outcome.finish_url:
                headers[WORK_FINISH_URL] = outcome.finish_url
            return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)
        body = asdict(selectors.task_view(outcome.task))
        if include != "ahead":
            return Response(serializers.TaskSerializer(body).data)
        body["following"] = asdict(selectors.task_view(outcome.ahead)) if outcome.ahead else None
        return Response(serializers.NextTaskSerializer(body).data)


class SubmitTaskView(WorkerAPIView):
    @extend_schema(
        summary="Submit the answer to a task",
        request=serializers.SubmissionSerializer,
        responses={201: serializers.SubmitResultSerializer, 200: serializers.SubmitResultSerializer, **ERRORS},
    )
    def post(self, request, task_id: int):
        worker = self.worker(request)
        parsed = serializers.SubmissionSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        answer = dict(parsed.validated_data)
        submission_id = answer.pop("submission_id")
        result = submit_task(worker, task_id, submission_id, answer)
        worker.refresh_from_db(fields=["tasks_submitted", "qualification"])
        body = {"task_id": task_id, "state": result.assignment.state, "stored": result.created}
        return Response(
            {**body, **self.counter_fields(worker), **self.qualification_fields(worker, result.assignment)},
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
        parsed.is_valid(raise_exception=True)
        worker = self.worker(request)
        assignment = skip_task(worker, task_id, parsed.validated_data.get("reason", ""))
        return Response(
            {"task_id": assignment.pk, "state": assignment.state, **self.qualification_fields(worker, assignment)}
        )


class ReportTaskView(WorkerAPIView):
    @extend_schema(
        summary="Report the task's image as bad, with a reason",
        request=serializers.ReportSerializer,
        responses={200: serializers.ClosedTaskSerializer, **ERRORS},
    )
    def post(self, request, task_id: int):
        parsed = serializers.ReportSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        worker = self.worker(request)
        assignment = report_task(worker, task_id, parsed.validated_data["reason"])
        return Response(
            {"task_id": assignment.pk, "state": assignment.state, **self.qualification_fields(worker, assignment)}
        )


class ExtendTaskView(WorkerAPIView):
    @extend_schema(
        summary="Keep working on a task: its deadline moves to ASSIGNMENT_TIMEOUT from now",
        description="The page sends it while the worker is active. Never past `extendable_until` "
        "(ASSIGNMENT_MAX_MINUTES after the task became current); there it changes nothing. 409 for a closed or "
        "expired task, or one still ahead.",
        request=None,
        responses={200: serializers.ExtendedTaskSerializer, **ERRORS},
    )
    def post(self, request, task_id: int):
        assignment = extend_task(self.worker(request), task_id)
        return Response(
            {
                "task_id": assignment.pk,
                "expires_at": assignment.expires_at,
                "extendable_until": selectors.extension_ceiling(assignment),
            }
        )


class AnyImage(BaseRenderer):
    """Stands for the image file in content negotiation; the file is sent as it is, never rendered."""

    media_type = "image/*"
    format = "image"


class ImageNegotiation(DefaultContentNegotiation):
    """``Accept: image/jpeg`` (or any image type, or JSON) is acceptable; an error is still answered in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer, media_type = super().select_renderer(request, [*renderers, AnyImage()], format_suffix)
        if isinstance(renderer, AnyImage):
            return renderers[0], renderers[0].media_type
        return renderer, media_type


class TaskImageView(WorkerAPIView):
    """The task's image, for its own worker only, with browser caching."""

    content_negotiation_class = ImageNegotiation

    @extend_schema(
        summary="The image of one of the worker's tasks",
        parameters=[OpenApiParameter("size", str, enum=["display", "original"], default="display")],
        responses={(200, "image/*"): OpenApiTypes.BINARY, 304: None, **IMAGE_ERRORS},
    )
    def get(self, request, task_id: int):
        assignment = selectors.own_assignment(self.worker(request), task_id)
        if assignment is None:
            raise TaskNotFound(task_id)
        image = assignment.image or assignment.person.image
        size = request.query_params.get("size", "display")
        if size not in ("display", "original"):
            raise AnswerInvalid("size", f"must be display or original, got {size!r}")
        etag = f'"{image.sha256}-{size}-{settings.IMAGE_RENDITION_MAX_SIDE}"'
        max_age = settings.IMAGE_CACHE_SECONDS
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponseNotModified()
        else:
            try:
                key = image.storage_key if size == "original" else ensure_rendition(image)
                if settings.IMAGE_REDIRECT_TO_STORAGE and not is_reference(key):  # a file kept where it lies is served here
                    # The browser fetches the bytes from storage itself; the signed URL expires,
                    # so the redirect is cached for half its life at most.
                    response = HttpResponseRedirect(default_storage.url(key))
                    max_age = min(max_age, settings.STORAGE_URL_EXPIRY_SECONDS // 2)
                else:
                    content_type = "image/jpeg" if key != image.storage_key else f"image/{image.format.lower()}"
                    response = FileResponse(open_stored(key), content_type=content_type)
            except FileNotFoundError:
                logger.error("image %s of task %s is missing from storage (%s)", image.pk, task_id, image.storage_key)
                forget_rendition(rendition_key(image, settings.IMAGE_RENDITION_MAX_SIDE))
                raise ImageFileMissing(task_id) from None
        response["ETag"] = etag
        # Private: only this worker may see it. The pixels never change, so caching long is safe.
        patch_cache_control(response, private=True, max_age=max_age)
        return response


class ImageView(WorkerAPIView):
    """A photo by its identity, as WebP at one of ``IMAGE_WEB_SIDES``: made once, cached, revalidated by ETag."""

    content_negotiation_class = ImageNegotiation

    @extend_schema(
        summary="A photo one of the worker's tasks shows, by its identity (its SHA-256)",
        description="The URLs come in a task's `image` (`url`, `srcset`). The same photo has the same URL in every "
        "task, so a browser downloads it once; the `ETag` answers `If-None-Match` with 304.",
        responses={(200, "image/webp"): OpenApiTypes.BINARY, 304: None, **IMAGE_ERRORS},
    )
    def get(self, request, sha256: str, side: int):
        image = selectors.may_see_image(self.worker(request), sha256)
        if image is None:
            raise ImageNotFound(sha256)
        if side not in settings.IMAGE_WEB_SIDES:
            sides = ", ".join(str(s) for s in settings.IMAGE_WEB_SIDES)
            raise AnswerInvalid("side", f"must be one of {sides}, got {side}")
        etag = f'"{image.sha256}-{web_side(image, side)}-webp"'
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponseNotModified()
        else:
            try:
                key = ensure_web_rendition(image, side)
            except FileNotFoundError:
                logger.error("image %s is missing from storage (%s)", image.pk, image.storage_key)
                forget_rendition(web_rendition_key(image, side))
                raise ImageRenditionMissing(sha256) from None
            if settings.IMAGE_REDIRECT_TO_STORAGE:
                response = HttpResponseRedirect(default_storage.url(key))
            else:
                response = FileResponse(default_storage.open(key, "rb"), content_type="image/webp")
        response["ETag"] = etag
        max_age = settings.IMAGE_CACHE_SECONDS
        if settings.IMAGE_REDIRECT_TO_STORAGE:
            max_age = min(max_age, settings.STORAGE_URL_EXPIRY_SECONDS // 2)
        # Private: only workers shown it may see it. The pixels never change: cached long, then revalidated.
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
                    "session": selectors.work_scope_view(worker),
                }
            ).data
        )


class HistoryPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500  # a larger limit is cut to this (a huge one made the database refuse the query: a 500)


class HistoryView(WorkerAPIView):
    pagination_class = HistoryPagination

    @extend_schema(
        summary="The worker's own finished tasks, newest first",
        parameters=[
            OpenApiParameter("limit", int, description=f"Entries per page, {HistoryPagination.default_limit} by "
                             f"default, at most {HistoryPagination.max_limit}."),
            OpenApiParameter("offset", int),
        ],
        responses={200: serializers.HistoryPageSerializer},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.history(self.worker(request)), request, view=self)
        entries = [asdict(selectors.history_entry(a)) for a in page]
        return paginator.get_paginated_response(serializers.HistoryEntrySerializer(entries, many=True).data)
