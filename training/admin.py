"""Start a training run on a snapshot, watch it live, cancel it, see its report."""

import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from emotic_export.models import DatasetSnapshot
from training.core.hyperparameters import DEVICES, OPTIMIZERS, Hyperparameters
from training.models import TrainingRun
from training.selectors import STREAM_SETTINGS, available_weights, metric_caveats, start_of_stream, streams_without_weights
from training.services import TrainingRunError, request_cancel, start_training_run, validated_hyperparameters

DEFAULTS = Hyperparameters()


def _weights_choices(stream: str) -> list[tuple[str, str]]:
    setting = STREAM_SETTINGS[stream]
    fallback = getattr(settings, setting, "")
    first = f"none chosen: the worker's {setting} ({fallback})" if fallback else "none: random initialisation (not recommended)"
    return [("", first), *((name, name) for name in available_weights())]


class NewTrainingRunForm(forms.ModelForm):
    """A run's settings as typed fields; the rest of ``Hyperparameters`` keeps its defaults."""

    snapshot = forms.ModelChoiceField(
        queryset=DatasetSnapshot.objects.filter(state="complete"),
        help_text="A complete snapshot exported with the baseline arrays (npy) or Annotations.mat and its images (mat).",
    )
    body_weights = forms.ChoiceField(
        required=False, label="Body stream weights",
        help_text="ImageNet ResNet-18 (e.g. resnet18-f37072fd.pth) from TRAINING_WEIGHTS_DIR; used by modes B and B+I.",
    )
    context_weights = forms.ChoiceField(
        required=False, label="Context stream weights",
        help_text="Places365 ResNet-18 (resnet18_places365.pth.tar) from TRAINING_WEIGHTS_DIR; used by modes I and B+I.",
    )
    epochs = forms.IntegerField(min_value=1, initial=DEFAULTS.epochs,
                                help_text=f"Passes over the training split (at most; early stopping after {DEFAULTS.patience} epochs without a better validation mAP).")
    batch_size = forms.IntegerField(min_value=2, initial=DEFAULTS.batch_size,
                                    help_text="People per optimiser step; at least 2 (BatchNorm). Lower it when the GPU runs out of memory.")
    learning_rate = forms.FloatField(initial=DEFAULTS.learning_rate, widget=forms.NumberInput(attrs={"step": "any"}),
                                     help_text=f"Step size of the optimiser ({DEFAULTS.optimizer}); the default suits pretrained streams.")
    optimizer = forms.ChoiceField(choices=[(name, name) for name in OPTIMIZERS], initial=DEFAULTS.optimizer,
                                  help_text="AdamW (the default) or SGD with momentum.")
    device = forms.ChoiceField(choices=[(name, name) for name in DEVICES], initial=DEFAULTS.device,
                               help_text="auto: a GPU when the worker has one; cuda waits for a GPU worker.")
    seed = forms.IntegerField(min_value=0, initial=DEFAULTS.seed, help_text="The same seed and settings train the same model.")
    num_workers = forms.IntegerField(min_value=0, initial=DEFAULTS.num_workers, label="Data-loading processes",
                                     help_text="Processes preparing batches beside the training; 0 prepares them in the training process.")

    TYPED = ("epochs", "batch_size", "learning_rate", "optimizer", "device", "seed", "num_workers", "body_weights", "context_weights")

    class Meta:
        model = TrainingRun
        fields = ("snapshot", "mode")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mode"].help_text = "B: the person's box only; I: the whole image; B+I: both streams, as in the papers."
        for stream in ("body", "context"):
            self.fields[f"{stream}_weights"].choices = _weights_choices(stream)

    def hyperparameters(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in self.TYPED if data.get(name) not in (None, "")}

    def clean(self):
        data = super().clean()
        if self.errors or "mode" not in data:
            return data
        try:
            validated_hyperparameters(data["mode"], self.hyperparameters())
        except TrainingRunError as error:
            self.add_error(error.field if error.field in self.fields else None, error.reason)
        return data


def no_weights_warning() -> str:
    """Said above the new-run form when no pretrained weights exist to choose or fall back on."""
    if available_weights() or any(getattr(settings, setting, "") for setting in STREAM_SETTINGS.values()):
        return ""
    return (
        f"No pretrained weights are set: TRAINING_WEIGHTS_DIR ({settings.TRAINING_WEIGHTS_DIR}) holds no weights file "
        "(*.pth, *.pt, *.pth.tar) and TRAINING_BODY_WEIGHTS and TRAINING_CONTEXT_WEIGHTS are empty. A run would start "
        "from random weights and reach a far lower mAP than the papers' (which start from ImageNet and Places365)."
    )


