"""The campaigns in the admin: marketplaces, campaigns (with their live progress and actions), participants,
sessions, the ledger and the webhook events. Participants, sessions, ledger rows and events are made by the
services only: shown here, never added, edited or deleted."""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import path
from django.utils.html import format_html

from campaigns import admin_views, selectors
from campaigns.errors import CampaignError
from campaigns.models import Campaign, LedgerEntry, Marketplace, Participant, ParticipantSession, WebhookEvent
from campaigns.prolific import MarketplaceError
from campaigns.rules import SPLIT_CHOICES, TASK_KINDS, min_hourly_cents, money
from campaigns.services import ledger, studies


def _url(model_admin, name: str, view, pattern: str):
    return path(pattern, model_admin.admin_site.admin_view(partial(view, model_admin=model_admin)), name=name)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the services write: shown, never added, edited or deleted here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Marketplace)
class MarketplaceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "currency", "minimum_shown", "allowed_group_id", "blocked_group_id")
    list_filter = ("kind",)
    actions = ("make_participant_groups",)

    @admin.display(description="minimum hourly pay")
    def minimum_shown(self, obj):
        minimum = min_hourly_cents(obj)
        return "none" if minimum is None else money(minimum, obj.currency)

    @admin.action(description="Create the Prolific participant groups (passed qualification, blocked)", permissions=["change"])
    def make_participant_groups(self, request, queryset):
        for marketplace in queryset:
            try:
                self.message_user(request, f"{marketplace}: {studies.create_participant_groups(marketplace).message}")
            except (CampaignError, MarketplaceError) as error:
                self.message_user(request, f"{marketplace}: {error}", messages.ERROR)


