from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality control"

    def ready(self):
        # Recompute after each answer or skip: receivers of the annotator's signals.
        from quality import receivers  # noqa: F401
