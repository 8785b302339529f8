"""Moving a model from one app to another without moving its data.

The table keeps its name (the model sets ``Meta.db_table``); the migrations
change only Django's state (``SeparateDatabaseAndState``), and this operation
moves the model's content type, so the admin's permissions and log entries
that point at it follow the model instead of going stale.
"""

from __future__ import annotations

from django.db import migrations


class MoveContentTypes(migrations.RunPython):
    """Relabel the content types of ``models`` from ``old_app`` to ``new_app`` (and back when reversed)."""

    def __init__(self, old_app: str, new_app: str, models: list[str]):
        self.old_app, self.new_app, self.models = old_app, new_app, [m.lower() for m in models]
        super().__init__(self._forward, self._backward, hints={"model_names": self.models})

    def deconstruct(self):
        return self.__class__.__qualname__, [self.old_app, self.new_app, self.models], {}

    def describe(self) -> str:
        return f"Move the content types of {', '.join(self.models)} from {self.old_app} to {self.new_app}"

    def _forward(self, apps, schema_editor):
        self._relabel(apps, schema_editor, self.old_app, self.new_app)

    def _backward(self, apps, schema_editor):
        self._relabel(apps, schema_editor, self.new_app, self.old_app)

    def _relabel(self, apps, schema_editor, source: str, target: str) -> None:
        content_type = apps.get_model("contenttypes", "ContentType")
        rows = content_type.objects.using(schema_editor.connection.alias)
        # A type already made under the new label (by a post_migrate run) keeps its place; the old one then stays behind.
        taken = set(rows.filter(app_label=target, model__in=self.models).values_list("model", flat=True))
        rows.filter(app_label=source, model__in=set(self.models) - taken).update(app_label=target)
