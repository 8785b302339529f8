from django.contrib import admin

from training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "snapshot", "mode", "state", "epoch", "last_loss", "best_val_map", "created_at")
    list_filter = ("state", "mode")
    readonly_fields = ("epoch", "step", "last_loss", "best_val_map", "history", "metrics", "checkpoint_key")
