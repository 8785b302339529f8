from django.contrib import admin, messages
from django.db.models import Count, Max, Q

from annotator import selectors
from annotator.models import ApiToken, BoxAnnotation, EmotionAnnotation, GoldItem, Person, TaskAssignment, Worker
from annotator.services.gold import set_retired
from annotator.services.qualification import reset_qualification
from annotator.services.workers import revoke_api_tokens, set_api_access


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
    """Workers. Setting one's qualification back to "pending" (or the reset action) starts a fresh test;
    API access (tokens for an approved integration) is off until granted here."""

    list_display = (
        "user", "qualification", "is_blocked", "gold_accuracy", "consensus_agreement", "tasks_submitted", "api_access",
    )
    list_filter = ("qualification", "is_blocked", "kind", "api_access")
    readonly_fields = ("kind", "original_number", "qualification_attempt", "qualification_retry_at")
    search_fields = ("user__username",)
    actions = ("reset_qualification_selected", "grant_api_access", "withdraw_api_access")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "qualification" in form.changed_data and obj.qualification == Worker.Qualification.PENDING:
            reset_qualification(obj)  # counted afresh: the earlier attempt's answers would fail them again at once

    @admin.action(description="Reset the qualification test (they take it afresh now)", permissions=["change"])
    def reset_qualification_selected(self, request, queryset):
        for worker in queryset:
            reset_qualification(worker)
        self.message_user(request, f"{queryset.count()} worker(s) will take the qualification test afresh.")

    @admin.action(description="Grant API access (tokens for an approved integration)", permissions=["change"])
    def grant_api_access(self, request, queryset):
        changed = set_api_access(queryset.values_list("pk", flat=True), True)
        self.message_user(request, f"API access granted to {changed} worker(s): they can make tokens.")

    @admin.action(description="Withdraw API access (their tokens are refused at once)", permissions=["change"])
    def withdraw_api_access(self, request, queryset):
        changed = set_api_access(queryset.values_list("pk", flat=True), False)
        self.message_user(request, f"API access withdrawn from {changed} worker(s).")


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
    """Gold items with their exposure (times shown, pass rate, last shown), over the pools' figures.

    An over-exposed item (shown so often that workers may share it) is
    retired: drawn no more, its answers kept.
    """

    list_display = (
        "id", "kind", "person", "image", "for_qualification", "for_control", "retired",
        "times_shown", "pass_rate", "last_shown",
    )
    list_filter = ("kind", "for_qualification", "for_control", "retired", "show_explanation")
    raw_id_fields = ("person", "image")
    actions = ("retire_selected", "unretire_selected")
    change_list_template = "admin/annotator/golditem/change_list.html"

    def get_queryset(self, request):
        answered = Q(assignments__gold_passed__isnull=False)
        return super().get_queryset(request).annotate(
            shown=Count("assignments"),
            answered=Count("assignments", filter=answered),
            passed=Count("assignments", filter=Q(assignments__gold_passed=True)),
            last_shown_at=Max("assignments__assigned_at"),
        )

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "pool": selectors.control_pool()})

    @admin.display(description="times shown", ordering="shown")
    def times_shown(self, obj):
        return obj.shown

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
