"""Start a training run on a snapshot, watch it live, cancel it, see its report."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from emotic_export.models import DatasetSnapshot
from training.core.hyperparameters import Hyperparameters
from training.models import TrainingRun
from training.services import TrainingRunError, request_cancel, start_training_run, validated_hyperparameters

FORM_DEFAULTS = {k: v for k, v in Hyperparameters().to_dict().items() if k not in ("mode", "body_weights", "context_weights")}


class NewTrainingRunForm(forms.ModelForm):
    snapshot = forms.ModelChoiceField(queryset=DatasetSnapshot.objects.filter(state="complete"))
    hyperparameters = forms.JSONField(
        initial=FORM_DEFAULTS, help_text="Any field of training.core.hyperparameters.Hyperparameters; missing ones take defaults."
    )

    class Meta:
        model = TrainingRun
        fields = ("snapshot", "mode", "hyperparameters")

    def clean(self):
        data = super().clean()
        if "hyperparameters" in data and "mode" in data:
            try:
                validated_hyperparameters(data["mode"], data["hyperparameters"] or {})
            except TrainingRunError as error:
                self.add_error("hyperparameters", str(error))
        return data


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "snapshot", "mode", "state", "epoch", "step", "last_loss", "best_val_map", "created_at")
    list_filter = ("state", "mode")
    actions = ("cancel_runs",)
    change_form_template = "admin/training/trainingrun/change_form.html"
    progress_poll_ms = 2000  # how often the live line asks for the run's status

    class Media:
        js = ("training/run_progress.js",)
    readonly_fields = (
        "snapshot", "mode", "state", "live_progress", "epoch", "step", "last_loss", "best_val_map",
        "history_table", "test_metrics", "report_plots", "checkpoint_key", "hyperparameters_pretty",
        "cancel_requested", "error", "created_by", "created_at", "started_at", "finished_at",
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = NewTrainingRunForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ("snapshot", "mode", "hyperparameters") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            run = start_training_run(snapshot=form.cleaned_data["snapshot"], mode=form.cleaned_data["mode"],
                                     hyperparameters=form.cleaned_data["hyperparameters"], created_by=request.user)
        except TrainingRunError as error:
            messages.error(request, str(error))
            return
        obj.pk = run.pk
        obj.refresh_from_db()

    def get_urls(self):
        cancel = self.admin_site.admin_view(require_POST(self.cancel_view))
        return [path("<path:object_id>/cancel/", cancel, name="training_trainingrun_cancel"), *super().get_urls()]

    def cancel_view(self, request, object_id):
        """The run page's cancel button; the admin's CSRF check guards it."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if not (str(object_id).isascii() and str(object_id).isdigit()):  # '²'.isdigit() is true too
            raise Http404("No such training run.")
        run = get_object_or_404(TrainingRun, pk=object_id)
        if not request_cancel(run):
            self.message_user(request, f"Run {run.pk} has already {run.get_state_display().lower()}; nothing to cancel.",
                              messages.WARNING)
        else:
            run.refresh_from_db()
            done = "cancelled" if run.state == TrainingRun.State.CANCELLED else "asked to stop; it stops at its next step"
            self.message_user(request, f"Run {run.pk} {done}.")
        return HttpResponseRedirect(reverse("admin:training_trainingrun_change", args=[run.pk]))

    @admin.action(description="Cancel the selected runs")
    def cancel_runs(self, request, queryset):
        cancelled = sum(request_cancel(run) for run in queryset)
        self.message_user(request, f"Asked {cancelled} run(s) to stop.")

    @admin.display(description="progress")
    def live_progress(self, obj):
        """Kept up to date by training/run_progress.js while the run is queued or running."""
        if obj.state not in ("queued", "running"):
            return f"{obj.get_state_display()} after {obj.epoch} epoch(s), {obj.step} step(s)"
        return format_html(
            '<span id="run-progress" data-status-url="{}" data-poll-ms="{}">{} (epoch {}, step {})</span>',
            reverse("training:status", args=[obj.pk]), self.progress_poll_ms, obj.get_state_display(), obj.epoch,
            obj.step,
        )

    @admin.display(description="history")
    def history_table(self, obj):
        if not obj.history:
            return "-"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((h["epoch"], *(_number(h.get(k)) for k in ("train_loss", "val_loss", "val_map"))) for h in obj.history),
        )
        return format_html("<table><tr><th>epoch</th><th>train loss</th><th>val loss</th><th>val mAP</th></tr>{}</table>", rows)

    @admin.display(description="test metrics")
    def test_metrics(self, obj):
        if not obj.metrics:
            return "-"
        summary = {k: v for k, v in obj.metrics.items() if not isinstance(v, (dict, list))}
        return format_html("<pre>{}</pre>", json.dumps(summary, indent=2))

    @admin.display(description="report")
    def report_plots(self, obj):
        if not obj.report_key:
            return "-"
        return format_html_join(
            "", '<img src="{}" alt="{}" style="max-width:560px;margin:4px">',
            ((reverse("training:report", args=[obj.pk, name]), name)
             for name in ("loss_curves.png", "average_precision.png", "precision_recall.png")),
        )

    @admin.display(description="hyperparameters")
    def hyperparameters_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.hyperparameters, indent=2))
