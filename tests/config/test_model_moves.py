"""Moving a model's content type to its new app keeps every permission and log entry that points at it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from config.model_moves import MoveContentTypes

pytestmark = pytest.mark.django_db


def test_a_type_already_made_under_the_new_label_absorbs_the_old_one():
    old = ContentType.objects.create(app_label="oldapp", model="thing")
    new = ContentType.objects.create(app_label="newapp", model="thing")  # made by post_migrate in between
    change_old = Permission.objects.create(content_type=old, codename="change_thing", name="Can change thing")
    change_new = Permission.objects.create(content_type=new, codename="change_thing", name="Can change thing")
    only_old = Permission.objects.create(content_type=old, codename="audit_thing", name="Can audit thing")
    curator, both = User.objects.create(username="curator"), User.objects.create(username="both")
    curator.user_permissions.add(change_old, only_old)
    both.user_permissions.add(change_old, change_new)
    editors = Group.objects.create(name="editors")
    editors.permissions.add(change_old)
    entry = LogEntry.objects.create(user=curator, content_type=old, object_id="1", object_repr="thing 1", action_flag=2)

    with connection.schema_editor() as editor:
        MoveContentTypes("oldapp", "newapp", ["Thing"]).code(apps, editor)

    ContentType.objects.clear_cache()
    assert not ContentType.objects.filter(app_label="oldapp").exists()
    assert set(Permission.objects.filter(content_type=new).values_list("codename", flat=True)) == {"change_thing", "audit_thing"}
    for user in (User.objects.get(pk=curator.pk), User.objects.get(pk=both.pk)):
        assert user.has_perm("newapp.change_thing")
    assert User.objects.get(pk=curator.pk).has_perm("newapp.audit_thing")
    assert list(Group.objects.get(pk=editors.pk).permissions.all()) == [change_new]
    entry.refresh_from_db()
    assert entry.content_type_id == new.pk


def test_a_type_is_relabelled_and_back():
    thing = ContentType.objects.create(app_label="oldapp", model="thing")
    operation = MoveContentTypes("oldapp", "newapp", ["Thing"])
    with connection.schema_editor() as editor:
        operation.code(apps, editor)
        assert ContentType.objects.get(pk=thing.pk).app_label == "newapp"
        operation.reverse_code(apps, editor)
    assert ContentType.objects.get(pk=thing.pk).app_label == "oldapp"
