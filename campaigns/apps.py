from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self):
        # The annotator asks campaigns what a participant may get (kinds, splits, the session's quota), and
        # campaigns follows qualification and quality's blocks to keep the marketplace's participant groups in step.
        from annotator.services.scopes import register_scope_provider
        from campaigns import receivers  # noqa: F401
        from campaigns.selectors import release_notes_for_images
        from campaigns.services.sessions import scope_for_worker
        from emotic_export.release_notes import register_release_notes

        register_scope_provider(scope_for_worker)
        # A snapshot's manifest says which crowd made its answers, on which platform, paid what.
        register_release_notes("campaigns", release_notes_for_images)
