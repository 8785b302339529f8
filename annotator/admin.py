from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.db.models import Count, Max, Q

from annotator import selectors
from annotator.models import (
    ApiToken, BoxAnnotation, EmotionAnnotation, GoldItem, Person, ProtocolVersion, TaskAssignment, Worker,
)
from annotator.forms import GoldItemForm, InstructionExamplesForm, ProtocolForm
from annotator.protocol import VALUE_FIELDS, protocol_in_force
from annotator.services.errors import AnnotationError
from annotator.services.gold import save_gold_item, set_retired
from annotator.services.protocol import change_protocol, set_instruction_examples
from annotator.services.workers import revoke_api_tokens
from annotator.views import rendition_response


class PersonInline(admin.TabularInline):
    """The people of an image, shown on its page (quality's review admin of the catalog's images adds it).

    People are made by intake and box settlement, and their status changes
    with the drawer's trust: shown here, never edited.
    """

    model = Person
    extra = 0
    fields = ("x1", "y1", "x2", "y2", "box_origin", "box_status")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    """People change only through intake, box settlement and trust: shown, never edited or added here."""

    list_display = ("id", "image", "x1", "y1", "x2", "y2", "box_origin", "box_status")
    list_filter = ("box_origin", "box_status", "image__split")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ("user", "qualification", "is_blocked", "gold_accuracy", "consensus_agreement", "tasks_submitted")
    list_filter = ("qualification", "is_blocked", "kind")
    readonly_fields = ("kind", "original_number")
    search_fields = ("user__username",)


@admin.register(TaskAssignment)
class TaskAssignmentAdmin(admin.ModelAdmin):
    """Tasks are handed out, closed and expired by the assignment service, which keeps the pool's counters:
    shown here, never added, edited or deleted (a deleted live task would leave its slot taken for ever)."""

    list_display = ("id", "worker", "kind", "person", "image", "state", "assigned_at", "expires_at")
    list_filter = ("kind", "state", "is_qualification")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CrowdAnswerAdmin(admin.ModelAdmin):
    """A worker's answer is a record: shown, never edited, added or deleted here.

    Its review status changes through the review actions and its exclusion
    through blocking the worker, services that also refresh the figures and
    the pool; an edit made here would do neither.
    """

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(EmotionAnnotation)
class EmotionAnnotationAdmin(CrowdAnswerAdmin):
    list_display = ("id", "person", "worker", "valence", "arousal", "dominance", "gender", "age", "status", "excluded")
    list_filter = ("status", "excluded", "is_gold", "gender", "age")


@admin.register(BoxAnnotation)
class BoxAnnotationAdmin(CrowdAnswerAdmin):
    list_display = ("id", "image", "worker", "no_people", "status", "excluded")
    list_filter = ("status", "excluded", "no_people")


@admin.register(GoldItem)
class GoldItemAdmin(admin.ModelAdmin):
    """Gold items with their exposure (times shown, workers who met them, pass rate, last shown), over the pools' figures.

    An over-exposed item (shown so often that workers may share it) is
    retired: drawn no more, its answers kept. Items are made from an image's
    review page ("make control item", prefilled from the accepted answers)
    and edited here, both with the typed form (``forms.GoldItemForm``): ticks,
    sliders and choices, never masks or JSON.
    """

    form = GoldItemForm
    list_display = (
        "id", "kind", "person", "image", "for_qualification", "for_control", "retired",
        "times_shown", "workers_met", "pass_rate", "last_shown",
    )
    list_filter = ("kind", "for_qualification", "for_control", "retired", "show_explanation")
    actions = ("retire_selected", "unretire_selected")
    change_list_template = "admin/annotator/golditem/change_list.html"

    def has_add_permission(self, request):
        return False  # made from an image's review page, where the answers to start from are

    def get_fieldsets(self, request, obj=None):
        target = [(None, {"fields": ("kind", "person", "image", "for_control", "for_qualification", "retired")})]
        if obj is not None and obj.kind == "boxes":
            answers = [("Acceptable answers", {"fields": ("expected_people", "other_boxes", "min_iou")})]
        else:
            answers = [("Acceptable answers", {"fields": (
                "required_categories", "allowed_categories",
                ("valence_min", "valence_max"), ("arousal_min", "arousal_max"), ("dominance_min", "dominance_max"),
                "allowed_genders_choice", "allowed_ages_choice",
            )})]
        return [*target, *answers, ("Explanation", {"fields": ("explanation", "show_explanation")})]

    def save_model(self, request, obj, form, change):
        save_gold_item(obj)

    def get_queryset(self, request):
        answered = Q(assignments__gold_passed__isnull=False)
        return super().get_queryset(request).annotate(
            shown=Count("assignments"),
            answered=Count("assignments", filter=answered),
            passed=Count("assignments", filter=Q(assignments__gold_passed=True)),
            last_shown_at=Max("assignments__assigned_at"),
            met_by=Count("assignments__worker", distinct=True),
        )

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "pool": selectors.control_pool()})

    @admin.display(description="times shown", ordering="shown")
    def times_shown(self, obj):
        return obj.shown

    @admin.display(description="workers who met it", ordering="met_by")
    def workers_met(self, obj):
        return obj.met_by

    @admin.display(description="pass rate")
    def pass_rate(self, obj):
        return f"{obj.passed / obj.answered:.0%} of {obj.answered}" if obj.answered else "-"

    @admin.display(description="last shown", ordering="last_shown_at")
    def last_shown(self, obj):
        return obj.last_shown_at

    @admin.action(description="Retire selected items (drawn no more; their answers stay)", permissions=["change"])
    def retire_selected(self, request, queryset):
        changed = set_retired(queryset.values_list("pk", flat=True), retired=True)
        self.message_user(request, f"{changed} item(s) retired: no worker will be given them again.")

    @admin.action(description="Put selected items back into the draws", permissions=["change"])
    def unretire_selected(self, request, queryset):
        changed = set_retired(queryset.values_list("pk", flat=True), retired=False)
        self.message_user(request, f"{changed} item(s) back in the draws.")


class TokenExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        from annotator.services.workers import live_tokens

        if self.value() == "live":
            return live_tokens(queryset)
        if self.value() == "expired":
            return queryset.exclude(pk__in=live_tokens(queryset).values("pk"))
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Every worker's API tokens, to see and revoke; never their keys (only a SHA-256 is stored, and it is not shown)."""

    list_display = ("worker", "name", "key_prefix", "created_at", "last_used_at", "expires", "state")
    list_filter = (TokenExpiryFilter,)
    list_select_related = ("worker__user",)
    search_fields = ("worker__user__username", "name", "key_prefix")
    fields = ("worker", "name", "key_prefix", "created_at", "last_used_at", "expires", "state")
    readonly_fields = fields
    actions = ("revoke_selected",)

    def has_add_permission(self, request):
        return False  # a worker makes tokens on their own page; the key is shown to them alone

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # revoking is the one way: it says what it does
        return actions

    @admin.display(description="expires")
    def expires(self, obj):
        return obj.expires_at

    @admin.display(description="state")
    def state(self, obj):
        return "expired" if obj.expired else "live"

    @admin.action(description="Revoke selected tokens (programs using them get 401 at once)", permissions=["delete"])
    def revoke_selected(self, request, queryset):
        revoked = revoke_api_tokens(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(admin.ModelAdmin):
    """The annotation protocol's versions: the newest is in force; each shows who changed what, when, and from what.

    Versions are records: never edited or deleted. "Change the protocol"
    (the add page) makes a new version through ``services.protocol``, which
    refuses a change that would strand work in progress (with the figures)
    unless it is applied to new work only. The instructions' examples are
    picked on their own page, from accepted answers.
    """

    list_display = ("number", "created_at", "created_by", "applied_to", "what_changed", "note")
    list_display_links = ("number",)
    change_list_template = "admin/annotator/protocolversion/change_list.html"
    change_form_template = "admin/annotator/protocolversion/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        from django.urls import path

        wrap = self.admin_site.admin_view
        return [
            path("examples/", wrap(self.examples_view), name="annotator_protocolversion_examples"),
            path("answer/<int:annotation_id>/picture/", wrap(self.answer_picture_view),
                 name="annotator_protocolversion_answer_picture"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "in_force": protocol_in_force()})

    @admin.display(description="what changed")
    def what_changed(self, obj):
        if not obj.changes:
            return "first version" if obj.number == 1 else "-"
        return "; ".join(f"{field}: {old} → {new}" if field != "instructions" else "instructions text"
                         for field, (old, new) in obj.changes.items())

    def add_view(self, request, form_url="", extra_context=None):
        """Change the protocol: the values in force, edited; saving makes a new version."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        in_force = protocol_in_force()
        initial = {field: getattr(in_force, field) for field in VALUE_FIELDS}
        form = ProtocolForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                version = change_protocol(
                    request.user, form.values(), applied_to=form.cleaned_data["applied_to"],
                    note=form.cleaned_data["note"],
                )
            except AnnotationError as error:
                form.add_error(error.field if error.field in form.fields else None, error.reason)
            else:
                self.message_user(request, f"{version} is in force.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:annotator_protocolversion_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Change the annotation protocol",
            "form": form,
            "in_force": in_force,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/annotator/protocolversion/change_protocol.html", context)

    def examples_view(self, request):
        """Pick the instructions' examples per category from accepted answers; saving makes a new version."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        candidates = selectors.example_candidates()
        chosen: dict[str, list[int]] = {}
        for category, examples in selectors.instruction_examples().items():
            chosen[category] = [e.annotation_id for e in examples]
        form = InstructionExamplesForm(candidates, chosen, request.POST or None)
        if request.method == "POST":
            if not self.has_add_permission(request):
                raise PermissionDenied
            if form.is_valid():
                try:
                    version = set_instruction_examples(request.user, form.examples(), note="Instruction examples")
                except AnnotationError as error:
                    form.add_error(None, f"{error.field}: {error.reason}")
                else:
                    self.message_user(request, f"{version} is in force, with the examples ticked.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:annotator_protocolversion_examples"))
        rows = [
            {"category": category, "field": form[category], "answers": [
                {"answer": answer, "checked": str(answer.pk) in (form[category].value() or [])} for answer in answers
            ]}
            for category, answers in candidates.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Examples on the workers' instructions page",
            "form": form,
            "rows": rows,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/annotator/protocolversion/examples.html", context)

    def answer_picture_view(self, request, annotation_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        annotation = get_object_or_404(EmotionAnnotation.objects.select_related("person__image"), pk=annotation_id)
        return rendition_response(annotation.person.image)
