"""A worker's account deleted at their request, their answers kept anonymised (GDPR-style erasure).

What is erased (``docs/accounts.md`` says why each part is kept or not):

- the user's name becomes ``erased-<random>`` (``ERASED_PREFIX`` is reserved:
  no one can sign up with it), e-mail, first and last name are emptied, the
  password made unusable, the last log-in forgotten, groups and permissions
  taken away, and the account made inactive;
- every API token of the worker is revoked (deleted);
- every session of the account ends: an unusable password changes the hash
  each session is checked against, and an inactive user is never loaded;
- the worker's live tasks are released to others at once.

What is kept: the worker row (same id) with every answer, control result and
trust figure attached to it. Agreement figures, combined labels and
snapshots name workers only by that id (``w<id>``), so none of them change,
and a later export gives the same labels. The anonymised row tells no one
who the person was.

Staff accounts are not erased here (an admin deletes or deactivates them in
the admin); the importer's original workers are not people and cannot log in.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from annotator.models import ApiToken, Worker
from annotator.services.accounts import ERASED_PREFIX
from annotator.services.assignment import release_live_tasks
from annotator.services.errors import AnnotationError


class ErasureRefused(AnnotationError):
    """The account cannot be deleted this way; ``field`` says which input or fact stops it."""


def is_erased(worker: Worker) -> bool:
    return worker.user.get_username().startswith(ERASED_PREFIX) and not worker.user.is_active


def erase_worker_account(user: AbstractBaseUser, password: str) -> Worker:
    """Delete the personal data of ``user``'s account (after checking ``password``); returns the anonymous worker.

    Nothing is changed when the password is wrong or the account is staff.
    """
    if user.is_staff:
        raise ErasureRefused("account", "staff accounts are removed by an administrator in the admin")
    if not password or not user.check_password(password):
        raise ErasureRefused("password", "is not this account's password")
    worker = Worker.objects.filter(user=user).first()
    with transaction.atomic():
        if worker is not None:
            release_live_tasks(worker)
            ApiToken.objects.filter(worker=worker).delete()
        user.username = f"{ERASED_PREFIX}{secrets.token_hex(8)}"
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.last_login = None
        user.is_active = False
        user.set_unusable_password()  # every session's stored hash no longer matches: they all end
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
    return worker
