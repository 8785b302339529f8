from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        # The annotator asks campaigns what a participant may get (kinds, splits, the session's quota), and
        # campaigns follows qualification and quality's blocks to keep the marketplace's participant groups in step.
        from annotator.services.scopes import register_scope_provider
        from campaigns import receivers  # noqa: F401
        from campaigns.services.sessions import scope_for_worker

        register_scope_provider(scope_for_worker)
