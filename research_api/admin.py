"""Granting researcher tokens to staff, seeing and revoking them. A key is shown once, on the page after granting."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse

from research_api.models import ResearchToken, Scope
from research_api.services import TokenGrantRefused, check_grant, grant_research_token, revoke_research_tokens


class GrantTokenForm(forms.ModelForm):
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username"),
        help_text="Researcher tokens are for staff accounts only.",
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ],
        help_text="Read opens every list and record; grant the others only to programs that need them.",
    )

    class Meta:
        model = ResearchToken
        fields = ("user", "name", "scopes")

    def clean(self):
        data = super().clean()
        if data.get("user") and data.get("name") and "scopes" in data:
            try:
                check_grant(data["user"], data["name"], data["scopes"])
            except TokenGrantRefused as error:
                self.add_error(error.field if error.field in self.fields else None, error.reason)
        return data


@admin.register(ResearchToken)
class ResearchTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "scope_list", "key_prefix", "created_at", "last_used_at", "expires", "state")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "key_prefix")
    readonly_fields = ("user", "name", "scope_list", "key_prefix", "created_by", "created_at", "last_used_at", "expires", "state")
    actions = ("revoke_selected",)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = GrantTokenForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ("user", "name", "scopes") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        token, key = grant_research_token(form.cleaned_data["user"], form.cleaned_data["name"],
                                          form.cleaned_data["scopes"], granted_by=request.user)
        obj.pk = token.pk
        obj.refresh_from_db()
        request._research_token_key = key

    def response_add(self, request, obj, post_url_continue=None):
        """The key, shown once, on this page alone (never in a message cookie or a log)."""
        return TemplateResponse(request, "admin/research_api/token_granted.html", {
            **self.admin_site.each_context(request), "token": obj, "key": request._research_token_key,
            "opts": self.model._meta, "title": "Researcher token granted",
        })

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="expires")
    def expires(self, obj):
        return obj.expires_at

    @admin.display(description="state")
    def state(self, obj):
        return "expired" if obj.expired else "live"

    @admin.action(description="Revoke selected tokens (programs using them get 401 at once)", permissions=["delete"])
    def revoke_selected(self, request, queryset):
        revoked = revoke_research_tokens(queryset.values_list("pk", flat=True))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
