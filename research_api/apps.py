from django.apps import AppConfig


class ResearchApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "research_api"
    verbose_name = "Researcher API"
