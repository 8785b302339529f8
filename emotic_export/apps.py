from django.apps import AppConfig


class EmoticExportConfig(AppConfig):
    name = "emotic_export"
    verbose_name = "Dataset snapshots"
