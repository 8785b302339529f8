"""The review surface: images, workers and answers with their quality, and the dashboard.

The classes here extend the plain admin pages of Image, Worker and
EmotionAnnotation (keeping their fields and inlines) and take their place
when this module is imported: Django's admin imports each app's ``admin``
in ``INSTALLED_APPS`` order, and ``quality`` comes after the apps it extends.
"""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.db.models import Min
from django.urls import path, reverse
from django.utils.html import format_html

from annotator import admin as base
from annotator.models import AnnotationStatus, EmotionAnnotation, Worker
from catalog.admin import ImageAdmin
from catalog.models import Image
from quality import selectors, views
from quality.figures import display
from quality.models import PersonAgreement, QualityReport, WorkerTrustEvent
from quality.services import review_annotations
from quality.trust import block_worker, unblock_worker
from emotic.taxonomy import mask_to_categories


class YesFilter(admin.SimpleListFilter):
    """A filter with one choice, "yes", narrowing the list by ``narrow(request, queryset)``."""

    def lookups(self, request, model_admin):
        return [("yes", "Yes")]

    def queryset(self, request, queryset):
        return self.narrow(queryset) if self.value() == "yes" else queryset


class LowAgreementImageFilter(YesFilter):
    title = "low agreement"
    parameter_name = "low_agreement"

    def narrow(self, queryset):
        return selectors.images_with_low_agreement(queryset)


class FlaggedWorkerImageFilter(YesFilter):
    title = "answers by flagged workers"
    parameter_name = "flagged_workers"

    def narrow(self, queryset):
        return selectors.images_with_flagged_workers(queryset)


class ReportedImageFilter(YesFilter):
    title = "reported by workers"
    parameter_name = "reported"

    def narrow(self, queryset):
        return selectors.reported_images(queryset)


class FlaggedWorkerFilter(YesFilter):
    title = "flagged"
    parameter_name = "flagged"

    def narrow(self, queryset):
        return queryset.filter(pk__in=selectors.flagged_workers().values("pk"))


class LowAgreementAnswerFilter(YesFilter):
    title = "person with low agreement"
    parameter_name = "low_agreement"

    def narrow(self, queryset):
        return queryset.filter(person__in=selectors.low_agreement_people())


class FlaggedWorkerAnswerFilter(YesFilter):
    title = "by a flagged worker"
    parameter_name = "flagged_worker"

    def narrow(self, queryset):
        return queryset.filter(worker__in=selectors.flagged_workers())


def _url(model_admin, name: str, view, pattern: str):
    return path(pattern, model_admin.admin_site.admin_view(partial(view, model_admin=model_admin)), name=name)


class ImageReviewAdmin(ImageAdmin):
    list_display = (*ImageAdmin.list_display, "reported_count", "lowest_kappa", "review_link")
    list_filter = (*ImageAdmin.list_filter, LowAgreementImageFilter, FlaggedWorkerImageFilter, ReportedImageFilter)
    inlines = [base.PersonInline]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "review_link"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(lowest_person_kappa=Min("people__agreement__fleiss_kappa"))

    def get_urls(self):
        return [
            _url(self, "quality_image_control_person", views.control_item_page,
                 "<path:object_id>/review/person/<int:person_id>/control/"),
            _url(self, "quality_image_control_boxes", views.control_item_page, "<path:object_id>/review/boxes/control/"),
            _url(self, "quality_image_review", views.image_review_page, "<path:object_id>/review/"),
            _url(self, "quality_image_picture", views.image_picture, "<path:object_id>/picture/"),
            *super().get_urls(),
        ]

    @admin.display(description="lowest person kappa", ordering="lowest_person_kappa")
    def lowest_kappa(self, obj):
        return display(getattr(obj, "lowest_person_kappa", None))

    @admin.display(description="review")
    def review_link(self, obj):
        if not obj.pk:
            return "-"
        return format_html('<a href="{}">review answers</a>', reverse("admin:quality_image_review", args=[obj.pk]))


class WorkerTrustEventInline(admin.TabularInline):
    model = WorkerTrustEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "automatic", "reason", "gold_accuracy", "annotations_changed", "by")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


TRUST_FIELDS = (
    "is_blocked", "blocked_reason", "blocked_at", "blocked_automatically", "gold_accuracy", "gold_answered",
    "consensus_agreement", "median_seconds_per_task", "skip_rate", "tasks_submitted",
)


