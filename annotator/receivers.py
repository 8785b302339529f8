"""Receivers of the annotator: every user's name is recorded for the look-alike check at sign-up."""

from __future__ import annotations

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from annotator.services.accounts import record_name


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="annotator_record_account_name")
def user_saved(sender, instance, created: bool, raw: bool = False, update_fields=None, using=None, **kwargs) -> None:
    """Any way a user is made or renamed (sign-up, the admin, createsuperuser, the importer, a shell)."""
    if raw or (update_fields is not None and "username" not in update_fields):
        return  # a fixture being loaded, or a save that left the name alone (a log-in's last_login)
    record_name(instance, using=using)
