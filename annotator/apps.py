from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Annotation"

    def ready(self):
        # Every user's look-alike skeletons, kept for the sign-up check.
        from annotator import receivers  # noqa: F401
