from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training"

    def ready(self):
        # A trained model's predictions on the quality review page, which knows nothing of models.
        from quality.review_panels import register_review_panel
        from training.predictions import PREDICTIONS_PANEL

        register_review_panel(PREDICTIONS_PANEL)
