"""Moving a model from one app to another without moving its data.

The table keeps its name (the model sets ``Meta.db_table``); the migrations
change only Django's state (``SeparateDatabaseAndState``), and this operation
moves the model's content type, so the admin's permissions and log entries
that point at it follow the model instead of going stale.
"""

from __future__ import annotations

from django.db import migrations

# The migrations that must have run for the models this operation touches to exist.
DEPENDENCIES = [
    ("contenttypes", "0002_remove_content_type_name"),
    ("auth", "0012_alter_user_first_name_max_length"),
    ("admin", "0003_logentry_add_action_flag_choices"),
]


class MoveContentTypes(migrations.RunPython):
    """Relabel the content types of ``models`` from ``old_app`` to ``new_app`` (and back when reversed).

    When a type already exists under the new label (``post_migrate`` made it
    between two partial migrations), the old one is merged into it: its
    permissions (with the users and groups holding them) and admin log
    entries move over, and the old type is deleted. Nothing is left behind.
    """

    def __init__(self, old_app: str, new_app: str, models: list[str]):
        self.old_app, self.new_app, self.models = old_app, new_app, [m.lower() for m in models]
        super().__init__(self._forward, self._backward, hints={"model_names": self.models})

    def deconstruct(self):
        return self.__class__.__qualname__, [self.old_app, self.new_app, self.models], {}

    def describe(self) -> str:
        return f"Move the content types of {', '.join(self.models)} from {self.old_app} to {self.new_app}"

    def _forward(self, apps, schema_editor):
        self._relabel(apps, schema_editor.connection.alias, self.old_app, self.new_app)

    def _backward(self, apps, schema_editor):
        self._relabel(apps, schema_editor.connection.alias, self.new_app, self.old_app)

    def _relabel(self, apps, db: str, source: str, target: str) -> None:
        content_types = apps.get_model("contenttypes", "ContentType").objects.using(db)
        for model in self.models:
            old = content_types.filter(app_label=source, model=model).first()
            if old is None:
                continue
            new = content_types.filter(app_label=target, model=model).first()
            if new is None:
                content_types.filter(pk=old.pk).update(app_label=target)
            else:
                _merge(apps, db, old, new)


def _merge(apps, db: str, old, new) -> None:
    """Point everything at ``old`` to ``new``, then delete ``old``."""
    permission_model = apps.get_model("auth", "Permission")
    permissions = permission_model.objects.using(db)
    holders = [
        (apps.get_model("auth", "User")._meta.get_field("user_permissions").remote_field.through, "user_id"),
        (apps.get_model("auth", "Group")._meta.get_field("permissions").remote_field.through, "group_id"),
    ]
    for permission in permissions.filter(content_type_id=old.pk):
        twin = permissions.filter(content_type_id=new.pk, codename=permission.codename).first()
        if twin is None:
            permissions.filter(pk=permission.pk).update(content_type_id=new.pk)
            continue
        for through, holder in holders:
            links = through.objects.using(db)
            have_twin = links.filter(permission_id=twin.pk).values_list(holder, flat=True)
            links.filter(permission_id=permission.pk).exclude(**{f"{holder}__in": have_twin}).update(permission_id=twin.pk)
        permissions.filter(pk=permission.pk).delete()  # its remaining links held the twin already
    try:
        log_entries = apps.get_model("admin", "LogEntry").objects.using(db)
    except LookupError:  # the admin is not installed
        log_entries = None
    if log_entries is not None:
        log_entries.filter(content_type_id=old.pk).update(content_type_id=new.pk)
    apps.get_model("contenttypes", "ContentType").objects.using(db).filter(pk=old.pk).delete()
