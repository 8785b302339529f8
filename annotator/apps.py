from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Annotation"

    def ready(self):
        # Quality: recompute after each answer (signal receivers) and register its Celery tasks.
        from annotator.quality import receivers, tasks  # noqa: F401