class CampaignForm(forms.ModelForm):
    """Kinds and splits as boxes to tick (stored as lists); every other rule is the model's (``campaigns.rules``)."""

    task_kinds = forms.MultipleChoiceField(
        choices=[(kind, kind) for kind in TASK_KINDS], widget=forms.CheckboxSelectMultiple, required=False,
        help_text="None ticked: both.",
    )
    splits = forms.MultipleChoiceField(
        choices=[(split, split or "not split yet") for split in SPLIT_CHOICES], widget=forms.CheckboxSelectMultiple,
        required=False, help_text="None ticked: every split. Images not split yet get theirs when first handed out.",
    )

    class Meta:
        model = Campaign
        fields = "__all__"


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "slug", "marketplace", "state", "admitting_shown", "completed", "external_study_id")
    list_filter = ("state", "marketplace")
    search_fields = ("name", "slug", "external_study_id")
    prepopulated_fields = {"slug": ("name",)}
    change_form_template = "admin/campaigns/campaign_change_form.html"
    readonly_fields = (
        "state", "external_status", "admissions_halted_at", "admissions_halted_reason", "marketplace_failures",
        "last_api_error", "last_api_error_at", "last_synced_at", "opened_at", "closed_at", "created_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "slug", "marketplace", "state")}),
        ("The work it serves", {"fields": ("task_kinds", "splits", "target_participants", "target_answers")}),
        ("Sessions", {"fields": ("session_tasks", "session_minutes", "expected_minutes", "max_extra_tasks", "allow_returning")}),
        ("Pay", {"fields": ("reward_cents", "screen_out_reward_cents", "auto_approve", "bonus_per_control_cents",
                            "bonus_per_extra_task_cents")}),
        ("What participants see", {"fields": ("consent_text", "completion_code", "screen_out_code", "no_consent_code",
                                              "frame_ancestors")}),
        ("At the marketplace", {"fields": ("external_study_id", "external_project_id", "external_status", "last_synced_at",
                                           "admissions_halted_at", "admissions_halted_reason", "marketplace_failures",
                                           "last_api_error", "last_api_error_at", "opened_at", "closed_at", "created_at")}),
    )

    def get_urls(self):
        return [
            _url(self, "campaigns_campaign_action", admin_views.campaign_action, "<path:object_id>/act/"),
            _url(self, "campaigns_campaign_reject", admin_views.campaign_reject, "<path:object_id>/reject/"),
            _url(self, "campaigns_campaign_bonuses", admin_views.campaign_bonuses, "<path:object_id>/bonuses/"),
            _url(self, "campaigns_campaign_ledger_csv", admin_views.campaign_ledger_csv, "<path:object_id>/ledger.csv"),
            _url(self, "campaigns_campaign_reconciliation", admin_views.campaign_reconciliation,
                 "<path:object_id>/reconciliation/"),
            _url(self, "campaigns_campaign_plot", admin_views.campaign_plot, "<path:object_id>/plot/<slug:name>.png"),
            _url(self, "campaigns_campaign_progress", admin_views.campaign_progress_json, "<path:object_id>/progress.json"),
            _url(self, "campaigns_campaign_release", admin_views.campaign_release_json, "<path:object_id>/release.json"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = Campaign.objects.filter(pk=object_id).select_related("marketplace").first() if str(object_id).isdigit() else None
        if campaign is not None:
            extra_context = {**(extra_context or {}), **admin_views.campaign_context(request, campaign)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="admitting", boolean=True)
    def admitting_shown(self, obj):
        return obj.admitting

    @admin.display(description="completed sessions")
    def completed(self, obj):
        return obj.sessions.filter(state=ParticipantSession.State.COMPLETED).count()


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ("external_id", "marketplace", "worker", "in_allowed_group", "in_blocked_group", "created_at")
    list_filter = ("marketplace", "in_allowed_group", "in_blocked_group")
    search_fields = ("external_id",)

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "figures"]

    @admin.display(description="time and money")
    def figures(self, obj):
        f = selectors.participant_figures(obj)
        currency = obj.marketplace.currency
        hourly = "n/a" if f.hourly_cents is None else f"{money(f.hourly_cents, currency)} an hour"
        return format_html(
            "{} session(s), {} completed; {} task(s); paid {} (of which bonuses {}) over {} h: {}",
            f.sessions, f.completed, f.answers, money(f.pay_cents, currency), money(f.bonus_cents, currency),
            f"{f.hours:.2f}", hourly,
        )


@admin.register(ParticipantSession)
class ParticipantSessionAdmin(ReadOnlyAdmin):
    list_display = ("id", "campaign", "participant", "state", "submission_status", "tasks_done", "started_at", "ended_at",
                    "idle_minutes")
    list_filter = ("state", "campaign", "submission_status")
    search_fields = ("participant__external_id", "external_session_id")
    actions = ("send_rewards",)

    @admin.display(description="idle (min)")
    def idle_minutes(self, obj):
        return f"{obj.idle_seconds / 60:.1f}"

    @admin.action(description="Approve the selected completed sessions (send their rewards)", permissions=["change"])
    def send_rewards(self, request, queryset):
        rows = [ledger.plan_reward(s) for s in queryset.filter(state=ParticipantSession.State.COMPLETED)]
        try:
            counts = ledger.send_many(rows)
        except (CampaignError, MarketplaceError) as error:
            self.message_user(request, f"{error}: nothing was sent; the rewards stay owed in the ledger.", messages.ERROR)
            return
        self.message_user(request, f"Rewards: {admin_views._states(counts)}.")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "campaign", "participant", "kind", "amount_shown", "state", "idempotency_key", "last_error")
    list_filter = ("state", "kind", "campaign")
    search_fields = ("participant__external_id", "idempotency_key", "external_ref")
    actions = ("send_selected", "mark_paid_outside", "export_csv")

    @admin.display(description="amount", ordering="amount_cents")
    def amount_shown(self, obj):
        return money(obj.amount_cents, obj.currency)

    @admin.action(description="Send the selected rows (reconciling any of unknown outcome first)", permissions=["change"])
    def send_selected(self, request, queryset):
        try:
            counts = ledger.send_many(queryset.select_related("campaign__marketplace", "session"))
        except (CampaignError, MarketplaceError) as error:
            self.message_user(request, f"{error}: nothing was sent.", messages.ERROR)
            return
        self.message_user(request, f"Ledger rows: {admin_views._states(counts)}.")

    @admin.action(description="Mark as paid outside the platform (panels without an API)", permissions=["change"])
    def mark_paid_outside(self, request, queryset):
        self.message_user(request, f"{ledger.mark_paid_outside(queryset.select_related('campaign__marketplace'), request.user)} "
                          "row(s) marked as paid.")

    @admin.action(description="Export the selected rows as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        response = HttpResponse(ledger.ledger_csv(queryset), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="ledger.csv"'
        return response


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_type", "resource_id", "status", "sent_at", "outcome", "event_id")
    list_filter = ("event_type", "outcome")
    search_fields = ("event_id", "resource_id")
