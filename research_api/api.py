"""The researcher API (``/api/research/v1/``): the research team's programs read and run the project.

Thin: parse (filters and bodies are serializers, so a bad value is a 400
naming it), read through each app's selectors, write through each app's
services, render. Only researcher tokens open it (``authentication.py``);
each operation needs a scope (``read`` unless ``scopes`` says otherwise).
Lists are cursor-paginated: follow ``next`` until it is null.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers as drf, status
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from annotator import selectors as annotation
from annotator.parsers import FiniteJSONParser
from annotator.serializers import ErrorSerializer
from catalog import selectors as library
from emotic.errors import FieldError
from emotic_export import selectors as exports
from emotic_export.services import ExportError, ExportOptions, create_snapshot, queue_snapshot_build
from emotic_export.views import archive_response
from quality import selectors as quality
from research_api import serializers as s
from research_api.authentication import HasScope, ResearchTokenAuthentication
from research_api.models import Scope
from research_api.pseudonyms import worker_with_pseudonym
from scraper import selectors as crawls
from scraper.services.jobs import create_crawl_job, enqueue_crawl_job
from scraper.sources import SourceError
from training import selectors as training
from training.services import TrainingRunError, start_training_run

MAX_PAGE_SIZE = 1000


class RequestInvalid(FieldError):
    """A value of the request that the services refused: 400, naming the field."""

    status_code = 400
    code = "invalid"


class ResearchThrottle(UserRateThrottle):
    scope = "research"


class Cursor(CursorPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = "id"

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except Exception:  # DRF answers a bad cursor with a bare 404; it is a bad parameter
            raise RequestInvalid("cursor", "is not a cursor this API gave: follow the next and previous links") from None


class NewestFirst(Cursor):
    ordering = "-id"


class ByPerson(Cursor):
    ordering = "person_id"


class ResearchAPIView(APIView):
    authentication_classes = [ResearchTokenAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ResearchThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [FiniteJSONParser]
    scopes: dict[str, str] = {}  # HTTP method -> scope needed beyond read

    def filters(self, request, filters_class: type[s.Filters]) -> dict:
        parsed = filters_class(data=request.query_params)
        parsed.is_valid(raise_exception=True)
        return parsed.validated_data

    def body(self, request, body_class: type[drf.Serializer]) -> dict:
        parsed = body_class(data=request.data)
        parsed.is_valid(raise_exception=True)
        return parsed.validated_data

    def page(self, request, rows, record_class, paginator_class=Cursor, **context) -> Response:
        paginator = paginator_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        records = record_class(page, many=True, context={"request": request, **context})
        return paginator.get_paginated_response(records.data)


def page_of(record_class) -> drf.Serializer:
    return inline_serializer(
        name=f"{record_class.__name__}Page",
        fields={
            "next": drf.URLField(allow_null=True, help_text="The next page; null on the last."),
            "previous": drf.URLField(allow_null=True),
            "results": record_class(many=True),
        },
    )


NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such record.")
BAD_INPUT = OpenApiResponse(ErrorSerializer, description="A filter or field is invalid; `errors` names it.")
NO_SCOPE = OpenApiResponse(ErrorSerializer, description="The token lacks the scope this operation needs (scope_missing).")
TAG = ["research"]


def _split(value):
    return s.stored_split(value)


# --- images, people, answers --------------------------------------------------------------------
class ImageList(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_images_list", summary="Images of the library", parameters=[s.ImageFilters],
                   responses={200: page_of(s.ImageRecord), 400: BAD_INPUT, 403: NO_SCOPE})
    def get(self, request):
        f = self.filters(request, s.ImageFilters)
        rows = library.images(split=_split(f.get("split")), source_id=f.get("source"), original_database=f.get("original_database"),
                              license_code=f.get("license_code"), created_after=f.get("created_after"))
        return self.page(request, rows, s.ImageRecord)


class PersonList(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_people_list", summary="People (boxes) in the images", parameters=[s.PersonFilters],
                   responses={200: page_of(s.PersonRecord), 400: BAD_INPUT, 403: NO_SCOPE})
    def get(self, request):
        f = self.filters(request, s.PersonFilters)
        rows = annotation.people(image_id=f.get("image"), split=_split(f.get("split")), box_status=f.get("box_status"))
        return self.page(request, rows, s.PersonRecord)


class AnswerList(ResearchAPIView):
    @extend_schema(
        tags=TAG, operation_id="research_answers_list", summary="Workers' emotion answers (worker ids anonymised without the identify scope)",
        description="Each worker appears under a stable pseudonym (`a-` and 16 hex digits, a keyed hash of its id); "
        "a token with the `identify` scope sees the worker's id and user name instead.",
        parameters=[s.AnswerFilters], responses={200: page_of(s.AnswerRecord), 400: BAD_INPUT, 403: NO_SCOPE},
    )
    def get(self, request):
        f = self.filters(request, s.AnswerFilters)
        identify = request.auth.allows(Scope.IDENTIFY)
        worker_id = None
        if "worker" in f:
            worker_id = self._worker_id(f["worker"], identify)
        base = quality.counted_annotations() if f["counted"] else None
        rows = annotation.emotion_answers(
            base, person_id=f.get("person"), image_id=f.get("image"), worker_id=worker_id, status=f.get("status"),
            split=_split(f.get("split")), created_after=f.get("created_after"),
        )
        if "worker" in f and worker_id is None:
            rows = rows.none()
        paginator = Cursor()
        page = paginator.paginate_queryset(rows.values(*s.ANSWER_COLUMNS), request, view=self)
        return paginator.get_paginated_response(s.answer_records(page, identify=identify))

    @staticmethod
    def _worker_id(value: str, identify: bool) -> int | None:
        if value.startswith("a-"):
            return worker_with_pseudonym(value, annotation.worker_ids())
        if not identify:
            raise RequestInvalid("worker", "give the worker's pseudonym (a-...): worker ids need the identify scope")
        if not value.isdigit():
            raise RequestInvalid("worker", f"must be a pseudonym (a-...) or a worker id, got {value!r}")
        return int(value)


# --- agreement figures --------------------------------------------------------------------------
class DatasetFigures(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_agreement_retrieve", summary="The dataset's agreement figures (the last full recomputation)",
                   responses={200: s.DatasetFigures, 403: NO_SCOPE})
    def get(self, request):
        self.filters(request, s.Filters)
        report = quality.latest_report()
        return Response(s.DatasetFigures({"computed_at": report.created_at if report else None,
                                          "figures": report.figures if report else {}}).data)


class PersonAgreementList(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_person_agreement_list", summary="Each person's agreement figures and combined labels",
                   parameters=[s.PersonAgreementFilters],
                   responses={200: page_of(s.PersonAgreementRecord), 400: BAD_INPUT, 403: NO_SCOPE})
    def get(self, request):
        f = self.filters(request, s.PersonAgreementFilters)
        rows = quality.person_agreements(_split(f.get("split")) if "split" in f else None)
        return self.page(request, rows, s.PersonAgreementRecord, ByPerson)


# --- snapshots ----------------------------------------------------------------------------------
class SnapshotList(ResearchAPIView):
    scopes = {"POST": Scope.EXPORT}

    @extend_schema(tags=TAG, operation_id="research_snapshots_list", summary="Snapshots, newest first", parameters=[s.SnapshotFilters],
                   responses={200: page_of(s.SnapshotRecord), 400: BAD_INPUT, 403: NO_SCOPE})
    def get(self, request):
        f = self.filters(request, s.SnapshotFilters)
        return self.page(request, exports.snapshots(state=f.get("state")), s.SnapshotRecord, NewestFirst)

    @extend_schema(tags=TAG, operation_id="research_snapshot_start", summary="Start a snapshot (export scope); it builds in the background",
                   request=s.StartSnapshot, responses={201: s.SnapshotRecord, 400: BAD_INPUT, 403: NO_SCOPE})
    def post(self, request):
        body = self.body(request, s.StartSnapshot)
        try:
            options = ExportOptions(
                formats=tuple(body["formats"]), ratios=body.get("ratios"), seed=body["seed"],
                label_rule=body["label_rule"], require_review=body["require_review"],
            )
            with transaction.atomic():
                snapshot = create_snapshot(name=body["name"], description=body["description"], created_by=request.user,
                                           options=options)
                queue_snapshot_build(snapshot)
        except ExportError as error:
            field = f"ratios.{error.field}" if error.field in ("train", "val", "test") else error.field
            raise RequestInvalid(field, error.reason) from None
        record = s.SnapshotRecord(snapshot, context={"request": request}).data
        return Response(record, status=status.HTTP_201_CREATED, headers={"Location": f"{request.path}{snapshot.pk}/"})


def _one(rows, pk: int):
    row = rows.filter(pk=pk).first()
    if row is None:
        raise Http404(f"no record {pk}")
    return row


class SnapshotDetail(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_snapshot_retrieve", summary="One snapshot: state, progress, counts, agreement figures, download URL",
                   responses={200: s.SnapshotRecord, 403: NO_SCOPE, 404: NOT_FOUND})
    def get(self, request, pk: int):
        return Response(s.SnapshotRecord(_one(exports.snapshots(), pk), context={"request": request}).data)


class SnapshotArchive(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_snapshot_archive", summary="A complete snapshot's archive (.tar.gz); on S3, a redirect to a signed URL",
                   responses={(200, "application/gzip"): OpenApiTypes.BINARY, 302: None, 403: NO_SCOPE, 404: NOT_FOUND})
    def get(self, request, pk: int):
        return archive_response(_one(exports.snapshots(), pk))


# --- training runs ------------------------------------------------------------------------------
class RunList(ResearchAPIView):
    scopes = {"POST": Scope.TRAIN}

    @extend_schema(tags=TAG, operation_id="research_training_runs_list", summary="Training runs, newest first", parameters=[s.RunFilters],
                   responses={200: page_of(s.RunRecord), 400: BAD_INPUT, 403: NO_SCOPE})
    def get(self, request):
        f = self.filters(request, s.RunFilters)
        return self.page(request, training.training_runs(state=f.get("state"), snapshot_id=f.get("snapshot")), s.RunRecord,
                         NewestFirst)

    @extend_schema(tags=TAG, operation_id="research_training_run_start", summary="Start a training run on a complete snapshot (train scope)",
                   request=s.StartRun, responses={201: s.RunRecord, 400: BAD_INPUT, 403: NO_SCOPE})
    def post(self, request):
        body = self.body(request, s.StartRun)
        snapshot = exports.snapshots().filter(pk=body["snapshot"]).first()
        if snapshot is None:
            raise RequestInvalid("snapshot", f"no snapshot {body['snapshot']}")
        try:
            run = start_training_run(snapshot=snapshot, mode=body["mode"], hyperparameters=body["hyperparameters"],
                                     created_by=request.user)
        except TrainingRunError as error:
            field = error.field if error.field in ("snapshot", "mode") else f"hyperparameters.{error.field}"
            raise RequestInvalid(field, error.reason) from None
        return Response(s.RunRecord(run).data, status=status.HTTP_201_CREATED, headers={"Location": f"{request.path}{run.pk}/"})


class RunDetail(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_training_run_retrieve", summary="One training run: state, progress, per-epoch history and final metrics",
                   responses={200: s.RunRecord, 403: NO_SCOPE, 404: NOT_FOUND})
    def get(self, request, pk: int):
        return Response(s.RunRecord(_one(training.training_runs(), pk)).data)


# --- crawl jobs ---------------------------------------------------------------------------------
class CrawlJobList(ResearchAPIView):
    scopes = {"POST": Scope.CRAWL}

    @extend_schema(tags=TAG, operation_id="research_crawl_jobs_list", summary="Crawl jobs, newest first", parameters=[s.CrawlJobFilters],
                   responses={200: page_of(s.CrawlJobRecord), 400: BAD_INPUT, 403: NO_SCOPE})
    def get(self, request):
        f = self.filters(request, s.CrawlJobFilters)
        return self.page(request, crawls.crawl_jobs(state=f.get("state"), kind=f.get("kind")), s.CrawlJobRecord, NewestFirst)

    @extend_schema(tags=TAG, operation_id="research_crawl_job_start", summary="Start a crawl job (crawl scope); Celery workers run it",
                   request=s.StartCrawlJob, responses={201: s.CrawlJobRecord, 400: BAD_INPUT, 403: NO_SCOPE})
    def post(self, request):
        body = self.body(request, s.StartCrawlJob)
        try:
            with transaction.atomic():
                job = create_crawl_job(body["kind"], body["params"], created_by=f"research API ({request.user.get_username()})")
                enqueue_crawl_job(job)
        except SourceError as error:
            field = error.field if error.field == "kind" else f"params.{error.field}"
            raise RequestInvalid(field, error.reason) from None
        job.refresh_from_db()
        return Response(s.CrawlJobRecord(job).data, status=status.HTTP_201_CREATED,
                        headers={"Location": f"{request.path}{job.pk}/"})


class CrawlJobDetail(ResearchAPIView):
    @extend_schema(tags=TAG, operation_id="research_crawl_job_retrieve", summary="One crawl job: state and counts",
                   responses={200: s.CrawlJobRecord, 403: NO_SCOPE, 404: NOT_FOUND})
    def get(self, request, pk: int):
        return Response(s.CrawlJobRecord(_one(crawls.crawl_jobs(), pk)).data)
