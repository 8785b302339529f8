"""The access log in the admin: every log-in and sign-up attempt, read-only."""

from django.contrib import admin

from access.models import AccessAttempt


@admin.register(AccessAttempt)
class AccessAttemptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "username", "address", "outcome", "wait_seconds", "user")
    list_filter = ("kind", "outcome")
    search_fields = ("username", "address")
    date_hierarchy = "created_at"
    list_select_related = ("user",)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # kept ACCESS_LOG_DAYS, then forgotten by the beat