class WorkerQualityAdmin(base.WorkerAdmin):
    list_display = (
        "user", "qualification", "is_blocked", "blocked_automatically", "gold_accuracy_shown", "gold_answered",
        "consensus_shown", "median_seconds_shown", "skip_rate_shown", "tasks_submitted",
    )
    list_filter = (*base.WorkerAdmin.list_filter, "blocked_automatically", FlaggedWorkerFilter)
    # Trust changes go through block/unblock, which also exclude or restore the work.
    readonly_fields = tuple(dict.fromkeys((*base.WorkerAdmin.readonly_fields, *TRUST_FIELDS)))
    actions = ("block_selected", "unblock_selected")
    change_form_template = "admin/quality/worker_change_form.html"
    inlines = [*base.WorkerAdmin.inlines, WorkerTrustEventInline]

    def get_urls(self):
        return [
            _url(self, "quality_worker_trust", views.worker_trust, "<path:object_id>/trust/"),
            _url(self, "quality_worker_gold_plot", views.worker_gold_plot, "<path:object_id>/gold.png"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        number = views.object_id_number(object_id)
        worker = Worker.objects.filter(pk=number).first() if number is not None else None
        if worker is not None:
            extra_context = {**(extra_context or {}), **views.worker_context(request, worker)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="gold accuracy", ordering="gold_accuracy")
    def gold_accuracy_shown(self, obj):
        return display(obj.gold_accuracy, 0, percent=True)

    @admin.display(description="consensus", ordering="consensus_agreement")
    def consensus_shown(self, obj):
        return display(obj.consensus_agreement)

    @admin.display(description="median s/task", ordering="median_seconds_per_task")
    def median_seconds_shown(self, obj):
        return display(obj.median_seconds_per_task, 1)

    @admin.display(description="skipped", ordering="skip_rate")
    def skip_rate_shown(self, obj):
        return display(obj.skip_rate, 0, percent=True)

    @admin.action(description="Block selected workers and exclude their work", permissions=["change"])
    def block_selected(self, request, queryset):
        reason = f"blocked by {request.user.get_username()} from the worker list"
        blocked = sum(block_worker(w, reason=reason, by=request.user) is not None for w in queryset)
        self.message_user(request, f"Blocked {blocked} worker(s); their answers are excluded from figures and exports.")

    @admin.action(description="Unblock selected workers and restore their work", permissions=["change"])
    def unblock_selected(self, request, queryset):
        restored = sum(unblock_worker(w, by=request.user) is not None for w in queryset)
        self.message_user(request, f"Unblocked {restored} worker(s); their answers count again.")


class EmotionAnnotationReviewAdmin(base.EmotionAnnotationAdmin):
    list_display = (*base.EmotionAnnotationAdmin.list_display, "categories_shown", "person_kappa", "image_review")
    list_filter = (
        *base.EmotionAnnotationAdmin.list_filter, ("person__image__split", admin.AllValuesFieldListFilter),
        LowAgreementAnswerFilter, FlaggedWorkerAnswerFilter,
    )
    list_select_related = ("person__image", "person__agreement", "worker__user")
    actions = ("accept_selected", "reject_selected", "reopen_selected")

    @admin.display(description="categories")
    def categories_shown(self, obj):
        return ", ".join(mask_to_categories(obj.categories_mask))

    @admin.display(description="person kappa", ordering="person__agreement__fleiss_kappa")
    def person_kappa(self, obj):
        agreement = getattr(obj.person, "agreement", None)
        return display(agreement.fleiss_kappa if agreement else None)

    @admin.display(description="image")
    def image_review(self, obj):
        return format_html(
            '<a href="{}">review image</a>', reverse("admin:quality_image_review", args=[obj.person.image_id])
        )

    def _review(self, request, queryset, status):
        changed = review_annotations(queryset.values_list("pk", flat=True), status, by=request.user)
        self.message_user(request, f"{changed} answer(s) set to {status.label.lower()}.", messages.SUCCESS)

    @admin.action(description="Accept selected answers", permissions=["change"])
    def accept_selected(self, request, queryset):
        self._review(request, queryset, AnnotationStatus.ACCEPTED)

    @admin.action(description="Reject selected answers (left out of figures and exports)", permissions=["change"])
    def reject_selected(self, request, queryset):
        self._review(request, queryset, AnnotationStatus.REJECTED)

    @admin.action(description="Put selected answers back to submitted", permissions=["change"])
    def reopen_selected(self, request, queryset):
        self._review(request, queryset, AnnotationStatus.SUBMITTED)


class PersonAgreementAdmin(admin.ModelAdmin):
    """Stored per-person figures, lowest agreement first: a queue for review."""

    list_display = ("person", "image_review", "split", "annotators", "kappa", "valence", "arousal", "dominance", "computed_at")
    list_filter = ("person__image__split", "annotators")
    list_select_related = ("person__image",)
    ordering = ("fleiss_kappa", "person_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="split", ordering="person__image__split")
    def split(self, obj):
        return obj.person.image.split or "unassigned"

    @admin.display(description="kappa", ordering="fleiss_kappa")
    def kappa(self, obj):
        return display(obj.fleiss_kappa)

    @admin.display(description="valence std", ordering="valence_std")
    def valence(self, obj):
        return display(obj.valence_std)

    @admin.display(description="arousal std", ordering="arousal_std")
    def arousal(self, obj):
        return display(obj.arousal_std)

    @admin.display(description="dominance std", ordering="dominance_std")
    def dominance(self, obj):
        return display(obj.dominance_std)

    @admin.display(description="image")
    def image_review(self, obj):
        return format_html('<a href="{}">review</a>', reverse("admin:quality_image_review", args=[obj.person.image_id]))


class QualityDashboardAdmin(admin.ModelAdmin):
    """The quality dashboard is this model's list page: the latest report, its plots and CSV files."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            _url(self, "quality_qualityreport_plot", views.dashboard_plot, "plot/<slug:name>.png"),
            _url(self, "quality_qualityreport_csv", views.dashboard_csv, "csv/<slug:name>.csv"),
            _url(self, "quality_qualityreport_recompute", views.dashboard_recompute, "recompute/"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return views.dashboard_page(request, model_admin=self)


def register_review_admins(site: admin.AdminSite = admin.site) -> None:
    """Replace the plain Image, Worker and EmotionAnnotation pages; add the quality pages."""
    for model, model_admin in (
        (Image, ImageReviewAdmin),
        (Worker, WorkerQualityAdmin),
        (EmotionAnnotation, EmotionAnnotationReviewAdmin),
        (PersonAgreement, PersonAgreementAdmin),
        (QualityReport, QualityDashboardAdmin),
    ):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)



register_review_admins()