def random_start_warning(streams: list[str]) -> str:
    names = " and ".join(streams)
    return (f"no pretrained weights are set for the {names} stream{'s' if len(streams) > 1 else ''}: "
            "it starts from random weights, and its figures will be far below the papers'.")


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
    # The run's error is shown above everything (the page's template), not among these.
    readonly_fields = (
        "snapshot", "mode", "state", "live_progress", "pretrained_weights", "epoch", "step", "last_loss", "best_val_map",
        "test_metrics", "report_plots", "downloads", "history_table", "hyperparameters_pretty",
        "cancel_requested", "created_by", "created_at", "started_at", "finished_at",
    )
    add_fieldsets = (
        (None, {"fields": ("snapshot", "mode")}),
        ("Pretrained weights", {"fields": ("body_weights", "context_weights"),
                                "description": "Files found in TRAINING_WEIGHTS_DIR; the training worker reads them from its own."}),
        ("Training", {"fields": ("epochs", "batch_size", "learning_rate", "optimizer", "device", "seed", "num_workers")}),
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = NewTrainingRunForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else [(None, {"fields": self.readonly_fields})]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, {"weights_warning": no_weights_warning(), **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = TrainingRun.objects.filter(pk=object_id).first() if str(object_id).isascii() and str(object_id).isdigit() else None
        extra = {}
        if run is not None:
            missing = streams_without_weights(run.mode, run.hyperparameters)
            extra["weights_warning"] = random_start_warning(missing) if missing else ""
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            run = start_training_run(snapshot=form.cleaned_data["snapshot"], mode=form.cleaned_data["mode"],
                                     hyperparameters=form.hyperparameters(), created_by=request.user)
        except TrainingRunError as error:
            messages.error(request, str(error))
            return
        missing = streams_without_weights(run.mode, run.hyperparameters)
        if missing:
            messages.warning(request, f"Run {run.pk}: {random_start_warning(missing)}")
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

    @admin.display(description="pretrained weights")
    def pretrained_weights(self, obj):
        lines = []
        for stream in Hyperparameters(mode=obj.mode).streams:
            start = start_of_stream(obj.hyperparameters, stream)
            lines.append(format_html("<li>{}: {}</li>", stream, start) if start else format_html(
                '<li>{}: <b class="weights-missing" style="color: #b3261e">none: random initialisation</b></li>', stream))
        return format_html("<ul>{}</ul>", format_html_join("", "{}", ((line,) for line in lines)))

    @admin.display(description="final metrics")
    def test_metrics(self, obj):
        caveats = metric_caveats(obj.metrics)
        if caveats is None:
            return "-"
        parts = []
        if caveats.too_few_samples:
            parts.append(format_html(
                '<p class="metrics-warning" style="color: #b3261e"><b>Too few samples:</b> computed on {} sample(s), fewer than '
                "TRAINING_MIN_EVALUATION_SAMPLES ({}); these figures can swing widely with one person more or less, "
                "so do not compare runs by them.</p>", caveats.samples, caveats.min_samples))
        if obj.metrics.get("note"):
            parts.append(format_html('<p class="metrics-warning" style="color: #b3261e">{}</p>', obj.metrics["note"]))
        summary = {k: v for k, v in obj.metrics.items() if not isinstance(v, (dict, list)) and k != "note"}
        parts.append(format_html("<pre>{}</pre>", json.dumps(summary, indent=2)))
        rows = format_html_join(
            "", '<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (("weak" if f.too_few else "", f.name, _number(f.average_precision), f.positives,
              f"fewer than {caveats.min_positives} positives" if f.too_few else "") for f in caveats.categories),
        )
        weak = len(caveats.weak_categories)
        parts.append(format_html(
            "<p>{} of {} categories have fewer than {} positives (TRAINING_MIN_CATEGORY_POSITIVES): their AP says little.</p>"
            '<table id="category-ap"><tr><th>category</th><th>AP</th><th>positives</th><th></th></tr>{}</table>',
            weak, len(caveats.categories), caveats.min_positives, rows,
        ))
        return format_html_join("", "{}", ((part,) for part in parts))

    @admin.display(description="downloads")
    def downloads(self, obj):
        links = []
        if obj.checkpoint_key:
            links.append((reverse("training:checkpoint_download", args=[obj.pk]), "checkpoint (best.pt)"))
        if obj.report_key:
            links.append((reverse("training:report_download", args=[obj.pk]), "report (report.json)"))
        return format_html_join(" · ", '<a href="{}" download>{}</a>', links) or "-"

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
