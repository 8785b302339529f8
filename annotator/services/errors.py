"""Errors the annotation services raise. Each names the field at fault and why.

The API's exception handler (``config.api_errors``) turns them into 4xx answers
with their ``status_code``, ``code``, field and reason; pages show the reason.
Nothing is written when one is raised.
"""

from __future__ import annotations

from emotic.errors import FieldError


class AnnotationError(FieldError):
    """Base: ``field`` is the input (or ``task``/``worker``) at fault, ``reason`` says why."""

    status_code = 400
    code = "invalid"


class AnswerInvalid(AnnotationError):
    """The submitted answer breaks a rule of the protocol."""


class BodyInvalid(AnnotationError):
    """The request's body cannot be read as an answer: a number JSON does not allow, or nesting too deep."""


class TaskNotFound(AnnotationError):
    """No such task among this worker's tasks (another worker's task reads the same)."""

    status_code = 404
    code = "not_found"

    def __init__(self, task_id: object):
        super().__init__("task", f"no task {task_id} is assigned to you")


class TaskNotOpen(AnnotationError):
    """The task was already submitted, skipped, reported, or it expired."""

    status_code = 409
    code = "task_closed"


class SubmissionConflict(AnnotationError):
    """A submission id already used for a different task or worker."""

    status_code = 409
    code = "submission_conflict"


class NameRefused(AnnotationError):
    """A name a person may not take at sign-up: reserved, or a look-alike of another (``services.accounts``)."""

    def __init__(self, reason: str):
        super().__init__("username", reason)


class WorkerNotEligible(AnnotationError):
    """The worker may get no tasks now; ``code`` tells the page which explanation to show."""

    status_code = 403

    def __init__(self, code: str, reason: str):
        self.code = code
        super().__init__("worker", reason)


class ImageFileMissing(AnnotationError):
    """The task's image file is gone from storage (deleted or lost); the worker can skip or report it."""

    status_code = 404
    code = "image_missing"

    def __init__(self, task_id: object):
        super().__init__("image", f"the image file of task {task_id} is missing from storage; skip or report this task")


class StaffNotWorker(AnnotationError):
    """A staff account runs the platform from the admin: it is never made a worker, nor given tasks."""

    status_code = 403
    code = "staff_account"

    def __init__(self):
        super().__init__("worker", "staff accounts run the platform from the admin and are never workers")
