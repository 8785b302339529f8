from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo: sample photos, accounts and a one-command server. Like ``config``, it may import every app."""

    name = "demo"
    verbose_name = "Demo"
